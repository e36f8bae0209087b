"""The figures after real turns: `GET /admin/figures` and `botsvc report --json` agree."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.test_api import ADMIN
from tests.conftest import REPO, say

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(example_app: Any, sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with example_app(sqlite_url) as c:
        yield c


async def test_the_dashboard_figures_and_the_report_agree(
    client: httpx.AsyncClient, sqlite_url: str
) -> None:
    refund = await say(client, "f-1", "I want a refund for my order", customer={"id": "u1"})
    human = await say(client, "f-2", "I want to talk to a human", customer={"id": "u2"})
    await say(client, "f-3", "do you ship to canada?", customer={"id": "u3"})
    r = await client.get("/admin/figures", params={"since": "1h"}, headers=ADMIN)
    assert r.status_code == 200
    api = r.json()
    assert api["conversations"] == 3 and api["engaged"] == 3
    assert api["escalation_rate"] == round(1 / 3, 4)
    assert api["handoffs_by_reason"] == {human["handoff"]["reason"]: 1}
    [flow] = [f for f in api["funnel"] if f["flow_id"] == refund["flow"]["id"]]
    assert flow["started"] == 1 and flow["dropped"]  # still waiting for the order number

    env = {**os.environ, "BOTSVC_DATABASE_URL": sqlite_url}
    cmd = [
        sys.executable,
        "-m",
        "botsvc",
        "report",
        "--json",
        "--since",
        "1h",
        "--project",
        str(REPO),
    ]
    done = await asyncio.to_thread(
        subprocess.run, cmd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    cli = json.loads(done.stdout)
    for key in ("conversations", "containment_rate", "handoffs_by_reason", "funnel", "intents"):
        assert cli[key] == api[key], key


async def test_a_window_that_cannot_be_read_is_a_422(client: httpx.AsyncClient) -> None:
    r = await client.get("/admin/figures", params={"since": "last tuesday"}, headers=ADMIN)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_window"
    assert (await client.get("/admin/figures")).status_code == 401
