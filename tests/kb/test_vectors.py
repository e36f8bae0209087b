from __future__ import annotations

import numpy as np

from botsvc.kb.vectors import VectorIndex


def _clustered(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    """Unit vectors around topic centres, like sentence embeddings of a help centre."""
    picks = rng.integers(0, len(centres), n)
    x = centres[picks] + rng.standard_normal((n, centres.shape[1]), dtype=np.float32) * 0.06
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_hnsw_recall_at_10_against_exact_search_is_at_least_095() -> None:
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((100, 384), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    base, queries = _clustered(10_000, rng, centres), _clustered(200, rng, centres)
    index = VectorIndex.build(base, exact_limit=1_000)
    assert index.kind == "hnsw-fp16" and index.count == 10_000
    exact = np.argsort(-(queries @ base.T), axis=1)[:, :10]
    found = [set(index.search(q, 10)[1].tolist()) for q in queries]
    recall = np.mean([len(f & set(e.tolist())) / 10 for f, e in zip(found, exact, strict=True)])
    assert recall >= 0.95


def test_small_collections_are_searched_exactly() -> None:
    rng = np.random.default_rng(1)
    base = rng.standard_normal((500, 384)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    index = VectorIndex.build(base)
    assert index.kind == "flat-fp16"
    scores, rows = index.search(base[42], 3)
    assert rows[0] == 42 and abs(scores[0] - 1.0) < 1e-3
    np.testing.assert_allclose(index.vectors(np.array([42]))[0], base[42], atol=1e-3)
