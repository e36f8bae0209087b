from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from botsvc.embedding import Embedder  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real sentence-transformers model, loaded once per test session."""
    e = Embedder()
    e.load()
    return e


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
