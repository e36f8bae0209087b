"""The two legs of the intent classifier and the numeric helpers they share.

Leg one is a multinomial logistic regression on the frozen sentence embedding; leg two is a
logistic regression on character n-gram TF-IDF (``char_wb``, 2-5), which catches product names,
misspellings and codes that a small sentence encoder blurs. Both are plain arrays once fitted, so
an artefact is JSON plus ``.npy`` files and inference is a few matrix products.

Serving imports this module too, so sklearn, scipy and threadpoolctl (half a second of imports)
are imported only by the training functions; the n-grams are computed here in plain Python,
exactly as sklearn's analyser computes them, so that artefacts stay valid either way.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]
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
        df: Counter[str] = Counter()
        for text in texts:
            df.update(set(char_wb_ngrams(text)))
        grams = sorted(df)
        if MAX_NGRAMS is not None and len(grams) > MAX_NGRAMS:
            # the most frequent n-grams (ties in name order); rare ones cost weights, add little
            grams = sorted(sorted(grams, key=lambda g: (-df[g], g))[:MAX_NGRAMS])
        vocabulary = {g: i for i, g in enumerate(grams)}
        counts = np.array([df[g] for g in grams], dtype=np.float64)
        idf = np.log((1.0 + len(texts)) / (1.0 + counts)) + 1.0
        return cls(vocabulary=vocabulary, idf=idf)

    def row(self, text: str) -> tuple[IndexArray, FloatArray]:
        """One text's non-zero columns and their weights (both empty when no n-gram is known):
        for one message this is all a leg needs, without building a sparse matrix."""
        vocabulary = self.vocabulary
        counts = Counter(g for g in char_wb_ngrams(text) if g in vocabulary)
        cols = np.array([vocabulary[g] for g in counts], dtype=np.intp)
        vals = np.array([1.0 + math.log(c) for c in counts.values()]) * self.idf[cols]
        norm = float(np.linalg.norm(vals)) if len(vals) else 0.0
        if not norm:
            return np.zeros(0, dtype=np.intp), np.zeros(0)
        return cols, vals / norm

    def transform(self, texts: Sequence[str]) -> csr_matrix:
        """The rows of many texts as a sparse matrix, for training (imports scipy)."""
        from scipy.sparse import csr_matrix

        data: list[float] = []
        indices: list[int] = []
        indptr = [0]
        for text in texts:
            cols, vals = self.row(text)
            data.extend(vals.tolist())
            indices.extend(cols.tolist())
            indptr.append(len(indices))
        shape = (len(texts), len(self.vocabulary))
        return csr_matrix((data, indices, indptr), shape=shape, dtype=np.float64)


_WHITE_SPACES = re.compile(r"\s\s+")


def char_wb_ngrams(text: str) -> list[str]:
    """The n-grams of sklearn's ``TfidfVectorizer(analyzer="char_wb", ngram_range=NGRAM_RANGE)``
    analyser, in its order: lower-cased, whitespace collapsed, each word padded with one space
    either side; a word shorter than n is one n-gram, and stops the longer n (sklearn's
    ``_char_wb_ngrams``). Without sklearn, serving imports in a fraction of the time."""
    min_n, max_n = NGRAM_RANGE
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        length = len(padded)
        for n in range(min_n, max_n + 1):
            if length <= n:  # the whole padded word, once
                grams.append(padded)
                break
            grams.extend(padded[i : i + n] for i in range(length - n + 1))
    return grams


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

    def row_logits(self, cols: IndexArray, vals: FloatArray) -> FloatArray:
        """The logits of one sparse row (:meth:`CharNgrams.row`), shaped (1, n_classes): only
        the rows of the weights it touches, a fraction of the cost of a scipy matrix product."""
        return np.asarray(vals @ self._coef_t[cols], dtype=np.float64)[None, :] + self.bias


def fit_leg(
    features: FloatArray | csr_matrix, labels: npt.NDArray[np.int64], n_classes: int
) -> LinearLeg:
    """Fits one multinomial logistic regression; classes absent from ``labels`` never win."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

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
