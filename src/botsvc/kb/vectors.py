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
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import faiss
import numpy as np
import numpy.typing as npt

from botsvc.errors import ConfigError

IndexKind = Literal["flat-fp16", "hnsw-fp16"]
EXACT_LIMIT = 100_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 192

Matrix = npt.NDArray[np.float32]


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
