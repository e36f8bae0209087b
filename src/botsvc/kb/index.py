"""`kb build`: turns `kb/` into `kb_index/`, incrementally and atomically.

- Incremental: each embedded text is keyed by its hash. Vectors whose text is unchanged are
  copied from the previous index (same model, same format) instead of being encoded again.
- Atomic: the new index is written and fsynced in a temporary sibling folder, loaded back and
  calibrated there, and only then swapped in with one `renameat2(RENAME_EXCHANGE)` (two renames
  where the kernel lacks it). A build that fails or is killed leaves the old index as it was;
  its temporary folder is removed by the next build.
- Calibrated on itself (calibration.py): the fusion weights are learnt from the KB's own
  phrasings (FAQ alternative questions, section headings), then the answer threshold is set on
  the fused score those weights give.
- The manifest (storage.py) names the model, the index type, counts, each source file's hash,
  the build time, the learnt fusion and the calibrated answer threshold. Beside the files
  storage.py writes, an index has its title vectors (`titles.npy`, `titles.json`) and the
  title field's BM25 (`lexical_titles/`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from botsvc.embedding import Embedder, encode_in_batches
from botsvc.kb.calibration import (
    MIN_DEV_QUERIES,
    Calibration,
    FusionChoice,
    TextVectors,
    calibrate,
    learn_fusion,
)
from botsvc.kb.ingest import KbSources, hash_sources, load_sources
from botsvc.kb.lexical import K1, B, LexicalIndex, lexical_text, lexical_title_text
from botsvc.kb.retrieval import LEXICAL_TITLES, TITLE_VECTORS, FusionWeights, KnowledgeBase
from botsvc.kb.storage import (
    FORMAT,
    PIPELINE,
    read_index_files,
    read_manifest,
    sync_tree,
    write_index_files,
    write_manifest,
)
from botsvc.kb.vectors import (
    EXACT_LIMIT,
    ChunkVectors,
    VectorIndex,
    dense_texts,
    openings,
    title_texts,
)
from botsvc.progress import progress_bar

log = logging.getLogger(__name__)
ENCODE_BATCH = 64
# An index is rebuilt when any of what shapes its vectors, scores or threshold changes: since
# v2 a passage's own heading is in its title vector, not its body, and the fusion is learnt.
PIPELINE_ID = (
    f"{PIPELINE};v2:passage=title+parents+text;titles=path|opening|phrasings;fusion=learnt"
    f";bm25={K1},{B}"
)


@dataclass(frozen=True)
class BuildReport:
    index_dir: Path
    up_to_date: bool  # nothing had changed: the index was left untouched
    files: int
    chunks: int
    vectors: int
    embedded: int  # body texts encoded by this build
    reused: int  # body vectors copied from the previous index
    dropped: int  # body vectors of the previous index that no chunk needs any more
    duplicates: int  # identical chunks kept once
    index_type: str
    threshold: float
    seconds: float
    encode_seconds: float
    title_vectors: int = 0
    titles_embedded: int = 0  # title texts encoded by this build
    weights: FusionWeights = field(default_factory=FusionWeights)
    fusion: str = ""  # how the weights were chosen

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        if self.up_to_date:
            return f"{self.index_dir}: up to date ({self.chunks} chunks, {self.vectors} vectors)"
        w = self.weights
        return (
            f"{self.index_dir}: {self.chunks} chunks from {self.files} files, {self.vectors} "
            f"vectors ({self.embedded} embedded, {self.reused} reused, {self.dropped} dropped), "
            f"{self.title_vectors} title vectors ({self.titles_embedded} embedded), "
            f"{self.duplicates} duplicates skipped, {self.index_type}, fusion: dense "
            f"{w.dense:.2f} (titles: FAQ {w.faq_title:.2f}, section {w.section_title:.2f}), "
            f"lexical {1 - w.dense:.2f} (titles {w.lexical_title:.2f}) {self.fusion}, answer "
            f"threshold {self.threshold:.3f}, {self.seconds:.1f} s"
        )


def index_is_current(kb_dir: Path, index_dir: Path, model_id: str) -> bool:
    """Whether `index_dir` holds an index of exactly the files now in `kb_dir`, built by this
    version of the pipeline with `model_id`."""
    manifest = read_manifest(index_dir)
    return bool(
        manifest
        and manifest.get("format") == FORMAT
        and manifest.get("pipeline") == PIPELINE_ID
        and manifest.get("model_id") == model_id
        and manifest.get("sources") == hash_sources(kb_dir)
    )


def build_index(
    kb_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    *,
    progress: bool = True,
    force: bool = False,
    exact_limit: int = EXACT_LIMIT,
    min_dev_queries: int = MIN_DEV_QUERIES,
) -> BuildReport:
    """Builds (or brings up to date) the index of `kb_dir` in `index_dir`. `min_dev_queries`:
    below this many of the KB's own phrasings, the fusion keeps its default weights.

    :raises ProjectError: a knowledge-base file is invalid (nothing is written).
    :raises ConfigError: `kb_dir` does not exist.
    """
    started = time.perf_counter()
    model_id = embedder.model_id
    if not force and index_is_current(kb_dir, index_dir, model_id):
        return _unchanged_report(index_dir, started)
    sources = load_sources(kb_dir)
    chunks = list(sources.chunks)
    previous = _previous_vectors(index_dir, model_id)
    body = _embed(
        [dense_texts(c) for c in chunks], previous[0], embedder, progress=progress, what="chunks"
    )
    title_rows = [
        title_texts(c, opens_article=o) for c, o in zip(chunks, openings(chunks), strict=True)
    ]
    titles = _embed(title_rows, previous[1], embedder, progress=progress, what="titles")
    dense = VectorIndex.build(body.matrix, exact_limit=exact_limit)
    manifest = _manifest(sources, body, titles, dense, model_id)
    with _staging(index_dir) as staging:
        write_index_files(
            staging,
            chunks=chunks,
            row_counts=body.counts,
            row_hashes=body.hashes,
            dense=dense,
            lexical=LexicalIndex.build([lexical_text(c) for c in chunks]),
        )
        ChunkVectors(titles.matrix, titles.counts, titles.hashes).save(staging, TITLE_VECTORS)
        LexicalIndex.build([lexical_title_text(c) for c in chunks]).save(staging / LEXICAL_TITLES)
        write_manifest(staging, manifest)
        kb, choice, calibration = _calibrate(staging, embedder, min_dev_queries=min_dev_queries)
        manifest["retrieval"].update(_retrieval(choice))
        manifest["answer"] = calibration.as_dict()
        manifest["build"]["seconds"] = round(time.perf_counter() - started, 3)
        write_manifest(staging, manifest)
        sync_tree(staging)
        _swap_into_place(staging, index_dir)
    return BuildReport(
        index_dir=index_dir,
        up_to_date=False,
        files=len(sources.file_hashes),
        chunks=len(chunks),
        vectors=len(body.hashes),
        embedded=body.embedded,
        reused=body.reused,
        dropped=body.dropped,
        duplicates=sources.duplicates,
        index_type=dense.kind,
        threshold=calibration.threshold,
        seconds=time.perf_counter() - started,
        encode_seconds=body.encode_seconds + titles.encode_seconds,
        title_vectors=len(titles.hashes),
        titles_embedded=titles.embedded,
        weights=kb.weights,
        fusion=choice.describe(),
    )


def _calibrate(
    staging: Path, embedder: Embedder, *, min_dev_queries: int
) -> tuple[KnowledgeBase, FusionChoice, Calibration]:
    """Learns the fusion on the staged index, then calibrates the threshold of that fusion."""
    vectors = TextVectors(embedder)
    kb = KnowledgeBase.load(staging, model_id=embedder.model_id)
    choice = learn_fusion(kb, vectors, min_queries=min_dev_queries)
    kb = kb.with_options(weights=choice.weights)
    return kb, choice, calibrate(kb, vectors)


def _retrieval(choice: FusionChoice) -> dict[str, Any]:
    return {"fusion": "weighted", **choice.weights.as_manifest(), "learnt": choice.as_dict()}


@dataclass(frozen=True)
class _Embedded:
    matrix: np.ndarray  # one row per text, in chunk order
    counts: list[int]  # rows per chunk
    hashes: list[str]
    embedded: int  # distinct texts encoded now
    reused: int  # rows whose vector came from the previous index
    dropped: int  # vectors of the previous index no longer needed
    encode_seconds: float


def _embed(
    texts_by_chunk: list[list[str]],
    previous: dict[str, np.ndarray],
    embedder: Embedder,
    *,
    progress: bool,
    what: str,
) -> _Embedded:
    """Vectors for every text: copied from the previous index when the text is unchanged,
    encoded otherwise (each distinct text once)."""
    texts = [t for ts in texts_by_chunk for t in ts]
    hashes = [text_hash(t) for t in texts]
    todo = list(dict.fromkeys(t for t, h in zip(texts, hashes, strict=True) if h not in previous))
    started = time.perf_counter()
    fresh = _encode(embedder, todo, progress=progress, what=what)
    encode_seconds = time.perf_counter() - started
    by_hash = {text_hash(t): v for t, v in zip(todo, fresh, strict=True)}
    rows = [previous[h] if h in previous else by_hash[h] for h in hashes]
    return _Embedded(
        matrix=np.stack(rows).astype(np.float32),
        counts=[len(ts) for ts in texts_by_chunk],
        hashes=hashes,
        embedded=len(todo),
        reused=sum(h in previous for h in hashes),
        dropped=len(set(previous) - set(hashes)),
        encode_seconds=encode_seconds,
    )


def _manifest(
    sources: KbSources, body: _Embedded, titles: _Embedded, dense: VectorIndex, model_id: str
) -> dict[str, Any]:
    chunks = sources.chunks
    return {
        "format": FORMAT,
        "pipeline": PIPELINE_ID,
        "build_id": uuid.uuid4().hex,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_id": model_id,
        "dimensions": int(body.matrix.shape[1]),
        "index_type": dense.kind,
        "counts": {
            "files": len(sources.file_hashes),
            "chunks": len(chunks),
            "passages": sum(c.kind == "passage" for c in chunks),
            "faqs": sum(c.kind == "faq" for c in chunks),
            "vectors": len(body.hashes),
            "title_vectors": len(titles.hashes),
            "duplicates_skipped": sources.duplicates,
        },
        "sources": sources.file_hashes,
        "retrieval": {
            "fusion": "weighted",
            **FusionWeights().as_manifest(),
            "bm25": {"k1": K1, "b": B},
        },
        "build": {
            "embedded": body.embedded,
            "reused": body.reused,
            "titles_embedded": titles.embedded,
            "encode_seconds": round(body.encode_seconds + titles.encode_seconds, 3),
        },
    }


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _unchanged_report(index_dir: Path, started: float) -> BuildReport:
    manifest = read_manifest(index_dir) or {}
    counts = manifest.get("counts", {})
    return BuildReport(
        index_dir=index_dir,
        up_to_date=True,
        files=counts.get("files", 0),
        chunks=counts.get("chunks", 0),
        vectors=counts.get("vectors", 0),
        embedded=0,
        reused=counts.get("vectors", 0),
        dropped=0,
        duplicates=counts.get("duplicates_skipped", 0),
        index_type=manifest.get("index_type", ""),
        threshold=manifest.get("answer", {}).get("threshold", 0.0),
        seconds=time.perf_counter() - started,
        encode_seconds=0.0,
        title_vectors=counts.get("title_vectors", 0),
        weights=FusionWeights.from_manifest(manifest.get("retrieval", {})),
    )


def _previous_vectors(
    index_dir: Path, model_id: str
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """text hash -> vector, for body and for title vectors, from the index being replaced when
    it used the same model."""
    manifest = read_manifest(index_dir)
    if not manifest or manifest.get("model_id") != model_id:
        return {}, {}
    try:
        files = read_index_files(index_dir, model_id=model_id)
        body = dict(zip(files.row_hashes, files.dense.all_vectors(), strict=True))
    except Exception as exc:  # a damaged old index only costs us the reuse
        log.warning("not reusing vectors from %s: %s", index_dir, exc)
        return {}, {}
    try:
        titles = ChunkVectors.load(index_dir, TITLE_VECTORS)
    except (OSError, ValueError, KeyError, TypeError):  # older than title vectors, or damaged
        return body, {}
    return body, dict(zip(titles.hashes, titles.all_vectors(), strict=True))


def _encode(embedder: Embedder, texts: list[str], *, progress: bool, what: str) -> list[np.ndarray]:
    with progress_bar(len(texts), enabled=progress, what=f"embedding {what}") as advance:
        return list(encode_in_batches(embedder, texts, batch=ENCODE_BATCH, advance=advance))


# --- atomic publication --------------------------------------------------------------------------

_STAGING_PREFIX = ".building-"


@contextmanager
def _staging(index_dir: Path) -> Iterator[Path]:
    """A fresh folder beside `index_dir` (same file system, so renames are atomic), removed
    afterwards whatever happens. Leftovers of builds that died are removed first."""
    parent = index_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{index_dir.name}{_STAGING_PREFIX}"
    for stale in parent.glob(f"{prefix}*"):
        pid = stale.name[len(prefix) :].split("-")[0]
        if not (pid.isdigit() and _alive(int(pid))):
            shutil.rmtree(stale, ignore_errors=True)
    staging = parent / f"{prefix}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _swap_into_place(staging: Path, index_dir: Path) -> None:
    """Publishes `staging` as `index_dir`; the old index ends up in `staging` (to be removed)."""
    if not index_dir.exists():
        os.rename(staging, index_dir)
        staging.mkdir()  # the staging context removes it
    elif not _exchange(staging, index_dir):
        aside = staging.with_name(staging.name + "-old")
        os.rename(index_dir, aside)
        os.rename(staging, index_dir)
        os.rename(aside, staging)
    _fsync_dir(index_dir.parent)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swaps two paths (Linux renameat2); False where that is not available."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(result == 0)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
