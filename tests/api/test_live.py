"""Live messages over real sockets: Server-Sent Events and long-polls pushed from the store's
writes, with no store reads while clients wait, and across two replicas on one PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from sqlalchemy import event
from sqlalchemy.engine import Engine

from botsvc.config import Settings
from botsvc.embedding import Embedder
from tests.api.test_api import HELPDESK, settings_for
from tests.conftest import postgres_database
from tests.receiver import Receiver
from tests.served import serve

pytestmark = pytest.mark.anyio
WAIT_S = 60.0


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    """Every SQL statement any engine in this process runs while the block is open."""
    seen: list[str] = []
    lock = threading.Lock()

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        with lock:
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", count)


@asynccontextmanager
async def sse(client: httpx.AsyncClient, url: str, **headers: str) -> AsyncIterator[Any]:
    """Opens an event stream; yields a function returning its next `message` event's data."""
    async with client.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = r.aiter_lines()

        async def next_message() -> dict[str, Any]:
            fields: dict[str, str] = {}
            async with asyncio.timeout(WAIT_S):
                async for line in lines:
                    if line == "" and fields.get("event") == "message":
                        return {"id": int(fields["id"]), **json.loads(fields["data"])}
                    if line == "":
                        fields = {}
                    elif not line.startswith(":"):
                        key, _, value = line.partition(": ")
                        fields[key] = value
            raise AssertionError("the stream ended")

        yield next_message


@pytest.fixture
def settings(
    example_project: Path, receiver: Receiver, action_server: str, tmp_path: Path
) -> Settings:
    # no outbox dispatcher: its own polling would hide what the waiting clients cost
    return settings_for(
        example_project,
        f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        receiver,
        action_server,
        run_dispatcher=False,
    )


async def start_handoff(client: httpx.AsyncClient, conv: str) -> tuple[str, str]:
    """A new conversation asking for a person: (its token, the handoff id)."""
    r = await client.post(
        f"/v1/conversations/{conv}/messages", json={"text": "I want to speak to a human"}
    )
    assert r.status_code == 200, r.text
    return r.json()["conversation_token"], r.json()["handoff"]["id"]


async def test_an_agents_reply_reaches_waiting_clients_at_once_and_idle_ones_cost_no_reads(
    settings: Settings, embedder: Embedder
) -> None:
    with serve(settings, embedder) as url:
        async with httpx.AsyncClient(base_url=url, timeout=WAIT_S) as client:
            token, handoff_id = await start_handoff(client, "c-live")
            mine = {"x-conversation-token": token}
            conv = (await client.get("/v1/conversations/c-live", headers=mine)).json()
            seen = conv["messages"][-1]["seq"]
            polls = [
                asyncio.create_task(
                    client.get(f"/v1/conversations/c-live/events?after={seen}&timeout=30")
                )
                for _ in range(5)
            ]
            polls += [
                asyncio.create_task(
                    client.get(
                        f"/v1/conversations/c-live/events?after={seen}&timeout=30", headers=mine
                    )
                )
                for _ in range(10)
            ]
            async with sse(client, f"/v1/conversations/c-live/stream?token={token}") as stream:
                first = await stream()  # the history arrives first, in order
                assert (first["role"], first["text"]) == ("customer", "I want to speak to a human")
                while (await stream())["role"] != "bot":
                    pass
                await asyncio.sleep(1.0)  # every long-poll has made its one read by now
                with counted_statements() as idle:
                    await asyncio.sleep(2.0)
                assert idle == []  # 10 long-polls and a stream waited without a store read

                r = await client.post(
                    f"/v1/handoffs/{handoff_id}/messages",
                    headers=HELPDESK,
                    json={"text": "Hi, Kim here.", "agent": {"id": "a1", "name": "Kim"}},
                )
                assert r.status_code == 200
                joined, reply = await stream(), await stream()
                assert joined["event"] == "agent_joined" and joined["text"].startswith("Kim")
                assert (reply["role"], reply["text"], reply["agent"]["name"]) == (
                    "agent",
                    "Hi, Kim here.",
                    "Kim",
                )
                assert reply["id"] == joined["id"] + 1

            denied = [await p for p in polls[:5]]  # no token: refused before waiting
            assert {r.status_code for r in denied} == {401}
            answered = [(await p).json() for p in polls[5:]]
            for body in answered:
                assert [m["text"] for m in body["messages"]] == [
                    "Kim has joined the conversation.",
                    "Hi, Kim here.",
                ]

            # a reconnecting EventSource sends Last-Event-ID: only what came after it
            async with sse(
                client,
                f"/v1/conversations/c-live/stream?token={token}",
                **{"last-event-id": str(joined["id"])},
            ) as again:
                assert (await again())["text"] == "Hi, Kim here."


@pytest.mark.postgres
async def test_an_agents_reply_on_one_replica_is_pushed_to_a_customer_on_another(
    example_project: Path, receiver: Receiver, action_server: str, embedder: Embedder
) -> None:
    with postgres_database("replicas") as db_url:
        settings = settings_for(example_project, db_url, receiver, action_server)
        with serve(settings, embedder) as url_a, serve(settings, embedder) as url_b:
            a = httpx.AsyncClient(base_url=url_a, timeout=WAIT_S)
            b = httpx.AsyncClient(base_url=url_b, timeout=WAIT_S)
            pushed: list[dict[str, Any]] = []
            arrived = asyncio.Event()
            sock = socketio.AsyncClient()

            @sock.on("bot_uttered")  # type: ignore[misc]
            async def on_bot(data: dict[str, Any]) -> None:
                pushed.append(data)
                arrived.set()

            async def wait_pushed(n: int) -> None:
                async with asyncio.timeout(WAIT_S):
                    while len(pushed) < n:
                        arrived.clear()
                        await arrived.wait()

            try:
                # a widget on replica B, over socket.io; another over SSE, also on B
                await sock.connect(url_b, transports=["websocket"], wait_timeout=30)
                await sock.emit("session_request", {"session_id": "replica-session"})
                await sock.emit(
                    "user_uttered",
                    {"message": "I want to speak to a human", "session_id": "replica-session"},
                )
                await wait_pushed(1)
                token, sse_handoff = await start_handoff(b, "c-replica")
                [sock_handoff] = [
                    h["id"]
                    for h in (await a.get("/v1/handoffs?status=open", headers=HELPDESK)).json()
                    if h["id"] != sse_handoff
                ]
                async with sse(b, f"/v1/conversations/c-replica/stream?token={token}") as stream:
                    while (await stream())["role"] != "bot":
                        pass
                    seen = len(pushed)
                    for handoff_id in (sock_handoff, sse_handoff):  # the agent works on A
                        r = await a.post(
                            f"/v1/handoffs/{handoff_id}/messages",
                            headers=HELPDESK,
                            json={"text": "Kim on replica A", "agent": {"id": "k", "name": "Kim"}},
                        )
                        assert r.status_code == 200, r.text
                    await wait_pushed(seen + 2)
                    assert [m["text"] for m in pushed[seen:]] == [
                        "Kim has joined the conversation.",
                        "Kim on replica A",
                    ]
                    assert (await stream())["event"] == "agent_joined"
                    assert (await stream())["text"] == "Kim on replica A"
            finally:
                await sock.disconnect()
                await a.aclose()
                await b.aclose()
