"""The two legs of the intent classifier and the numeric helpers they share.

Leg one is a multinomial logistic regression on the frozen sentence embedding; leg two is a
logistic regression on character n-gram TF-IDF (``char_wb``, 2-5), which catches product names,
misspellings and codes that a small sentence encoder blurs. Both are plain arrays once fitted, so
an artefact is JSON plus ``.npy`` files and inference is a few matrix products.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

FloatArray = npt.NDArray[np.float64]
NGRAM_RANGE = (2, 5)
C_REGULARISATION = 10.0
MAX_NGRAMS: int | None = 5000  # bounds the char head at (intents x 5000) weights


@dataclass
class CharNgrams:
    """Character n-gram TF-IDF (sublinear tf, smooth idf, l2 rows), as sklearn computes it."""

    vocabulary: dict[str, int]
    idf: FloatArray

    @classmethod
    def fit(cls, texts: Sequence[str]) -> CharNgrams:
        analyse = _analyser()
        df: Counter[str] = Counter()
        for text in texts:
            df.update(set(analyse(text)))
        grams = sorted(df)
        if MAX_NGRAMS is not None and len(grams) > MAX_NGRAMS:
            # the most frequent n-grams (ties in name order); rare ones cost weights, add little
            grams = sorted(sorted(grams, key=lambda g: (-df[g], g))[:MAX_NGRAMS])
        vocabulary = {g: i for i, g in enumerate(grams)}
        counts = np.array([df[g] for g in grams], dtype=np.float64)
        idf = np.log((1.0 + len(texts)) / (1.0 + counts)) + 1.0
        return cls(vocabulary=vocabulary, idf=idf)

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        analyse = _analyser()
        data: list[float] = []
        indices: list[int] = []
        indptr = [0]
        for text in texts:
            counts = Counter(g for g in analyse(text) if g in self.vocabulary)
            cols = [self.vocabulary[g] for g in counts]
            vals = np.array([1.0 + math.log(c) for c in counts.values()]) * self.idf[cols]
            norm = float(np.linalg.norm(vals)) if len(vals) else 0.0
            data.extend((vals / norm).tolist() if norm else [])
            indices.extend(cols if norm else [])
            indptr.append(len(indices))
        shape = (len(texts), len(self.vocabulary))
        return csr_matrix((data, indices, indptr), shape=shape, dtype=np.float64)


@functools.cache
def _analyser() -> Callable[[str], list[str]]:
    analyse: Callable[[str], list[str]] = TfidfVectorizer(
        analyzer="char_wb", ngram_range=NGRAM_RANGE
    ).build_analyzer()
    return analyse


@dataclass
class LinearLeg:
    """A fitted softmax-regression head: ``logits = X @ coef.T + bias`` over ``n_classes``."""

    coef: FloatArray
    bias: FloatArray

    def __post_init__(self) -> None:
        # Kept transposed and contiguous: sparse @ dense.T would copy the matrix on every call.
        self._coef_t = np.ascontiguousarray(self.coef.T)

    def logits(self, features: FloatArray | csr_matrix) -> FloatArray:
        return np.asarray(features @ self._coef_t, dtype=np.float64) + self.bias


def fit_leg(
    features: FloatArray | csr_matrix, labels: npt.NDArray[np.int64], n_classes: int
) -> LinearLeg:
    """Fits one multinomial logistic regression; classes absent from ``labels`` never win."""
    present = np.unique(labels)
    coef = np.zeros((n_classes, features.shape[1]))
    bias = np.full(n_classes, -30.0)
    if len(present) == 1:
        bias[present[0]] = 0.0
        return LinearLeg(coef=coef, bias=bias)
    # One BLAS thread: on 2 cores, more threads make these small fits several times slower.
    with threadpool_limits(1):
        model = LogisticRegression(C=C_REGULARISATION, max_iter=3000).fit(features, labels)
    if len(present) == 2:  # sklearn returns one row, the logit of the second class
        coef[model.classes_] = np.vstack([-model.coef_[0] / 2, model.coef_[0] / 2])
        bias[model.classes_] = np.array([-model.intercept_[0] / 2, model.intercept_[0] / 2])
    else:
        coef[model.classes_] = model.coef_
        bias[model.classes_] = model.intercept_
    return LinearLeg(coef=coef, bias=bias)


def softmax(logits: FloatArray) -> FloatArray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def log_softmax(logits: FloatArray) -> FloatArray:
    z = logits - logits.max(axis=-1, keepdims=True)
    return np.asarray(z - np.log(np.exp(z).sum(axis=-1, keepdims=True)))


def combine(emb_logits: FloatArray, char_logits: FloatArray | None) -> FloatArray:
    """Log-probabilities: the embedding leg alone, or the mean probability of both legs."""
    if char_logits is None:
        return log_softmax(emb_logits)
    mean = (softmax(emb_logits) + softmax(char_logits)) / 2.0
    return np.asarray(np.log(np.clip(mean, 1e-300, None)))
