from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from botsvc.embedding import Embedder
from botsvc.errors import ConfigError, ProjectError
from botsvc.kb.index import build_index, index_is_current
from botsvc.kb.retrieval import KnowledgeBase


def _manifest(index_dir: Path) -> dict:
    return json.loads((index_dir / "manifest.json").read_text())


def test_manifest_names_model_counts_sources_and_threshold(
    shop_index: Path, embedder: Embedder
) -> None:
    m = _manifest(shop_index)
    assert m["model_id"] == embedder.model_id
    assert m["dimensions"] == 384
    assert m["index_type"] == "flat-fp16"
    assert m["counts"]["chunks"] == 20 and m["counts"]["faqs"] == 8
    assert m["counts"]["vectors"] == 23  # FAQ alt questions get vectors of their own
    assert set(m["sources"]) == {
        "account-faq.csv",
        "billing.jsonl",
        "contact.md",
        "returns.md",
        "shipping.html",
        "sync.txt",
    }
    assert m["built_at"].endswith("+00:00")
    assert 0.2 <= m["answer"]["threshold"] <= 0.6
    assert m["answer"]["ood_probes"] >= 90


def test_rebuild_reembeds_only_what_changed(project: Path, embedder: Embedder) -> None:
    kb_dir, index_dir = project / "kb", project / "kb_index"
    assert _manifest(index_dir)["build"]["embedded"] == 23  # the first build embedded all
    assert index_is_current(kb_dir, index_dir, embedder.model_id)

    again = build_index(kb_dir, index_dir, embedder, progress=False)
    assert again.up_to_date and again.embedded == 0

    contact = kb_dir / "contact.md"
    contact.write_text(contact.read_text().replace("+49 30 1234567", "+49 30 7654321"))
    (kb_dir / "sync.txt").unlink()
    assert not index_is_current(kb_dir, index_dir, embedder.model_id)
    changed = build_index(kb_dir, index_dir, embedder, progress=False)
    assert (changed.embedded, changed.reused, changed.dropped) == (1, 21, 2)
    kb = KnowledgeBase.load(index_dir, model_id=embedder.model_id)
    phone = kb.chunk("contact.md#phone-support")
    assert phone is not None and "7654321" in phone.text
    assert kb.chunk("sync.txt#top") is None


def test_a_failed_build_leaves_the_old_index_serving(project: Path, embedder: Embedder) -> None:
    kb_dir, index_dir = project / "kb", project / "kb_index"
    before = _manifest(index_dir)["build_id"]
    (kb_dir / "broken.jsonl").write_text('{"question": "Half a row?"\n')
    with pytest.raises(ProjectError):
        build_index(kb_dir, index_dir, embedder, progress=False)
    assert _manifest(index_dir)["build_id"] == before
    KnowledgeBase.load(index_dir, model_id=embedder.model_id)
    assert [p.name for p in project.iterdir() if p.name.startswith(".")] == []


def _build_in_child(kb_dir: Path, index_dir: Path) -> None:
    embedder = Embedder(threads=1)
    embedder.load()
    build_index(kb_dir, index_dir, embedder, progress=False)


def test_a_build_killed_midway_never_leaves_a_half_index(project: Path, embedder: Embedder) -> None:
    kb_dir, index_dir = project / "kb", project / "kb_index"
    before = _manifest(index_dir)["build_id"]
    (kb_dir / "extra.md").write_text("# Gift wrapping\n\nWe wrap any order for 3 euros.\n")
    # a spawned child loads its own model: a forked one can hang in torch's thread pool
    child = multiprocessing.get_context("spawn").Process(
        target=_build_in_child, args=(kb_dir, index_dir)
    )
    child.start()
    try:
        deadline = time.monotonic() + 60
        staging: list[Path] = []
        while not staging and child.is_alive() and time.monotonic() < deadline:
            staging = [p for p in project.iterdir() if p.name.startswith(".kb_index.building-")]
            time.sleep(0.001)
        assert staging, "the build ended before it could be killed while writing"
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.is_alive():
            child.kill()
        child.join()
    assert child.exitcode == -signal.SIGKILL
    assert _manifest(index_dir)["build_id"] == before  # the old index, whole
    kb = KnowledgeBase.load(index_dir, model_id=embedder.model_id)
    assert kb.chunk("extra.md#top") is None
    # the next build clears what the dead one left and publishes the new content
    report = build_index(kb_dir, index_dir, embedder, progress=False)
    assert report.embedded == 1
    assert [p.name for p in project.iterdir() if p.name.startswith(".")] == []
    assert KnowledgeBase.load(index_dir, model_id=embedder.model_id).chunk("extra.md#top")


def test_loading_refuses_a_missing_index_or_another_model(
    shop_index: Path, tmp_path: Path, embedder: Embedder
) -> None:
    with pytest.raises(ConfigError, match="botsvc kb build"):
        KnowledgeBase.load(tmp_path / "kb_index", model_id=embedder.model_id)
    with pytest.raises(ConfigError, match="botsvc kb build") as err:
        KnowledgeBase.load(shop_index, model_id="some/other-model@123")
    assert "some/other-model@123" in str(err.value)
    assert not index_is_current(shop_index.parent / "kb", shop_index, "some/other-model@123")
