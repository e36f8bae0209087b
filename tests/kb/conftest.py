from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from botsvc.embedding import Embedder
from botsvc.kb.index import build_index
from botsvc.kb.retrieval import KnowledgeBase

DATA = Path(__file__).resolve().parent / "data"
SHOP = DATA / "shop"
SHOP_QUERIES = DATA / "shop_queries.jsonl"


@pytest.fixture(scope="session")
def shop_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """The fixture shop KB, built once per session. Tests must not change it."""
    root = tmp_path_factory.mktemp("shop")
    shutil.copytree(SHOP, root / "kb")
    build_index(root / "kb", root / "kb_index", embedder, progress=False)
    return root / "kb_index"


@pytest.fixture(scope="session")
def shop_kb(shop_index: Path, embedder: Embedder) -> KnowledgeBase:
    return KnowledgeBase.load(shop_index, model_id=embedder.model_id)


@pytest.fixture
def project(tmp_path: Path, shop_index: Path) -> Path:
    """A writable copy of the shop KB (tmp_path/kb) and of its built index (tmp_path/kb_index)."""
    shutil.copytree(shop_index.parent / "kb", tmp_path / "kb")
    shutil.copytree(shop_index, tmp_path / "kb_index")
    return tmp_path
