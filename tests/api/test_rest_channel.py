"""Rasa's REST channel as Rasa's own chat widget uses it: a JSON body sent as text/plain, from
another origin (CORS), and replies split as Rasa splits them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from botsvc.embedding import Embedder
from tests.api.test_api import settings_for
from tests.conftest import app_client
from tests.receiver import Receiver

pytestmark = pytest.mark.anyio
SITE = "https://shop.example"


@pytest.fixture
async def client(
    example_project: Path,
    embedder: Embedder,
    receiver: Receiver,
    action_server: str,
    tmp_path: Path,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(
        example_project,
        f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        receiver,
        action_server,
        cors_origins=[SITE],
    )
    async with app_client(settings, embedder) as c:
        yield c


async def test_a_text_plain_body_is_read_as_json_as_rasa_does(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/webhooks/rest/webhook",
        content=b'{"sender": "widget-1", "message": "where is my order?"}',
        headers={"content-type": "text/plain;charset=UTF-8"},
    )
    assert r.status_code == 200, r.text
    assert r.json()[0]["recipient_id"] == "widget-1" and "order number" in r.json()[0]["text"]
    bare = await client.post(
        "/webhooks/rest/webhook", content=b'{"sender": "widget-2", "message": "hello"}'
    )
    assert bare.status_code == 200 and bare.json()


async def test_bad_rest_bodies_get_our_error_envelope(client: httpx.AsyncClient) -> None:
    r = await client.post("/webhooks/rest/webhook", content=b"{not json", headers={})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    r = await client.post("/webhooks/rest/webhook", content=b'{"sender": "w"}')
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("message")
    r = await client.post(
        "/webhooks/rest/webhook",
        json={"sender": "w", "message": "hi", "input_channel": "x" * 51},
    )
    assert r.status_code == 422


async def test_the_configured_origin_may_call_and_others_may_not(
    client: httpx.AsyncClient,
) -> None:
    preflight = {"access-control-request-method": "POST"}
    ok = await client.options("/webhooks/rest/webhook", headers={"origin": SITE, **preflight})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == SITE
    other = await client.options(
        "/webhooks/rest/webhook", headers={"origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in other.headers
    r = await client.post(
        "/webhooks/rest/webhook",
        json={"sender": "w-3", "message": "hi"},
        headers={"origin": SITE},
    )
    assert r.headers["access-control-allow-origin"] == SITE


async def test_a_knowledge_answer_and_its_link_arrive_as_two_messages(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post(
        "/webhooks/rest/webhook",
        content=b'{"sender": "w-4", "message": "how can I delete my account permanently?"}',
        headers={"content-type": "text/plain"},
    )
    texts = [m["text"] for m in r.json()]
    assert len(texts) == 2 and "Delete account" in texts[0]
    assert texts[1].startswith("Read more: https://help.northwind.example/")


async def test_stream_true_sends_one_json_message_per_line_as_rasa_does(
    client: httpx.AsyncClient,
) -> None:
    body = b'{"sender": "w-%d", "message": "how can I delete my account permanently?"}'
    plain = (await client.post("/webhooks/rest/webhook", content=body % 5)).json()
    r = await client.post("/webhooks/rest/webhook?stream=true", content=body % 6)
    assert r.status_code == 200
    lines = r.text.splitlines()
    streamed = [json.loads(line) for line in lines]
    assert len(streamed) == len(plain) == 2  # the same messages, a line each
    assert [m["text"] for m in streamed] == [m["text"] for m in plain]
    assert {m["recipient_id"] for m in streamed} == {"w-6"}
