"""While with a human: the queue notice, business hours, the published schema, and the reference
receiver in examples/ (signature check and deduplication)."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from botsvc.embedding import Embedder
from botsvc.helpdesk.delivery import encode_body, sign
from tests.api.test_api import settings_for, wait_events
from tests.conftest import REPO, app_client, say
from tests.receiver import Receiver

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serve(
    project: Path,
    embedder: Embedder,
    receiver: Receiver,
    actions: str,
    tmp_path: Path,
    **kw: object,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(
        project, f"sqlite+aiosqlite:///{tmp_path / 'h.db'}", receiver, actions, **kw
    )
    async with app_client(settings, embedder) as c:
        yield c


async def test_a_waiting_customer_is_acknowledged_then_told_they_are_still_queued(
    example_project: Path,
    embedder: Embedder,
    receiver: Receiver,
    action_server: str,
    tmp_path: Path,
) -> None:
    async with serve(
        example_project, embedder, receiver, action_server, tmp_path, queue_notice_after_s=0.5
    ) as c:
        r = await say(c, "q1", "I want to talk to a person")
        assert r["handled_by"] == "human"
        first = await say(c, "q1", "it's about order NW-482913")
        assert first["handled_by"] == "human"
        assert "passed that on" in " ".join(m["text"] for m in first["messages"])
        quiet = await say(c, "q1", "it never arrived")
        assert quiet["messages"] == []  # no chatter on every line
        await asyncio.sleep(0.6)
        later = await say(c, "q1", "hello? anyone?")
        assert "still in the queue" in " ".join(m["text"] for m in later["messages"])
        await wait_events(receiver, 3, "message.created")


async def test_outside_business_hours_the_customer_is_told_when_someone_answers(
    example_project: Path,
    embedder: Embedder,
    receiver: Receiver,
    action_server: str,
    tmp_path: Path,
) -> None:
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%a")
    async with serve(
        example_project,
        embedder,
        receiver,
        action_server,
        tmp_path,
        business_hours=f"{tomorrow} 09:00-17:00 UTC",
    ) as c:
        r = await say(c, "bh1", "I want to talk to a person")
        text = " ".join(m["text"] for m in r["messages"])
        assert "offline" in text and "09:00" in text
        [got] = await wait_events(receiver, 1, "handoff.created")  # still sent at once
        assert got.json["business_hours"] == {"open_now": False}


async def test_published_schema_describes_the_payload_actually_sent(
    example_project: Path,
    embedder: Embedder,
    receiver: Receiver,
    action_server: str,
    tmp_path: Path,
) -> None:
    from pydantic import TypeAdapter

    from botsvc.helpdesk.payloads import HandoffCreated

    async with serve(example_project, embedder, receiver, action_server, tmp_path) as c:
        schema = (await c.get("/v1/schemas/handoff.json")).json()
        await say(c, "s1", "where is my order NW-482913")
        await say(c, "s1", "this is useless, get me an agent")
        [got] = await wait_events(receiver, 1, "handoff.created")
    body = got.json
    assert body["schema_version"] == schema["$id"].rsplit("/", 1)[-1]
    TypeAdapter(HandoffCreated).validate_python(body)  # the payload fits the published models
    assert set(schema["$defs"]["HandoffCreated"]["required"]) <= set(body)
    assert body["handoff"]["reason"] == "customer_request"
    assert "where is my order" in body["summary"]["customer_wants"]
    assert body["summary"]["intent"] == "check_order_status"
    assert body["summary"]["bot_tried"], "the agent sees what the bot already tried"


def _reference_receiver(tmp_path: Path, secret: str):  # type: ignore[no-untyped-def]
    import os

    os.environ["BOTSVC_HANDOFF_SECRET"] = secret
    os.environ["RECEIVER_DB"] = str(tmp_path / "receiver.db")
    spec = importlib.util.spec_from_file_location(
        "webhook_receiver", REPO / "examples" / "webhook_receiver.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_reference_receiver_verifies_signatures_and_deduplicates(tmp_path: Path) -> None:
    import time

    module = _reference_receiver(tmp_path, "shh")
    body = encode_body(
        {
            "event": "conversation.resolved",
            "handoff_id": "h1",
            "conversation_id": "c",
            "note": None,
            "resolved_at": "now",
            "schema_version": "1.0",
        }
    )
    ts = str(int(time.time()))
    headers = {
        "x-botsvc-timestamp": ts,
        "x-botsvc-signature": sign("shh", ts, body, delivery_id="d-1"),
        "x-botsvc-delivery": "d-1",
        "content-type": "application/json",
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=module.app), base_url="http://r"
    ) as c:
        first = await c.post("/botsvc", content=body, headers=headers)
        again = await c.post("/botsvc", content=body, headers=headers)
        forged = await c.post("/botsvc", content=body + b" ", headers=headers)
        # the same signed body passed off as a new delivery: its signature does not cover that id
        new_id = await c.post(
            "/botsvc", content=body, headers={**headers, "x-botsvc-delivery": "d-2"}
        )
        stale_ts = str(int(time.time()) - 3600)
        stale = await c.post(
            "/botsvc",
            content=body,
            headers={
                **headers,
                "x-botsvc-timestamp": stale_ts,
                "x-botsvc-signature": sign("shh", stale_ts, body, delivery_id="d-1"),
            },
        )
    assert first.json() == {"ok": True, "duplicate": False}
    assert again.json() == {"ok": True, "duplicate": True}
    assert forged.status_code == 401 and stale.status_code == 401 and new_id.status_code == 401


def test_reference_receiver_will_not_start_without_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOTSVC_HANDOFF_SECRET", "")
    monkeypatch.setenv("RECEIVER_DB", str(tmp_path / "r.db"))
    spec = importlib.util.spec_from_file_location(
        "webhook_receiver_unsigned", REPO / "examples" / "webhook_receiver.py"
    )
    assert spec and spec.loader
    with pytest.raises(SystemExit, match="BOTSVC_HANDOFF_SECRET"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


async def test_the_handoff_queue_filters_and_pages(
    example_project: Path,
    embedder: Embedder,
    receiver: Receiver,
    action_server: str,
    tmp_path: Path,
) -> None:
    async with serve(example_project, embedder, receiver, action_server, tmp_path) as c:
        for i, conv in enumerate(["hq0", "hq1", "hq2", "hq-web"]):
            r = await c.post(
                f"/v1/conversations/{conv}/messages",
                json={
                    "text": "I want to talk to a person",
                    "customer": {"id": f"cust-{i}"},
                    "channel": "app" if conv == "hq-web" else "web",
                },
                headers={"Authorization": "Bearer server-key"},  # a back end: ids trusted
            )
            assert r.status_code == 200
        helpdesk = {"Authorization": "Bearer helpdesk-token", "x-api-key": "server-key"}
        r = await c.get("/v1/handoffs", params={"limit": 2}, headers=helpdesk)
        page = r.json()
        assert r.status_code == 200 and len(page) == 2 and 'rel="next"' in r.headers["link"]
        assert page[0]["conversation_id"] == "hq-web"  # newest first
        assert {"customer_id", "channel", "created_at", "first_agent_reply_at"} <= set(page[0])
        following = r.headers["link"].split(">")[0].lstrip("<")
        rest = (await c.get(following, headers=helpdesk)).json()
        assert [h["conversation_id"] for h in page + rest] == ["hq-web", "hq2", "hq1", "hq0"]
        app_only = (await c.get("/v1/handoffs", params={"channel": "app"}, headers=helpdesk)).json()
        assert [h["conversation_id"] for h in app_only] == ["hq-web"]
        mine = await c.get("/v1/handoffs", params={"customer_id": "cust-1"}, headers=helpdesk)
        assert [h["conversation_id"] for h in mine.json()] == ["hq1"]


async def test_the_summary_says_what_the_customer_needs_now_and_why_a_person(
    example_project: Path,
    embedder: Embedder,
    receiver: Receiver,
    action_server: str,
    tmp_path: Path,
) -> None:
    async with serve(example_project, embedder, receiver, action_server, tmp_path) as c:
        await say(c, "sm1", "hi")
        await say(c, "sm1", "where is my order NW-482913")
        await say(c, "sm1", "actually I want a refund for it, it arrived broken")
        await say(c, "sm1", "just get me a person")
        [got] = await wait_events(receiver, 1, "handoff.created")
    summary = got.json["summary"]
    assert summary["customer_wants"] == "actually I want a refund for it, it arrived broken"
    assert "because the customer asked for a person" in summary["text"]
    assert "I want a refund" in summary["text"]
