"""The dense leg's FAISS index: its type follows the collection's size.

- Up to `EXACT_LIMIT` vectors: exact inner-product search over float16 codes
  (`IndexScalarQuantizer(QT_fp16)`). Half the memory of float32 and, being memory-bound, about
  twice as fast for one query on this machine (100k x 384: 11.6 ms against 23 ms p50); the
  cosines move by under 1e-3.
- Beyond: HNSW over the same float16 codes (`IndexHNSWSQ`, M=32, efConstruction=64,
  efSearch=192): recall@10 0.97 against exact search at 1M vectors, under a millisecond a query
  at the median, 1.04 GB for 1M x 384 (float32 HNSW would take about 1.8 GB). efSearch=96 gave
  only 0.93 there (bench/results/kb.md).

Vectors are L2-normalised, so inner product is cosine similarity. Row i of the index is row i of
the vectors it was built from.

What is embedded for a chunk (`dense_texts`, `title_texts`) is decided here too: its body, which
the index searches, and its titles, which are scored beside it (retrieval.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import faiss
import numpy as np
import numpy.typing as npt

from botsvc.errors import ConfigError
from botsvc.kb.ingest import Chunk

IndexKind = Literal["flat-fp16", "hnsw-fp16"]
EXACT_LIMIT = 100_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 192

Matrix = npt.NDArray[np.float32]


def dense_texts(chunk: Chunk) -> list[str]:
    """A chunk's body vectors. An FAQ: each phrasing of its question followed by the answer
    (question and answer embedded together beat separate question and answer vectors on the
    dev FAQ set; bench/results/kb.md). A passage: its text under the article title and the
    headings above its own; its own heading is its title vector's, so that each says one
    thing and a build can leave the heading out of both when it asks the heading as a query."""
    if chunk.kind == "faq" and chunk.question:
        return [f"{q}\n{chunk.text}" for q in (chunk.question, *chunk.alt_questions)]
    parents = " > ".join(chunk.section.split(" > ")[:-1])
    heading = f"{chunk.title} - {parents}" if parents else chunk.title
    return [f"{heading}\n{chunk.text}"]


def title_texts(chunk: Chunk, *, opens_article: bool = False) -> list[str]:
    """A chunk's title vectors (one at least): a passage's heading path under its article
    title, and the article title alone when the chunk `opens_article` (`openings`); an FAQ's
    phrasings alone, and its title when that is something else."""
    if chunk.kind == "faq" and chunk.question:
        phrasings = [chunk.question, *chunk.alt_questions]
        folded = {p.casefold() for p in phrasings}
        return phrasings + ([chunk.title] if chunk.title.casefold() not in folded else [])
    if not chunk.section:
        return [chunk.title]
    path = f"{chunk.title} > {chunk.section}"
    return [path, chunk.title] if opens_article else [path]


def openings(chunks: Sequence[Chunk]) -> list[bool]:
    """Which chunks open an article that has no lead text: the runs of its first section.

    An article's title names what the article answers, and its opening answers it. Lead text
    (before any heading) has the article title as its title already; an article that starts
    with a heading at once opens with that first section, which gets the article title as a
    title of its own too ("how do I reset my password?" then finds "How to reset your password >
    If you've forgotten your password" before the later section on changing it while signed
    in; bench/results/kb.md)."""
    first: dict[str, str] = {}
    for chunk in chunks:
        if chunk.kind == "passage":
            first.setdefault(chunk.doc_id, chunk.section)
    return [
        c.kind == "passage" and c.section != "" and first.get(c.doc_id) == c.section for c in chunks
    ]


def kind_for(count: int, *, exact_limit: int = EXACT_LIMIT) -> IndexKind:
    return "flat-fp16" if count <= exact_limit else "hnsw-fp16"


class VectorIndex:
    """A FAISS index plus the search parameters it needs; read-only once built or loaded."""

    def __init__(self, index: object, kind: IndexKind, *, ef_search: int = HNSW_EF_SEARCH) -> None:
        assert isinstance(index, faiss.Index)
        self._index = index
        self.kind: IndexKind = kind
        self.dimensions = int(index.d)
        self._params: faiss.SearchParameters | None = None
        if kind == "hnsw-fp16":
            self._params = faiss.SearchParametersHNSW(efSearch=ef_search)  # type: ignore[attr-defined]

    def with_ef_search(self, ef_search: int) -> VectorIndex:
        """The same index searched with another HNSW efSearch (benchmarks, tuning)."""
        return VectorIndex(self._index, self.kind, ef_search=ef_search)

    @property
    def count(self) -> int:
        return int(self._index.ntotal)

    @classmethod
    def build(
        cls, vectors: Matrix, *, exact_limit: int = EXACT_LIMIT, ef_search: int = HNSW_EF_SEARCH
    ) -> VectorIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        count, dims = vectors.shape
        kind = kind_for(count, exact_limit=exact_limit)
        fp16 = faiss.ScalarQuantizer.QT_fp16
        index: faiss.Index
        if kind == "flat-fp16":
            index = faiss.IndexScalarQuantizer(dims, fp16, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexHNSWSQ(dims, fp16, HNSW_M, faiss.METRIC_INNER_PRODUCT)  # type: ignore[arg-type]
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.train(vectors[: min(count, 10_000)])  # fp16 needs no statistics; cheap
        index.add(vectors)
        return cls(index, kind, ef_search=ef_search)

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, kind: IndexKind) -> VectorIndex:
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:  # faiss reports unreadable files as RuntimeError
            raise ConfigError(f"cannot read the vector index {path}: {exc}") from exc
        return cls(index, kind)

    def search(
        self, vector: Matrix, k: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """The `k` nearest rows to one query vector: (scores, rows), best first; rows may hold
        -1 when fewer than `k` exist."""
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        k = max(1, min(k, self.count))
        if self._params is not None:
            scores, rows = self._index.search(query, k, params=self._params)
        else:
            scores, rows = self._index.search(query, k)
        return scores[0], rows[0]

    def vectors(self, rows: npt.NDArray[np.int64]) -> Matrix:
        """The stored (float16-rounded) vectors of `rows`."""
        if len(rows) == 0:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.asarray(self._index.reconstruct_batch(np.asarray(rows, dtype=np.int64)))

    def all_vectors(self) -> Matrix:
        if self.count == 0:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.asarray(self._index.reconstruct_n(0, self.count))


class ChunkVectors:
    """Vectors that are scored only for chunks already picked by a search, never searched
    themselves: each chunk's title vectors (retrieval.py). Kept as float16, the same rounding as
    the searched index, in rows grouped by chunk: chunk i owns rows offsets[i]:offsets[i + 1],
    at least one each. `hashes` names each row's text, so that a rebuild can reuse it.

    On disk: `<name>.npy` (the matrix, no pickle) and `<name>.json` (rows per chunk, hashes).
    """

    def __init__(
        self, matrix: npt.NDArray[np.float16], counts: list[int], hashes: list[str]
    ) -> None:
        offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)
        if int(offsets[-1]) != len(matrix) or len(hashes) != len(matrix) or min(counts) < 1:
            raise ValueError("every chunk needs at least one row, and the rows must all be owned")
        self._matrix = np.asarray(matrix, dtype=np.float16)
        self.offsets = offsets
        self.counts = list(counts)
        self.hashes = tuple(hashes)
        for array in (self._matrix, self.offsets):
            array.setflags(write=False)

    @property
    def count(self) -> int:
        return len(self._matrix)

    def rows(self, row_ids: npt.NDArray[np.int64]) -> Matrix:
        return np.asarray(self._matrix[row_ids], dtype=np.float32)

    def all_vectors(self) -> Matrix:
        return np.asarray(self._matrix, dtype=np.float32)

    def best_cosines(self, chunks: npt.NDArray[np.int64], vector: Matrix) -> Matrix:
        """For each of `chunks`, its best cosine with `vector` (max over its rows)."""
        if len(chunks) == 0:
            return np.zeros(0, dtype=np.float32)
        rows, starts = spans(self.offsets, chunks)
        sims = self.rows(rows) @ np.asarray(vector, dtype=np.float32).reshape(-1)
        best: Matrix = np.maximum.reduceat(sims, starts)
        return best

    def save(self, folder: Path, name: str) -> None:
        with open(folder / f"{name}.npy", "wb") as fh:
            np.save(fh, self._matrix, allow_pickle=False)
        meta = {"counts": self.counts, "hashes": list(self.hashes)}
        (folder / f"{name}.json").write_text(json.dumps(meta), "utf-8")

    @classmethod
    def load(cls, folder: Path, name: str) -> ChunkVectors:
        """:raises OSError, ValueError, KeyError: missing or damaged files."""
        meta = json.loads((folder / f"{name}.json").read_text("utf-8"))
        matrix = np.load(folder / f"{name}.npy", allow_pickle=False)
        return cls(matrix, [int(c) for c in meta["counts"]], [str(h) for h in meta["hashes"]])


def spans(
    offsets: npt.NDArray[np.int64], chunks: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The rows of `chunks` (each chunk's rows offsets[c]:offsets[c + 1], one after the other),
    and where each chunk's run starts in that list; every chunk must own a row."""
    first = offsets[chunks]
    lengths = offsets[chunks + 1] - first
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    rows = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(starts - first, lengths)
    return rows, starts
