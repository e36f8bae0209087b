"""Hostile and odd inputs, on SQLite and PostgreSQL alike: every one gets a 2xx or a 4xx in our
envelope, never a 5xx, and no error body shows internals (SQL, parameters, tracebacks)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.test_api import SERVER

pytestmark = pytest.mark.anyio


def _deep(n: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(n):
        value = {"a": value}
    return value


# (method, path, JSON body or raw bytes, the statuses that are right)
CASES: list[tuple[str, str, Any, set[int]]] = [
    ("POST", "/v1/conversations/h-digits/messages", {"text": "1" * 5000}, {200}),
    ("POST", "/v1/conversations/h-nul/messages", {"text": "hi\u0000there"}, {200, 422}),
    ("POST", "/v1/conversations/h-ctl/messages", {"text": "a\u0007b\u001b[31m"}, {200, 422}),
    ("POST", "/v1/conversations/" + "x" * 300 + "/messages", {"text": "hi"}, {404, 422}),
    ("POST", "/v1/conversations/" + "y" * 195 + "/messages", {"text": "hi"}, {200, 422}),
    ("POST", "/v1/conversations/h-deep/messages", {"text": "hi", "metadata": _deep(300)}, {422}),
    (
        "POST",
        "/v1/conversations/h-deep-customer/messages",
        {"text": "hi", "customer": {"id": "c", "metadata": _deep(300)}},
        {422},
    ),
    ("POST", "/v1/conversations/h-nan/messages", b'{"text": "hi", "metadata": {"x": NaN}}', {422}),
    (
        "POST",
        "/v1/conversations/h-inf/messages",
        b'{"text": "hi", "metadata": {"x": 1e999}}',
        {422},
    ),
    (
        "POST",
        "/v1/conversations/h-nulmeta/messages",
        {"text": "hi", "metadata": {"k\u0000": "v\u0000"}},
        {200, 422},
    ),
    (
        "POST",
        "/v1/conversations/h-big/messages",
        {"text": "hi", "metadata": {"x": "z" * 200_000}},
        {413, 422},
    ),
    (
        "GET",
        "/v1/conversations/h-digits/events?after=99999999999999999999&timeout=0",
        None,
        {200, 401, 403, 422},
    ),
    (
        "GET",
        "/v1/conversations/h-digits/events?after=3000000000&timeout=0",
        None,
        {200, 401, 403, 422},
    ),
    (
        "POST",
        "/webhooks/rest/webhook",
        {"sender": "s1", "message": "hi", "input_channel": "c" * 80},
        {422},
    ),
    ("POST", "/webhooks/rest/webhook", {"sender": "s2\u0000", "message": "hi"}, {200, 422}),
    ("POST", "/v1/nlu/parse", {"text": "9" * 10000}, {200, 422}),
    ("POST", "/v1/kb/search", {"query": "\u0000" * 10, "top_k": 3}, {200, 422}),
    ("POST", "/v1/conversations/h-digits/rating", {"score": 1e999}, {401, 403, 422}),
]


@pytest.fixture
async def client(example_app: Any, either_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with example_app(either_url) as c:
        yield c


async def test_no_input_gets_a_5xx_or_shows_internals(client: httpx.AsyncClient) -> None:
    wrong = []
    for method, path, body, allowed in CASES:
        kwargs: dict[str, Any] = {"headers": {**SERVER, "content-type": "application/json"}}
        if isinstance(body, bytes):
            kwargs["content"] = body
        elif body is not None:
            kwargs["content"] = json.dumps(body)
        r = await client.request(method, path, **kwargs)
        if r.status_code not in allowed:
            wrong.append((method, path[:60], r.status_code, r.text[:200]))
        if r.status_code >= 400:
            error = r.json()["error"]
            assert set(error) >= {"code", "message"}, r.text
            for leak in ("SELECT", "INSERT", "UPDATE", "Traceback", "sqlalchemy", "asyncpg"):
                assert leak not in r.text, (path, r.text[:300])
    assert not wrong, wrong
    # the conversation of the digits survived: its turn was stored
    r = await client.get("/v1/conversations/h-digits", headers=SERVER)
    assert r.status_code == 200 and r.json()["messages"][0]["text"] == "1" * 5000
