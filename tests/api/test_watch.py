"""`serve --watch` while developing: an edited response is served without a restart, a broken
file keeps the running bot, reloads say what changed, and admin routes are open on loopback."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from botsvc.config import Settings
from botsvc.embedding import Embedder
from botsvc.kb.index import build_index
from botsvc.project import load_project
from botsvc.project_diff import project_changes, summary
from tests.conftest import app_client, say

pytestmark = pytest.mark.anyio
OLD = "Hello {customer_name}, welcome to Northwind support. How can I help you today?"
NEW = "Hello {customer_name}, this is the edited greeting."


@pytest.fixture
async def project(example_project: Path, tmp_path: Path) -> Path:
    """A copy of the example bot, with its trained artefacts (no retraining needed)."""
    root = tmp_path / "bot"
    for part in ("intents", "flows", "kb", "models", "kb_index"):
        shutil.copytree(example_project / part, root / part)
    return root


@pytest.fixture
async def client(project: Path, embedder: Embedder) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        project_dir=project,
        database_url=f"sqlite+aiosqlite:///{project / 'var' / 'bot.db'}",
        watch=True,
        admin_token=None,
    )
    async with app_client(settings, embedder) as c:
        yield c


async def _greetings(client: httpx.AsyncClient, tag: str) -> set[str]:
    texts = set()
    for i in range(12):  # the response has variants, chosen at random
        turn = await say(client, f"w-{tag}-{i}", "hi", customer={"id": "u", "name": "Ana"})
        texts |= {m["text"] for m in turn["messages"]}
    return texts


async def _until(check, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "no reload seen"
        await asyncio.sleep(0.3)


async def test_an_edited_response_is_served_and_a_broken_file_is_refused(
    client: httpx.AsyncClient, project: Path
) -> None:
    core = project / "flows" / "core.yml"
    assert OLD.replace("{customer_name}", "Ana") in await _greetings(client, "a")
    core.write_text(core.read_text().replace(OLD, NEW))

    n = 0

    async def edited() -> bool:
        nonlocal n
        n += 1
        return NEW.replace("{customer_name}", "Ana") in await _greetings(client, f"b{n}")

    await _until(edited)

    core.write_text(core.read_text() + "\n  utter_broken: [this is: not: valid\n")
    await asyncio.sleep(2.0)  # the watcher tries, refuses, and keeps the running bot
    assert NEW.replace("{customer_name}", "Ana") in await _greetings(client, "c")

    # loopback needs no admin token in this mode; the reload says what changed
    core.write_text(core.read_text().split("\n  utter_broken")[0] + "\n")
    r = await client.post("/admin/reload")
    assert r.status_code == 200
    assert set(r.json()["changes"]) == {"intents", "flows", "responses", "kb_documents"}


async def test_a_reload_says_what_was_added_changed_and_removed(
    project: Path, embedder: Embedder
) -> None:
    async with httpx.AsyncClient() as http:
        before = await asyncio.to_thread(load_project, project, embedder=embedder, http=http)
        core = project / "flows" / "core.yml"
        core.write_text(core.read_text().replace(OLD, NEW))
        article = next((project / "kb").rglob("*.md"))
        article.unlink()
        await asyncio.to_thread(
            build_index, project / "kb", project / "kb_index", embedder, progress=False
        )
        after = await asyncio.to_thread(load_project, project, embedder=embedder, http=http)
    changes = project_changes(before, after)
    assert changes["responses"] == {"added": [], "changed": ["utter_greet"], "removed": []}
    removed = str(article.relative_to(project / "kb"))
    assert changes["kb_documents"]["removed"] == [removed]
    assert changes["intents"] == {"added": [], "changed": [], "removed": []}
    assert summary(changes) == "responses ~1, kb_documents -1"
