"""`kb build`: turns `kb/` into `kb_index/`, incrementally and atomically.

- Incremental: each embedded text is keyed by its hash. Vectors whose text is unchanged are
  copied from the previous index (same model, same format) instead of being encoded again.
- Atomic: the new index is written and fsynced in a temporary sibling folder, loaded back and
  calibrated there, and only then swapped in with one `renameat2(RENAME_EXCHANGE)` (two renames
  where the kernel lacks it). A build that fails or is killed leaves the old index as it was;
  its temporary folder is removed by the next build.
- The manifest (storage.py) names the model, the index type, counts, each source file's hash,
  the build time and the calibrated answer threshold (calibration.py).
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from botsvc.embedding import Embedder
from botsvc.kb.calibration import calibrate
from botsvc.kb.ingest import Chunk, KbSources, hash_sources, load_sources
from botsvc.kb.lexical import K1, B, LexicalIndex
from botsvc.kb.retrieval import DENSE_WEIGHT, KnowledgeBase
from botsvc.kb.storage import (
    FORMAT,
    PIPELINE,
    read_index_files,
    read_manifest,
    sync_tree,
    write_index_files,
    write_manifest,
)
from botsvc.kb.vectors import EXACT_LIMIT, VectorIndex

log = logging.getLogger(__name__)
ENCODE_BATCH = 64
# An index is rebuilt when any of what shapes its vectors, scores or threshold changes.
PIPELINE_ID = f"{PIPELINE};fusion=weighted:{DENSE_WEIGHT};bm25={K1},{B}"


@dataclass(frozen=True)
class BuildReport:
    index_dir: Path
    up_to_date: bool  # nothing had changed: the index was left untouched
    files: int
    chunks: int
    vectors: int
    embedded: int  # texts encoded by this build
    reused: int  # vectors copied from the previous index
    dropped: int  # vectors of the previous index that no chunk needs any more
    duplicates: int  # identical chunks kept once
    index_type: str
    threshold: float
    seconds: float
    encode_seconds: float

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        if self.up_to_date:
            return f"{self.index_dir}: up to date ({self.chunks} chunks, {self.vectors} vectors)"
        return (
            f"{self.index_dir}: {self.chunks} chunks from {self.files} files, {self.vectors} "
            f"vectors ({self.embedded} embedded, {self.reused} reused, {self.dropped} dropped), "
            f"{self.duplicates} duplicates skipped, {self.index_type}, answer threshold "
            f"{self.threshold:.3f}, {self.seconds:.1f} s"
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
) -> BuildReport:
    """Builds (or brings up to date) the index of `kb_dir` in `index_dir`.

    :raises ProjectError: a knowledge-base file is invalid (nothing is written).
    :raises ConfigError: `kb_dir` does not exist.
    """
    started = time.perf_counter()
    model_id = embedder.model_id
    if not force and index_is_current(kb_dir, index_dir, model_id):
        return _unchanged_report(index_dir, started)
    sources = load_sources(kb_dir)
    chunks = list(sources.chunks)
    texts_by_chunk = [dense_texts(c) for c in chunks]
    vectors = _embed(texts_by_chunk, index_dir, embedder, progress=progress)
    dense = VectorIndex.build(vectors.matrix, exact_limit=exact_limit)
    lexical = LexicalIndex.build([lexical_text(c) for c in chunks])
    manifest = _manifest(sources, vectors, dense, model_id)
    with _staging(index_dir) as staging:
        write_index_files(
            staging,
            chunks=chunks,
            row_counts=[len(ts) for ts in texts_by_chunk],
            row_hashes=vectors.hashes,
            dense=dense,
            lexical=lexical,
        )
        write_manifest(staging, manifest)
        calibration = calibrate(KnowledgeBase.load(staging, model_id=model_id), embedder)
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
        vectors=len(vectors.hashes),
        embedded=vectors.embedded,
        reused=vectors.reused,
        dropped=vectors.dropped,
        duplicates=sources.duplicates,
        index_type=dense.kind,
        threshold=calibration.threshold,
        seconds=time.perf_counter() - started,
        encode_seconds=vectors.encode_seconds,
    )


@dataclass(frozen=True)
class _Embedded:
    matrix: np.ndarray  # one row per text, in chunk order
    hashes: list[str]
    embedded: int  # distinct texts encoded now
    reused: int  # rows whose vector came from the previous index
    dropped: int  # vectors of the previous index no longer needed
    encode_seconds: float


def _embed(
    texts_by_chunk: list[list[str]], index_dir: Path, embedder: Embedder, *, progress: bool
) -> _Embedded:
    """Vectors for every text: copied from the previous index when the text is unchanged,
    encoded otherwise (each distinct text once)."""
    texts = [t for ts in texts_by_chunk for t in ts]
    hashes = [text_hash(t) for t in texts]
    previous = _previous_vectors(index_dir, embedder.model_id)
    todo = list(dict.fromkeys(t for t, h in zip(texts, hashes, strict=True) if h not in previous))
    started = time.perf_counter()
    fresh = _encode(embedder, todo, progress=progress)
    encode_seconds = time.perf_counter() - started
    by_hash = {text_hash(t): v for t, v in zip(todo, fresh, strict=True)}
    rows = [previous[h] if h in previous else by_hash[h] for h in hashes]
    return _Embedded(
        matrix=np.stack(rows).astype(np.float32),
        hashes=hashes,
        embedded=len(todo),
        reused=sum(h in previous for h in hashes),
        dropped=len(set(previous) - set(hashes)),
        encode_seconds=encode_seconds,
    )


def _manifest(
    sources: KbSources, vectors: _Embedded, dense: VectorIndex, model_id: str
) -> dict[str, Any]:
    chunks = sources.chunks
    return {
        "format": FORMAT,
        "pipeline": PIPELINE_ID,
        "build_id": uuid.uuid4().hex,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_id": model_id,
        "dimensions": int(vectors.matrix.shape[1]),
        "index_type": dense.kind,
        "counts": {
            "files": len(sources.file_hashes),
            "chunks": len(chunks),
            "passages": sum(c.kind == "passage" for c in chunks),
            "faqs": sum(c.kind == "faq" for c in chunks),
            "vectors": len(vectors.hashes),
            "duplicates_skipped": sources.duplicates,
        },
        "sources": sources.file_hashes,
        "retrieval": {
            "fusion": "weighted",
            "dense_weight": DENSE_WEIGHT,
            "bm25": {"k1": K1, "b": B},
        },
        "build": {
            "embedded": vectors.embedded,
            "reused": vectors.reused,
            "encode_seconds": round(vectors.encode_seconds, 3),
        },
    }


def dense_texts(chunk: Chunk) -> list[str]:
    """What is embedded for a chunk. A passage: its title and section path, then its text. An
    FAQ: each phrasing of its question followed by the answer (question and answer embedded
    together beat separate question and answer vectors on the dev FAQ set; bench/results/kb.md)."""
    if chunk.kind == "faq" and chunk.question:
        return [f"{q}\n{chunk.text}" for q in (chunk.question, *chunk.alt_questions)]
    heading = f"{chunk.title} - {chunk.section}" if chunk.section else chunk.title
    return [f"{heading}\n{chunk.text}"]


def lexical_text(chunk: Chunk) -> str:
    """What BM25 indexes: an FAQ's question phrasings only (its answer's words drown the
    question's on the dev set), a passage's title, section path and text."""
    if chunk.kind == "faq" and chunk.question:
        return " ".join((chunk.question, *chunk.alt_questions))
    return f"{chunk.title} {chunk.section} {chunk.text}"


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
    )


def _previous_vectors(index_dir: Path, model_id: str) -> dict[str, np.ndarray]:
    """text hash -> vector, from the index being replaced when it used the same model."""
    manifest = read_manifest(index_dir)
    if not manifest or manifest.get("model_id") != model_id:
        return {}
    try:
        files = read_index_files(index_dir, model_id=model_id)
    except Exception as exc:  # a damaged old index only costs us the reuse
        log.warning("not reusing vectors from %s: %s", index_dir, exc)
        return {}
    vectors = files.dense.all_vectors()
    return dict(zip(files.row_hashes, vectors, strict=True))


def _encode(embedder: Embedder, texts: list[str], *, progress: bool) -> list[np.ndarray]:
    """Encodes longest-first in batches (similar lengths pad less), with a progress bar."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out: list[np.ndarray] = [np.empty(0, np.float32)] * len(texts)
    with _progress_bar(len(texts), enabled=progress) as advance:
        for start in range(0, len(order), ENCODE_BATCH):
            batch = order[start : start + ENCODE_BATCH]
            vectors = embedder.encode([texts[i] for i in batch], batch_size=ENCODE_BATCH)
            for i, vector in zip(batch, vectors, strict=True):
                out[i] = vector
            advance(len(batch))
    return out


@contextmanager
def _progress_bar(total: int, *, enabled: bool) -> Iterator[Callable[[int], None]]:
    if not enabled or total == 0:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("embedding chunks", total=total)
        yield lambda n: bar.advance(task, n)


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
