"""A customer's data over the admin API (GDPR access and erasure), and `botsvc purge`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.test_api import ADMIN, SERVER
from tests.conftest import REPO

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(example_app: Any, sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with example_app(sqlite_url) as c:
        yield c


async def _say(client: httpx.AsyncClient, conv: str, customer: str, text: str) -> None:
    r = await client.post(
        f"/v1/conversations/{conv}/messages",
        json={"text": text, "customer": {"id": customer}},
        headers=SERVER,
    )
    assert r.status_code == 200, r.text


async def test_a_customer_asks_for_their_data_then_to_be_forgotten(
    client: httpx.AsyncClient,
) -> None:
    await _say(client, "g-1", "ana", "where is my order NW-482913")
    await _say(client, "g-2", "ana", "do you ship to canada?")
    await _say(client, "g-3", "ben", "do you ship to canada?")
    data = (await client.get("/admin/customers/ana/data", headers=ADMIN)).json()
    assert [c["id"] for c in data["conversations"]] == ["g-1", "g-2"]
    assert any("NW-482913" in m["text"] for m in data["messages"])

    r = await client.delete("/admin/customers/ana", headers=ADMIN)
    assert r.json() == {"customer_id": "ana", "conversations_erased": 2}
    gone = await client.get("/v1/conversations/g-1", headers=SERVER)
    assert gone.status_code == 404
    assert (await client.get("/v1/conversations/g-3", headers=SERVER)).status_code == 200
    assert (await client.delete("/admin/customers/ana")).status_code == 401


async def test_purge_from_the_command_line(client: httpx.AsyncClient, sqlite_url: str) -> None:
    await _say(client, "p-1", "cleo", "do you ship to canada?")
    env = {**os.environ, "BOTSVC_DATABASE_URL": sqlite_url}
    cmd = [sys.executable, "-m", "botsvc", "purge", "--older-than", "0s", "--delete"]
    done = await asyncio.to_thread(
        subprocess.run, [*cmd, "--project", str(REPO)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("deleted 1,")
    assert (await client.get("/v1/conversations/p-1", headers=SERVER)).status_code == 404
