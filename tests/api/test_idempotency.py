"""`Idempotency-Key` on customer messages: a client that lost the response retries and gets the
same answer, and the bot neither answers twice nor stores the message twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.test_api import SERVER
from tests.receiver import Receiver

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(example_app: Any, either_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with example_app(either_url) as c:
        yield c


async def _post(client: httpx.AsyncClient, conv: str, text: str, key: str) -> httpx.Response:
    return await client.post(
        f"/v1/conversations/{conv}/messages",
        json={"text": text},
        headers={**SERVER, "Idempotency-Key": key},
    )


async def test_a_retry_gets_the_first_answer_and_stores_nothing_new(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    first = await _post(client, "i-1", "I want to talk to a human", "k-1")
    again = await _post(client, "i-1", "I want to talk to a human", "k-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    conv = (await client.get("/v1/conversations/i-1", headers=SERVER)).json()
    assert [m["role"] for m in conv["messages"]].count("customer") == 1
    await asyncio.sleep(1.0)
    assert len(receiver.events("handoff.created")) == 1  # one handoff, delivered once

    # the same words under a new key are a new message; the old key for other words is refused
    assert (await _post(client, "i-1", "I want to talk to a human", "k-2")).status_code == 200
    reused = await _post(client, "i-1", "something else", "k-1")
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    conv = (await client.get("/v1/conversations/i-1", headers=SERVER)).json()
    assert [m["role"] for m in conv["messages"]].count("customer") == 2
    # the lease was given back each time: the conversation takes the next message at once
    assert (await _post(client, "i-1", "hello?", "k-3")).status_code == 200


async def test_retries_sent_together_make_one_turn(client: httpx.AsyncClient) -> None:
    answers = await asyncio.gather(
        *(_post(client, "i-2", "do you ship to canada?", "k") for _ in range(4))
    )
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["turn_id"] for a in answers}) == 1
    conv = (await client.get("/v1/conversations/i-2", headers=SERVER)).json()
    assert [m["role"] for m in conv["messages"]].count("customer") == 1
