"""The example bot served in-process for the API tests, on a SQLite file or, for the tests that
must hold on both backends, on a fresh PostgreSQL database too."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from botsvc.embedding import Embedder
from tests.api.test_api import settings_for
from tests.conftest import app_client, postgres_database
from tests.receiver import Receiver


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def either_url(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[str]:
    """The same test on SQLite and on PostgreSQL: the rules must not differ."""
    if request.param == "sqlite":
        yield sqlite_url
        return
    with postgres_database("api") as url:
        yield url


@pytest.fixture
def example_app(
    example_project: Path, embedder: Embedder, receiver: Receiver, action_server: str
) -> Any:
    """`async with example_app(db_url, **settings) as client`: the example bot, its action
    server and the test's webhook receiver, with these settings on top."""

    @asynccontextmanager
    async def serve(db_url: str, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
        config = settings_for(example_project, db_url, receiver, action_server, **settings)
        async with app_client(config, embedder) as c:
            yield c

    return serve
