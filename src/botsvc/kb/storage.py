"""The on-disk layout of `kb_index/`, written by `index.build_index` and read by
`KnowledgeBase.load`:

    manifest.json   format, model id and dimensions, counts, source hashes, build time, index
                    type, retrieval settings and the calibrated answer threshold; written last
    chunks.jsonl    one chunk per line, with the number of vectors it owns
    rows.json       each vector row's text hash (what lets a rebuild reuse it)
    dense.faiss     the FAISS index (FAISS's own format)
    lexical/        the bm25s index (JSON and .npy; no pickle)
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from botsvc.errors import ConfigError
from botsvc.kb.ingest import Chunk
from botsvc.kb.lexical import LexicalIndex
from botsvc.kb.vectors import IndexKind, VectorIndex

FORMAT = 1
# Bump when chunking or what is embedded changes, so `index_is_current` asks for a rebuild.
PIPELINE = "chunks-900/220;faq=q+a;passage=title+section+text;lex=q|title+section+text;v1"
MANIFEST = "manifest.json"
REBUILD_HINT = "run `botsvc kb build`"


@dataclass(frozen=True)
class IndexFiles:
    manifest: dict[str, Any]
    chunks: tuple[Chunk, ...]
    row_hashes: tuple[str, ...]
    row_chunk: npt.NDArray[np.int32]
    chunk_rows: npt.NDArray[np.int64]
    dense: VectorIndex
    lexical: LexicalIndex


def read_manifest(index_dir: Path) -> dict[str, Any] | None:
    """The manifest, or None when there is no complete index in `index_dir`."""
    try:
        data = json.loads((index_dir / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_index_files(index_dir: Path, *, model_id: str) -> IndexFiles:
    """Reads a whole index, checking that it was built with `model_id`.

    :raises ConfigError: missing, unreadable, of another format, or of another model.
    """
    manifest = read_manifest(index_dir)
    if manifest is None:
        raise ConfigError(f"no knowledge-base index in {index_dir}; {REBUILD_HINT}")
    if manifest.get("format") != FORMAT:
        raise ConfigError(
            f"the knowledge-base index in {index_dir} has format {manifest.get('format')}, "
            f"this botsvc reads format {FORMAT}; {REBUILD_HINT}"
        )
    if manifest.get("model_id") != model_id:
        raise ConfigError(
            f"the knowledge-base index in {index_dir} was built with the model "
            f"{manifest.get('model_id')!r}, but the service uses {model_id!r}; {REBUILD_HINT}"
        )
    try:
        files = _read_files(index_dir, manifest)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"the knowledge-base index in {index_dir} is damaged ({exc}); {REBUILD_HINT}"
        ) from exc
    if read_manifest(index_dir) != manifest:  # swapped by a build while we read: read again
        return read_index_files(index_dir, model_id=model_id)
    return files


def _read_files(index_dir: Path, manifest: dict[str, Any]) -> IndexFiles:
    chunks: list[Chunk] = []
    counts: list[int] = []
    with open(index_dir / "chunks.jsonl", encoding="utf-8") as fh:
        for line in fh:
            chunk, count = chunk_from_json(line)
            chunks.append(chunk)
            counts.append(count)
    hashes = tuple(json.loads((index_dir / "rows.json").read_text("utf-8"))["hashes"])
    kind: IndexKind = manifest["index_type"]
    dense = VectorIndex.load(index_dir / "dense.faiss", kind)
    lexical = LexicalIndex.load(index_dir / "lexical")
    chunk_rows = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)
    row_chunk = np.repeat(np.arange(len(chunks), dtype=np.int32), counts)
    if not (len(hashes) == dense.count == int(chunk_rows[-1]) and lexical.num_docs == len(chunks)):
        raise ValueError("the files disagree on the number of chunks or vectors")
    for array in (chunk_rows, row_chunk):
        array.setflags(write=False)
    return IndexFiles(manifest, tuple(chunks), hashes, row_chunk, chunk_rows, dense, lexical)


def write_index_files(
    folder: Path,
    *,
    chunks: list[Chunk],
    row_counts: list[int],
    row_hashes: list[str],
    dense: VectorIndex,
    lexical: LexicalIndex,
) -> None:
    """Writes everything but the manifest into `folder` (a fresh temporary folder)."""
    with open(folder / "chunks.jsonl", "w", encoding="utf-8") as fh:
        for chunk, count in zip(chunks, row_counts, strict=True):
            fh.write(chunk_to_json(chunk, count) + "\n")
    (folder / "rows.json").write_text(json.dumps({"hashes": row_hashes}), "utf-8")
    dense.save(folder / "dense.faiss")
    lexical.save(folder / "lexical")


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", "utf-8")


def sync_tree(folder: Path) -> None:
    """fsync every file and folder under `folder`, so a rename after this publishes data that
    is on disk, not in the page cache."""
    for path in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
        _fsync(path)
    _fsync(folder)


def _fsync(path: Path) -> None:
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def chunk_to_json(chunk: Chunk, vectors: int) -> str:
    data = dataclasses.asdict(chunk)
    data["vectors"] = vectors
    return json.dumps(data, ensure_ascii=False)


def chunk_from_json(line: str) -> tuple[Chunk, int]:
    data = json.loads(line)
    count = int(data.pop("vectors"))
    data["tags"] = tuple(data.get("tags") or ())
    data["alt_questions"] = tuple(data.get("alt_questions") or ())
    return Chunk(**data), count
