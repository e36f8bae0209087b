"""Long conversations: the transcript comes in pages with a cursor, none dropped, and a handoff
carries the newest messages and says how many earlier ones it left out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from botsvc.helpdesk import handoffs
from tests.api.test_api import SERVER
from tests.receiver import Receiver

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(example_app: Any, sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with example_app(sqlite_url) as c:
        yield c


async def _say(client: httpx.AsyncClient, conv: str, text: str) -> dict:  # type: ignore[type-arg]
    r = await client.post(f"/v1/conversations/{conv}/messages", json={"text": text}, headers=SERVER)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_the_transcript_pages_with_a_cursor_and_drops_nothing(
    client: httpx.AsyncClient,
) -> None:
    for text in ("hi", "do you ship to canada?", "thanks", "are returns free?"):
        await _say(client, "pg-1", text)
    whole = (await client.get("/v1/conversations/pg-1", headers=SERVER)).json()
    assert whole["next_after"] is None and len(whole["messages"]) >= 8
    seen, after = [], 0
    while True:
        page = (
            await client.get(
                "/v1/conversations/pg-1", params={"after": after, "limit": 3}, headers=SERVER
            )
        ).json()
        seen += page["messages"]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert [m["seq"] for m in seen] == [m["seq"] for m in whole["messages"]]


async def test_a_handoff_carries_the_newest_messages_and_counts_the_rest(
    client: httpx.AsyncClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handoffs, "TRANSCRIPT_MESSAGES", 4)
    for text in ("hi", "do you ship to canada?", "thanks"):
        await _say(client, "pg-2", text)
    await _say(client, "pg-2", "I want to talk to a human")
    [got] = await asyncio.to_thread(receiver.wait_for, 1, event="handoff.created")
    body = got.json
    texts = [e["text"] for e in body["transcript"]]
    assert "I want to talk to a human" in texts and "hi" not in texts  # the newest, not the first
    assert body["transcript_omitted"] >= 1  # the first turn's messages, at least
