from __future__ import annotations

import os
import uuid
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from botsvc.config import Settings  # noqa: E402
from botsvc.embedding import Embedder  # noqa: E402
from botsvc.store import Store, open_store  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real model on the default backend (ONNX int8, exported into the repo's models/ the
    first time), loaded once per test session."""
    e = Embedder(cache_dir=REPO / "models" / "encoder")
    e.load()
    return e


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    """A real HTTP webhook receiver on 127.0.0.1 for this test."""
    from tests.receiver import Receiver

    r = Receiver()
    r.start()
    yield r
    r.stop()


PG_URL = os.environ.get("BOTSVC_TEST_POSTGRES_URL")


def _postgres_or_skip() -> str:
    if PG_URL:
        return PG_URL
    if os.environ.get("CI"):
        pytest.fail(
            "BOTSVC_TEST_POSTGRES_URL must be set on CI: the store runs against PostgreSQL there"
        )
    pytest.skip("BOTSVC_TEST_POSTGRES_URL not set: PostgreSQL store tests skipped")


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database for services run with their default search_path (several
    replicas, a process killed mid-write); dropped afterwards."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import asyncpg

    base = _postgres_or_skip()
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin_url = base.replace("postgresql+asyncpg", "postgresql")

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_url)
        await conn.execute(sql)
        await conn.close()

    def run(sql: str) -> None:  # in a thread of its own: callers may be inside an event loop
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, admin(sql)).result()

    run(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        run(f'DROP DATABASE "{name}" WITH (FORCE)')


async def make_store(kind: str, tmp_path: Path) -> tuple[Store, str, str | None]:
    """Opens a fresh store: a SQLite file, or a new PostgreSQL schema."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'botsvc.db'}"
        store = open_store(url)
        await store.open()
        return store, url, None
    url = _postgres_or_skip()
    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    store = open_store(url, schema=schema)
    await store.open()
    return store, url, schema


async def drop_schema(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    s, url, schema = await make_store(request.param, tmp_path)
    try:
        yield s
    finally:
        await s.close()
        if schema:
            await drop_schema(url, schema)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def action_server():  # type: ignore[no-untyped-def]
    """The example bot's real rasa-sdk action server (actions/), on a free port."""
    from tests.actionserver import start_action_server

    server = start_action_server("actions", folder=REPO)
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def example_project(embedder: Embedder) -> Path:
    """The repository's example bot, with its intent model trained and kb_index/ built."""
    from botsvc.project import prepare_project

    prepare_project(REPO, embedder, progress=False)
    return REPO


@asynccontextmanager
async def app_client(settings: Settings, embedder: Embedder) -> AsyncIterator[httpx.AsyncClient]:
    """The real app, `create_app(settings)` with its lifespan, behind httpx's ASGI transport."""
    from asgi_lifespan import LifespanManager

    from botsvc.api.app import create_app

    app = create_app(settings, embedder=embedder)
    # start-up loads the project (model artefacts, CRF, KB): on a loaded 2-core machine the
    # library's 5 s default is too short, and this is not a timing test
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://botsvc.test") as c:
            yield c


# conversation tokens, per client and conversation, as a widget keeps them
_tokens: weakref.WeakKeyDictionary[httpx.AsyncClient, dict[str, str]] = weakref.WeakKeyDictionary()


def token_headers(client: httpx.AsyncClient, conv: str) -> dict[str, str]:
    """The X-Conversation-Token header for a conversation this client started with `say`."""
    token = _tokens.get(client, {}).get(conv)
    return {"x-conversation-token": token} if token else {}


async def say(client: httpx.AsyncClient, conv: str, text: str, **extra: object) -> dict[str, Any]:
    """Posts a customer message, as a widget does (keeping the conversation token the first
    response gives), and returns the turn response (which must be a 200)."""
    r = await client.post(
        f"/v1/conversations/{conv}/messages",
        json={"text": text, **extra},
        headers=token_headers(client, conv),
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    if body.get("conversation_token"):
        _tokens.setdefault(client, {})[conv] = body["conversation_token"]
    return body
