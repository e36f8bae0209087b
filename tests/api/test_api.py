"""The whole message path over HTTP: the example bot, a real action server, a real receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from botsvc.access import user_hash
from botsvc.config import Settings
from botsvc.embedding import Embedder
from botsvc.helpdesk.delivery import verify
from tests.conftest import app_client, say, token_headers
from tests.receiver import Receiver

pytestmark = pytest.mark.anyio
SECRET = "webhook-secret"
HELPDESK = {"Authorization": "Bearer helpdesk-token"}
ADMIN = {"Authorization": "Bearer admin-token"}
SERVER = {"Authorization": "Bearer server-key"}  # a back end's key: any conversation
IDENTITY_SECRET = "site-identity-secret"


def settings_for(
    project: Path, db_url: str, receiver: Receiver, actions: str, **kw: object
) -> Settings:
    return Settings(
        project_dir=project,
        database_url=db_url,
        handoff_webhook_url=receiver.url,
        handoff_secret=SECRET,
        helpdesk_token="helpdesk-token",
        admin_token="admin-token",  # type: ignore[arg-type]
        action_endpoint=actions,
        public_url="http://botsvc.test",
        delivery_poll_s=0.2,
        identity_secret=IDENTITY_SECRET,
        server_keys=["server-key"],
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def client(
    example_project: Path,
    embedder: Embedder,
    receiver: Receiver,
    action_server: str,
    tmp_path: Path,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(
        example_project, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", receiver, action_server
    )
    async with app_client(settings, embedder) as c:
        yield c


async def wait_events(receiver: Receiver, count: int, event: str) -> list:  # type: ignore[type-arg]
    return await asyncio.to_thread(receiver.wait_for, count, event=event)


async def test_refund_request_starts_the_refund_flow_and_validates_the_order_number(
    client: httpx.AsyncClient,
) -> None:
    first = await say(
        client, "c-refund", "I want a refund for my order", customer={"id": "u1", "name": "Sanne"}
    )
    assert first["handled_by"] == "flow"
    assert first["flow"]["id"] == "request_refund"
    assert first["intent"]["name"] == "request_refund"
    assert "order number" in first["messages"][0]["text"].lower()

    bad = await say(client, "c-refund", "it's 12345")
    assert bad["handled_by"] == "flow" and "NW-123456" in bad["messages"][0]["text"]

    done = await say(client, "c-refund", "NW-100234")  # delivered 13 days ago: eligible
    text = " ".join(m["text"] for m in done["messages"])
    assert "refund for NW-100234" in text and "Sanne" in text
    assert done["handoff"] is None


async def test_the_conversation_shows_what_the_bot_did_on_each_turn(
    client: httpx.AsyncClient,
) -> None:
    await say(client, "c-turns", "where is my order?")
    await say(client, "c-turns", "NW-482913")
    body = (
        await client.get("/v1/conversations/c-turns", headers=token_headers(client, "c-turns"))
    ).json()
    first, second = body["turns"]
    assert first["responses"] == ["utter_ask_order_id"]
    assert ("flow_started", "check_order_status") in [
        (e["event"], e.get("flow")) for e in first["events"]
    ]
    assert second["actions"][0] == "action_check_order_status"
    assert "utter_order_shipped" in second["responses"]
    assert "flow_completed" in [e["event"] for e in second["events"]]
    bot = [m for m in body["messages"] if m["role"] == "bot"]
    assert bot[0]["response"] == "utter_ask_order_id"
    assert body["flow"] is None and body["slots"]["order_status"] == "shipped"


async def test_was_this_helpful_is_recorded_on_the_turn_and_can_be_changed(
    client: httpx.AsyncClient,
) -> None:
    turn = await say(client, "c-fb", "are returns free?")
    url = f"/v1/conversations/c-fb/turns/{turn['turn_id']}/feedback"
    mine = token_headers(client, "c-fb")
    r = await client.post(
        url, json={"helpful": False, "comment": "I asked about shipping"}, headers=mine
    )
    assert r.status_code == 200 and r.json()["helpful"] is False
    r = await client.post(url, json={"helpful": True}, headers=mine)
    assert r.json() == {
        "conversation_id": "c-fb", "turn_id": turn["turn_id"], "helpful": True, "comment": None
    }  # fmt: skip
    await say(client, "c-other", "hello")
    other = await client.post(
        f"/v1/conversations/c-other/turns/{turn['turn_id']}/feedback",
        json={"helpful": True},
        headers=token_headers(client, "c-other"),
    )
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    bad = await client.post(url, json={"helpful": "maybe"}, headers=mine)
    assert bad.status_code == 422


async def test_knowledge_question_is_answered_with_sources(client: httpx.AsyncClient) -> None:
    r = await say(client, "c-kb", "how do I reset my password?")
    assert r["handled_by"] == "kb"
    assert r["sources"] and "password" in r["sources"][0]["title"].lower()
    assert r["sources"][0]["url"].startswith("https://help.northwind.example/")
    assert "forgotten" in r["sources"][0]["section"].lower()  # the reset section, not the change
    assert "password" in r["messages"][0]["text"].lower()
    assert r["messages"][0]["text"].endswith(f"Read more: {r['sources'][0]['url']}")


async def test_asking_for_a_person_hands_off_at_once_with_full_context(
    client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    await say(
        client,
        "sms-u2",
        "is my parcel NW-482913 shipped?",
        channel="sms",
        customer={"id": "u2", "name": "Jonas", "user_hash": user_hash("u2", IDENTITY_SECRET)},
    )
    await say(
        client,
        "c-human",
        "hi there",
        customer={
            "id": "u2",
            "name": "Jonas",
            "metadata": {"plan": "enterprise"},
            "user_hash": user_hash("u2", IDENTITY_SECRET),
        },
    )
    r = await say(client, "c-human", "I want to talk to a person")
    assert r["handled_by"] == "human"
    assert r["handoff"]["reason"] == "customer_request"
    assert r["handoff"]["priority"] == "high"  # the enterprise metadata rule
    [got] = await wait_events(receiver, 1, "handoff.created")
    h = got.headers
    assert verify(
        SECRET,
        h["x-botsvc-timestamp"],
        got.body,
        h["x-botsvc-signature"],
        delivery_id=h["x-botsvc-delivery"],
    )
    body = got.json
    assert body["handoff"]["id"] == r["handoff"]["id"] and body["conversation_id"] == "c-human"
    assert body["customer"]["name"] == "Jonas"
    assert [e["text"] for e in body["transcript"] if e["role"] == "customer"] == [
        "hi there",
        "I want to talk to a person",
    ]
    assert body["transcript"][0]["trace"]["intent"]["name"] == "greet"
    assert body["reply_url"] == f"http://botsvc.test/v1/handoffs/{r['handoff']['id']}/messages"
    assert "talk to a person" in body["summary"]["customer_wants"]
    [other] = body["other_conversations"]  # the same customer's SMS conversation
    assert (other["id"], other["channel"]) == ("sms-u2", "sms")


async def test_two_messages_nothing_understands_hand_off(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    one = await say(client, "c-lost", "flibber jabberwock quantum toaster")
    assert one["handled_by"] == "fallback" and one["handoff"] is None
    two = await say(client, "c-lost", "zorp blargh wibble")
    assert two["handled_by"] == "human"
    assert two["handoff"]["reason"] == "low_confidence"
    await wait_events(receiver, 1, "handoff.created")


async def test_with_a_human_the_bot_only_acknowledges_agents_reply_and_resolve_hands_back(
    client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    r = await say(client, "c-agent", "get me a human please")
    handoff_id = r["handoff"]["id"]
    await wait_events(receiver, 1, "handoff.created")

    ack = await say(client, "c-agent", "my order NW-482913 is late")
    assert ack["handled_by"] == "human"
    assert [m["text"] for m in ack["messages"]] == [  # it reached the team; no bot answer
        "Thanks, I've passed that on. Someone from our team will reply here as soon as they can."
    ]
    [fwd] = await wait_events(receiver, 1, "message.created")
    assert fwd.json["message"]["text"] == "my order NW-482913 is late"
    assert fwd.json["handoff_id"] == handoff_id

    mine = token_headers(client, "c-agent")
    conv = (await client.get("/v1/conversations/c-agent", headers=mine)).json()
    seen = conv["messages"][-1]["seq"]
    waiting = asyncio.create_task(
        client.get(f"/v1/conversations/c-agent/events?after={seen}&timeout=10", headers=mine)
    )
    reply = await client.post(
        f"/v1/handoffs/{handoff_id}/messages",
        headers=HELPDESK,
        json={"text": "Hi, I'm Mia. It ships tomorrow.", "agent": {"id": "a1", "name": "Mia"}},
    )
    assert reply.status_code == 200, reply.text
    events = (await waiting).json()
    assert [(m["role"], m["text"]) for m in events["messages"]] == [
        ("system", "Mia has joined the conversation."),
        ("agent", "Hi, I'm Mia. It ships tomorrow."),
    ]
    assert events["messages"][0]["event"] == "agent_joined"

    done = await client.post(
        f"/v1/handoffs/{handoff_id}/resolve", headers=HELPDESK, json={"note": "shipping info given"}
    )
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    await wait_events(receiver, 1, "conversation.resolved")
    back = await say(client, "c-agent", "how long does shipping take?")
    assert back["handled_by"] == "kb"

    conv = (await client.get("/v1/conversations/c-agent", headers=mine)).json()
    roles = [m["role"] for m in conv["messages"]]
    assert roles.count("agent") == 1 and conv["status"] == "bot"
    back_with_bot = [m for m in conv["messages"] if m.get("event") == "resolved"]
    assert [m["text"] for m in back_with_bot] == ["The conversation is back with the assistant."]
    assert "shipping info given" not in str(conv["messages"])  # the note is the helpdesk's
    again = await client.post(
        f"/v1/handoffs/{handoff_id}/messages",
        headers=HELPDESK,
        json={"text": "late", "agent": {"id": "a1"}},
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


async def test_a_misspelt_field_is_refused_not_ignored(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/conversations/c1/messages", json={"text": "hi", "chanel": "sms"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert "chanel" in r.json()["error"]["message"]
    r = await client.get("/v1/handoffs?status=closed", headers=HELPDESK)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = await client.get(
        "/admin/outbox?status=lost", headers={"authorization": "Bearer admin-token"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = await client.get("/v1/conversations/c1", headers=SERVER)
    assert r.status_code == 404  # the refused message stored nothing


async def test_bad_requests_get_clear_4xx_errors(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/conversations/c1/messages",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    r = await client.post("/v1/conversations/c1/messages", json={"channel": "web"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert "text" in r.json()["error"]["message"]
    r = await client.post("/v1/conversations/c1/messages", json={"text": ""})
    assert r.status_code == 422
    r = await client.get("/v1/conversations/never-seen", headers=SERVER)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.get("/v1/conversations/never-seen/events?timeout=0", headers=SERVER)
    assert r.status_code == 404
    r = await client.post("/v1/handoffs/ho_x/messages", json={"text": "x", "agent": {"id": "a"}})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = await client.post(
        "/v1/handoffs/ho_x/messages", headers=HELPDESK, json={"text": "x", "agent": {"id": "a"}}
    )
    assert r.status_code == 404
    r = await client.post("/admin/reload", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["error"]["message"] == "wrong admin token"
    r = await client.get("/v1/handoffs", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["error"]["message"] == "wrong helpdesk token"
    r = await client.get("/no/such/route")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_parse_search_rest_channel_and_health(client: httpx.AsyncClient) -> None:
    parsed = (
        await client.post("/v1/nlu/parse", json={"text": "where is my order NW-482913"})
    ).json()
    assert parsed["intent"]["name"] == "check_order_status"
    assert parsed["intent_ranking"][0]["name"] == "check_order_status"
    [order] = [e for e in parsed["entities"] if e["entity"] == "order_id"]
    assert (order["value"], order["start"], order["end"]) == ("NW-482913", 18, 27)
    oos = (await client.post("/v1/nlu/parse", json={"text": "what's the capital of Peru"})).json()
    assert oos["intent"]["name"] == "nlu_fallback" and oos["intent_ranking"]

    hits = (
        await client.post("/v1/kb/search", json={"query": "do you ship to canada", "top_k": 3})
    ).json()
    assert len(hits["results"]) == 3 and "ship" in hits["results"][0]["title"].lower()

    rest = await client.post("/webhooks/rest/webhook", json={"sender": "w-1", "message": "hello"})
    assert rest.status_code == 200
    assert rest.json() and all(m["recipient_id"] == "w-1" and m["text"] for m in rest.json())

    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200
    metrics = (await client.get("/metrics")).text
    assert 'botsvc_turns_total{handled_by="flow"}' in metrics
    schema = (await client.get("/v1/schemas/handoff.json")).json()
    assert "HandoffCreated" in schema["$defs"]


async def test_a_customer_in_another_language_is_handed_over_with_it(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    r = await say(client, "c-lang", "¿Dónde está mi pedido? Lo pedí hace una semana.")
    assert r["handled_by"] == "human" and r["handoff"]["reason"] == "language"
    assert "solo puedo ayudar en inglés" in r["messages"][0]["text"]
    [got] = await wait_events(receiver, 1, "handoff.created")
    assert got.json["handoff"]["language"] == "es"
    assert got.json["handoff"]["reason"] == "language"
