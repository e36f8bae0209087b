"""Per-conversation access: the site key is public, so a conversation's token is what keeps one
customer out of another's conversation; customer ids from pages link nothing unless signed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from botsvc.access import user_hash
from botsvc.embedding import Embedder
from botsvc.store import open_store
from tests.api.test_api import HELPDESK, IDENTITY_SECRET, SERVER, settings_for, wait_events
from tests.conftest import app_client, say, token_headers
from tests.receiver import Receiver

pytestmark = pytest.mark.anyio
SITE = {"Authorization": "Bearer site-key"}


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
        api_keys=["site-key"],
    )
    async with app_client(settings, embedder) as c:
        c.headers.update(SITE)
        yield c


async def test_only_the_conversation_token_opens_a_conversation_the_site_key_does_not(
    client: httpx.AsyncClient,
) -> None:
    await say(client, "c-theirs", "hello")
    first = await say(client, "c-mine", "where is my order?")
    token = first["conversation_token"]
    assert token and len(token) >= 32
    again = await say(client, "c-mine", "NW-482913")  # the widget sends its token back
    assert again["conversation_token"] is None and again["handled_by"] == "flow"

    # a second client with the same (public) site key and the id, but not the token
    base = "/v1/conversations/c-mine"
    turn = again["turn_id"]
    tries = [
        ("GET", base, None),
        ("POST", f"{base}/messages", {"text": "cancel my order"}),
        ("GET", f"{base}/events?timeout=0", None),
        ("GET", f"{base}/stream", None),
        ("POST", f"{base}/rating", {"score": 1}),
        ("POST", f"{base}/turns/{turn}/feedback", {"helpful": False}),
    ]
    for method, url, body in tries:
        r = await client.request(method, url, json=body)
        assert r.status_code == 401, (url, r.text)
        assert r.json()["error"]["code"] == "conversation_token_required"
        wrong = {"x-conversation-token": token[:-2] + "xx"}
        r = await client.request(method, url, json=body, headers=wrong)
        assert r.status_code == 403 and r.json()["error"]["code"] == "conversation_token_invalid"
        other = {"x-conversation-token": first["conversation_token"]}
        r = await client.request(
            method, url.replace("c-mine", "c-theirs"), json=body, headers=other
        )
        assert r.status_code in (403, 422), url  # one conversation's token opens no other

    # the owner reads it, and nothing the others tried was stored
    r = await client.get(base, headers=token_headers(client, "c-mine"))
    assert r.status_code == 200
    assert [m["text"] for m in r.json()["messages"] if m["role"] == "customer"] == [
        "where is my order?",
        "NW-482913",
    ]
    # a back end with a server key reads any conversation; the site key is still needed
    assert (await client.get(base, headers=SERVER)).status_code == 200
    bare = await client.get(base, headers={"Authorization": "", **token_headers(client, "c-mine")})
    assert bare.status_code == 401 and bare.json()["error"]["code"] == "unauthorized"


async def test_a_customer_id_from_a_page_links_conversations_only_when_the_site_signs_it(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    signed = {"id": "u7", "name": "Ada", "user_hash": user_hash("u7", IDENTITY_SECRET)}
    await say(client, "c-ada-1", "where is my order?", customer=signed)
    # someone else claims u7 without the signature (or with a made-up one)
    forged = {"id": "u7", "name": "Ada", "user_hash": "0" * 64}
    await say(client, "c-claim", "hi", customer=forged)
    r = await say(client, "c-claim", "I want to talk to a person")
    [claimed] = await wait_events(receiver, 1, "handoff.created")
    assert r["handoff"] is not None
    assert claimed.json["customer"]["id"] == "anonymous:c-claim"
    assert claimed.json["customer"]["metadata"]["claimed_id"] == "u7"
    assert claimed.json["other_conversations"] == []  # Ada's conversation stays hidden

    await say(client, "c-ada-2", "I want to talk to a person", customer=signed)
    [real] = [e for e in await wait_events(receiver, 2, "handoff.created")][1:]
    assert real.json["customer"]["id"] == "u7"
    assert [o["id"] for o in real.json["other_conversations"]] == ["c-ada-1"]


async def test_rasa_channels_cannot_enter_a_conversation_our_api_opened(
    client: httpx.AsyncClient,
) -> None:
    await say(client, "c-api", "where is my order?")
    # the REST channel's sender is its own credential: the same id is another conversation
    r = await client.post("/webhooks/rest/webhook", json={"sender": "c-api", "message": "NW-1"})
    assert r.status_code == 200
    mine = await client.get("/v1/conversations/c-api", headers=token_headers(client, "c-api"))
    assert [m["text"] for m in mine.json()["messages"] if m["role"] == "customer"] == [
        "where is my order?"
    ]
    rasa = await client.get("/v1/conversations/rasa:c-api", headers=SERVER)
    assert rasa.status_code == 200 and rasa.json()["channel"] == "rest"
    # and our API cannot open a conversation in the Rasa channels' space
    r = await client.post("/v1/conversations/rasa:c-x/messages", json={"text": "hi"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_conversation_id"


async def test_csat_rates_the_handoff_and_a_second_rating_replaces_the_first(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    r = await say(client, "c-rate", "I want to talk to a person")
    handoff_id = r["handoff"]["id"]
    done = await client.post(f"/v1/handoffs/{handoff_id}/resolve", headers=HELPDESK)
    assert done.status_code == 200
    mine = token_headers(client, "c-rate")
    url = "/v1/conversations/c-rate/rating"
    first = await client.post(url, json={"score": 2}, headers=mine)
    assert first.status_code == 200
    assert first.json() == {
        "conversation_id": "c-rate", "handoff_id": handoff_id, "score": 2, "comment": None
    }  # fmt: skip
    second = await client.post(url, json={"score": 5, "comment": "Kim was great"}, headers=mine)
    assert second.json()["score"] == 5
    for bad in ({"score": 0}, {"score": 6}, {"score": "five"}, {}):
        r = await client.post(url, json=bad, headers=mine)
        assert r.status_code == 422, bad

    store = open_store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    await store.open()
    stored = await store.ratings("c-rate")
    await store.close()
    assert [(x.score, x.comment, x.handoff_id) for x in stored] == [
        (5, "Kim was great", handoff_id)
    ]


async def test_a_helpdesk_token_in_the_url_is_not_taken(client: httpx.AsyncClient) -> None:
    # `?key=` is for EventSource's site key only; agents' tokens never ride in URLs
    r = await client.get("/v1/handoffs?key=helpdesk-token", headers={"Authorization": ""})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert (await client.get("/v1/handoffs", headers=HELPDESK)).status_code == 200
