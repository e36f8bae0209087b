"""A replica that dies holding a conversation does not shut its customer out."""

from __future__ import annotations

from pathlib import Path

import pytest

from botsvc.config import Settings
from botsvc.domain import Customer
from botsvc.embedding import Embedder
from botsvc.store import open_store
from tests.conftest import app_client, say, token_headers

pytestmark = pytest.mark.anyio


async def test_a_message_to_a_conversation_a_dead_replica_holds_waits_out_its_lease(
    example_project: Path, embedder: Embedder, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    settings = Settings(project_dir=example_project, database_url=url)
    async with app_client(settings, embedder) as client:
        await say(client, "c-dead", "hi")
        # what a replica killed in the middle of a turn leaves behind: its lease, still running
        other = open_store(url)
        await other.open()
        await other.lock_conversation(
            "c-dead", owner="killed-replica", customer=Customer(id="x"), channel="web", lease_s=1.5
        )
        await other.close()
        r = await client.post(
            "/v1/conversations/c-dead/messages",
            json={"text": "where is my order?"},
            headers=token_headers(client, "c-dead"),
        )
        assert r.status_code == 200, r.text  # not 409: it waited the lease out
        got = await client.get("/v1/conversations/c-dead", headers=token_headers(client, "c-dead"))
        customer = [m["text"] for m in got.json()["messages"] if m["role"] == "customer"]
        assert customer == ["hi", "where is my order?"]
