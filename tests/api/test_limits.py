"""Limits at the edge: big bodies refused before they are read, trickling bodies cut off,
and too many messages per conversation or per key told when to come back."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from botsvc.config import Settings
from botsvc.embedding import Embedder
from tests.api.test_api import SERVER, settings_for
from tests.receiver import Receiver
from tests.served import serve

pytestmark = pytest.mark.anyio


def _settings(project: Path, tmp: Path, receiver: Receiver, actions: str, **kw: object) -> Settings:
    url = f"sqlite+aiosqlite:///{tmp / 'bot.db'}"
    return settings_for(project, url, receiver, actions, **kw)


@pytest.fixture
async def client(example_app: Any, sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with example_app(sqlite_url, rate_per_conversation=6.0, rate_per_key=9.0) as c:
        yield c


async def test_a_body_over_the_limit_is_refused_before_it_is_read(
    client: httpx.AsyncClient,
) -> None:
    big = b'{"text": "' + b"a" * (20 * 1024 * 1024) + b'"}'
    r = await client.post("/v1/conversations/l-1/messages", content=big, headers=SERVER)
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        yield b'{"text": "'
        for _ in range(100):
            yield b"b" * 10_000
        yield b'"}'

    r = await client.post("/v1/conversations/l-2/messages", content=chunks(), headers=SERVER)
    assert r.status_code == 413


async def test_too_many_messages_are_told_when_to_come_back(client: httpx.AsyncClient) -> None:
    async def post(conv: str, key: str) -> httpx.Response:
        return await client.post(
            f"/v1/conversations/{conv}/messages",
            json={"text": "hi"},
            headers={"Authorization": f"Bearer {key}"},
        )

    # a burst of 2 per conversation (6 a minute), then 429 with when to retry
    assert [(await post("l-3", "server-key")).status_code for _ in range(2)] == [200, 200]
    limited = await post("l-3", "server-key")
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert "conversation" in limited.json()["error"]["message"]
    assert int(limited.headers["retry-after"]) >= 1
    # a key's allowance spans its conversations: a burst of 3 (9 a minute), 2 spent above
    assert (await post("l-k1", "server-key")).status_code == 200
    by_key = await post("l-k2", "server-key")
    assert by_key.status_code == 429 and "API key" in by_key.json()["error"]["message"]
    assert (await post("l-k3", "another-key")).status_code == 200  # another key's own


@pytest.fixture
def base_url(
    example_project: Path,
    embedder: Embedder,
    receiver: Receiver,
    action_server: str,
    tmp_path: Path,
) -> Iterator[str]:
    settings = _settings(example_project, tmp_path, receiver, action_server, body_timeout_s=1.0)
    with serve(settings, embedder) as url:
        yield url


async def test_a_body_that_trickles_in_is_cut_off(base_url: str) -> None:
    host, port = base_url.removeprefix("http://").split(":")

    def half_sent() -> bytes:
        with socket.create_connection((host, int(port)), timeout=20) as s:
            s.sendall(
                b"POST /v1/conversations/l-5/messages HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n" + b'{"text": "h'
            )
            started = time.monotonic()
            answer = s.recv(4096)
            assert time.monotonic() - started < 15
            return answer

    answer = await asyncio.to_thread(half_sent)
    assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer
