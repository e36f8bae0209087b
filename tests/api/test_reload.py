"""POST /admin/reload: changes take effect without a restart; a broken project is refused and the
running one keeps answering; a conversation whose flow vanished gets a graceful message."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from botsvc.config import Settings
from botsvc.embedding import Embedder
from tests.conftest import app_client, say

pytestmark = pytest.mark.anyio
ADMIN = {"Authorization": "Bearer admin-token"}


@pytest.fixture
def project(example_project: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "bot"
    for part in ("intents", "flows", "kb", "kb_index", "models"):
        shutil.copytree(example_project / part, copy / part)
    return copy


@pytest.fixture
async def client(
    project: Path, embedder: Embedder, action_server: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        project_dir=project,
        admin_token="admin-token",  # type: ignore[arg-type]
        action_endpoint=action_server,
    )
    async with app_client(settings, embedder) as c:
        yield c


async def test_a_changed_response_is_used_after_reload(
    client: httpx.AsyncClient, project: Path
) -> None:
    core = project / "flows" / "orders.yml"
    text = core.read_text()
    assert "What's your order number?" in text
    core.write_text(
        text.replace("What's your order number?", "Which order number, please?").replace(
            "Could you give me your order number, please?", "Which order number, please?"
        )
    )
    r = await client.post("/admin/reload", headers=ADMIN)
    assert r.status_code == 200, r.text
    first = await say(client, "r1", "I want a refund for my order")
    assert "Which order number, please?" in first["messages"][0]["text"]


async def test_a_broken_project_is_refused_and_the_old_one_keeps_running(
    client: httpx.AsyncClient,
    project: Path,
) -> None:
    orders = project / "flows" / "orders.yml"
    orders.write_text(
        orders.read_text().replace("action: utter_order_shipped", "action: utter_no_such_response")
    )
    r = await client.post("/admin/reload", headers=ADMIN)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid_project"
    assert any("flows/orders.yml:" in p and "utter_no_such_response" in p for p in err["problems"])
    still = await say(client, "r2", "I want a refund for my order")
    assert still["flow"]["id"] == "request_refund"


async def test_a_conversation_whose_flow_vanished_gets_a_graceful_message(
    client: httpx.AsyncClient,
    project: Path,
) -> None:
    started = await say(client, "r3", "I want a refund for my order")
    assert started["flow"]["id"] == "request_refund"
    orders = project / "flows" / "orders.yml"
    text = orders.read_text()
    head, flows = text.split("\nflows:\n", 1)
    kept = flows.split("\n  request_refund:\n", 1)[0]
    orders.write_text(head + "\nflows:\n" + kept + "\n")
    r = await client.post("/admin/reload", headers=ADMIN)
    assert r.status_code == 200, r.text
    after = await say(client, "r3", "NW-100234")
    assert after["messages"] and after["flow"] is None
