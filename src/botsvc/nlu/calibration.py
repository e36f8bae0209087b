"""Calibration of the intent classifier, fitted at training time on the training data alone.

Customers ask things no intent covers, and the training data has no such examples. So training
simulates them: the intents are split into groups, and for each group a model is trained without
those intents (and without a fifth of the remaining examples). The hidden intents' examples play
the out-of-scope messages, the held-out examples the in-scope ones. From these rounds:

1. a **temperature** is fitted on the held-out in-scope examples (it rescales the ranking so that
   its probabilities match how often the classifier is right), and
2. a small logistic **correctness model** is fitted on three signals of the top intent: its log
   probability, its margin over the runner-up, and the cosine between the message and the
   nearest training example of that intent. Its output is the confidence: the probability that
   the top intent is right and the message is in scope, with in-scope and out-of-scope weighted
   equally.
3. the **out-of-scope cut** on that confidence: 0.5, lowered to reject at most 2% of the
   held-out messages the classifier got right, never below 0.25 nor 7.5 times chance (see
   decision_threshold), so that the decision does not grow more timid as intents are added.
   Nothing is tuned by the user.

Serving imports this module for :class:`Calibration`; sklearn, scipy and threadpoolctl are
imported by the fitting functions only (training time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from botsvc.nlu.features import CharNgrams, FloatArray, combine, fit_leg, log_softmax, softmax

THRESHOLD = 0.5
MAX_RIGHT_REJECTED = 0.02  # of the simulated right answers, at most this share is rejected
MIN_THRESHOLD = 0.25  # ...but the cut never goes below this (few-shot bots: see BENCHMARKS.md)
FLOOR_IN_CHANCES = 7.5  # ...or below this many times chance (1 / intents), if that is lower
MAX_GROUPS = 5
HOLDOUT_SHARE = 0.2
Labels = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Calibration:
    """Temperature for the ranking, and the correctness model that gives the confidence."""

    temperature: float
    weights: tuple[float, float, float]  # on (log p_top, p_top - p_second, max cosine)
    bias: float
    fitted: bool = True  # False when the data was too small to learn it: confidence = p_top

    def confidence(self, probs: FloatArray, max_cosine: FloatArray) -> FloatArray:
        """Probability that each row's top intent is right and the message in scope."""
        if not self.fitted:
            return np.asarray(probs.max(axis=-1))
        z = correctness_features(probs, max_cosine) @ np.array(self.weights) + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-z)))


def correctness_features(probs: FloatArray, max_cosine: FloatArray) -> FloatArray:
    ordered = np.sort(np.atleast_2d(probs), axis=-1)
    top = ordered[:, -1]
    second = ordered[:, -2] if ordered.shape[1] > 1 else np.zeros_like(top)
    return np.column_stack([np.log(np.clip(top, 1e-12, None)), top - second, max_cosine])


def max_cosine(
    vectors: FloatArray, train_vectors: FloatArray, train_labels: Labels, predicted: Labels
) -> FloatArray:
    """For each row, the cosine to the nearest training example of its predicted intent."""
    sims = np.atleast_2d(vectors) @ train_vectors.T
    sims = np.where(train_labels[None, :] == np.asarray(predicted)[:, None], sims, -1.0)
    return np.asarray(sims.max(axis=1), dtype=np.float64)


@dataclass(frozen=True)
class CalibrationResult:
    with_text: Calibration  # both legs (the parser's path)
    vector_only: Calibration  # embedding leg alone, for callers that only have a vector
    stats: dict[str, float]
    threshold: float = THRESHOLD  # the out-of-scope cut on confidence (see decision_threshold)


@dataclass
class _Round:
    """Log-probabilities and signals from one simulated round, for one way of classifying."""

    log_probs: list[FloatArray]
    cosines: list[FloatArray]
    correct: list[npt.NDArray[np.bool_]]
    in_scope: list[npt.NDArray[np.bool_]]
    labels: list[Labels]


@dataclass(frozen=True)
class Copies:
    """Augmented copies of training rows (nlu/augment.py): they train with their source row and
    are never scored, so a copy cannot leak a held-out example into a round's training."""

    texts: Sequence[str]
    vectors: FloatArray
    sources: npt.NDArray[np.int64]  # the row each copy was made from

    @classmethod
    def none(cls, dimensions: int) -> Copies:
        return cls([], np.zeros((0, dimensions)), np.zeros(0, dtype=np.int64))


def calibrate(
    texts: Sequence[str],
    vectors: FloatArray,
    labels: Labels,
    n_classes: int,
    *,
    copies: Copies | None = None,
    seed: int = 0,
) -> CalibrationResult:
    """Runs the simulated rounds and fits both calibrations (see the module docstring)."""
    rng = np.random.default_rng(seed)
    copies = copies or Copies.none(vectors.shape[1])
    rounds = {"text": _Round([], [], [], [], []), "vector": _Round([], [], [], [], [])}
    groups = np.array_split(rng.permutation(n_classes), min(MAX_GROUPS, n_classes))
    for hidden in groups:
        _simulate(texts, vectors, labels, n_classes, hidden, rng, rounds, copies)
    with_text = _fit(rounds["text"])
    vector_only = _fit(rounds["vector"])
    threshold = decision_threshold(rounds["text"], with_text, n_classes)
    stats = _stats(rounds["text"], with_text, threshold)
    return CalibrationResult(with_text, vector_only, stats, threshold)


def decision_threshold(r: _Round, cal: Calibration, n_classes: int) -> float:
    """The confidence below which a message is out of scope: 0.5, lowered where that would
    reject more than MAX_RIGHT_REJECTED of the held-out messages the classifier got right, and
    never below a floor: MIN_THRESHOLD, or FLOOR_IN_CHANCES times chance for more than 30
    intents.

    Rejecting a wrong answer costs little (a fallback instead of a wrong flow); rejecting a right
    one turns a served customer away. The more intents, the lower the confidence of a right
    answer, so a fixed cut grows more timid with size; a cut at a share of the right answers
    rejects about the same share for 5 intents or 200. The floor keeps few-shot bots, whose right
    answers are rarely confident, from letting every out-of-scope message through; it falls with
    the number of intents for the same reason, else it alone would grow timid with size."""
    if not r.log_probs or not cal.fitted:
        return THRESHOLD
    probs = softmax(np.vstack(r.log_probs) / cal.temperature)
    conf = cal.confidence(probs, np.concatenate(r.cosines))
    right = conf[np.concatenate(r.correct)]
    if len(right) == 0:
        return THRESHOLD
    cut = float(np.quantile(right, MAX_RIGHT_REJECTED))
    floor = min(MIN_THRESHOLD, FLOOR_IN_CHANCES / n_classes)
    return round(min(THRESHOLD, max(floor, cut)), 3)


def _simulate(
    texts: Sequence[str],
    vectors: FloatArray,
    labels: Labels,
    n_classes: int,
    hidden: Labels,
    rng: np.random.Generator,
    rounds: dict[str, _Round],
    copies: Copies,
) -> None:
    is_hidden = np.isin(labels, hidden)
    held = _holdout(labels, is_hidden, rng)
    train = ~is_hidden & ~held
    if not train.any():
        return
    kept = train[copies.sources] if len(copies.sources) else np.zeros(0, dtype=bool)
    train_texts = [t for t, keep in zip(texts, train, strict=True) if keep]
    train_texts += [t for t, keep in zip(copies.texts, kept, strict=True) if keep]
    train_vectors = np.vstack([vectors[train], copies.vectors[kept]])
    train_labels = np.concatenate([labels[train], labels[copies.sources[kept]]])
    ngrams = CharNgrams.fit(train_texts)
    emb_leg = fit_leg(train_vectors, train_labels, n_classes)
    char_leg = fit_leg(ngrams.transform(train_texts), train_labels, n_classes)
    test = held | is_hidden
    test_texts = [t for t, keep in zip(texts, test, strict=True) if keep]
    emb_logits = emb_leg.logits(vectors[test])
    char_logits = char_leg.logits(ngrams.transform(test_texts))
    for mode, log_probs in (
        ("text", combine(emb_logits, char_logits)),
        ("vector", combine(emb_logits, None)),
    ):
        predicted = log_probs.argmax(axis=1)
        r = rounds[mode]
        r.log_probs.append(log_probs)
        r.cosines.append(max_cosine(vectors[test], train_vectors, train_labels, predicted))
        r.correct.append((predicted == labels[test]) & ~is_hidden[test])
        r.in_scope.append(~is_hidden[test])
        r.labels.append(labels[test])


def _holdout(
    labels: Labels, is_hidden: npt.NDArray[np.bool_], rng: np.random.Generator
) -> npt.NDArray[np.bool_]:
    """About a fifth of each visible intent's examples (at least one when it has two or more)."""
    held = np.zeros(len(labels), dtype=bool)
    for cls in np.unique(labels[~is_hidden]):
        rows = np.flatnonzero(labels == cls)
        if len(rows) >= 2:
            n = max(1, round(len(rows) * HOLDOUT_SHARE))
            held[rng.choice(rows, size=n, replace=False)] = True
    return held


def _fit(r: _Round) -> Calibration:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    if not r.log_probs:
        return Calibration(1.0, (0.0, 0.0, 0.0), 0.0, fitted=False)
    log_probs = np.vstack(r.log_probs)
    cosines, correct = np.concatenate(r.cosines), np.concatenate(r.correct)
    in_scope, labels = np.concatenate(r.in_scope), np.concatenate(r.labels)
    temperature = _temperature(log_probs[in_scope], labels[in_scope])
    if correct.all() or not correct.any():
        return Calibration(temperature, (0.0, 0.0, 0.0), 0.0, fitted=False)
    features = correctness_features(softmax(log_probs / temperature), cosines)
    with threadpool_limits(1):
        model = LogisticRegression(class_weight="balanced", C=1.0).fit(features, correct)
    w = model.coef_[0]
    return Calibration(
        temperature, (float(w[0]), float(w[1]), float(w[2])), float(model.intercept_[0])
    )


def _temperature(log_probs: FloatArray, labels: Labels) -> float:
    from scipy.optimize import minimize_scalar

    if len(labels) == 0:
        return 1.0
    rows = np.arange(len(labels))

    def nll(t: float) -> float:
        return float(-log_softmax(log_probs / t)[rows, labels].mean())

    result = minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded")
    return float(result.x)


def _stats(r: _Round, cal: Calibration, threshold: float) -> dict[str, float]:
    """How the calibrated model did in the simulation, at its threshold."""
    if not r.log_probs:
        return {}
    probs = softmax(np.vstack(r.log_probs) / cal.temperature)
    conf = cal.confidence(probs, np.concatenate(r.cosines))
    correct, in_scope = np.concatenate(r.correct), np.concatenate(r.in_scope)
    accepted = conf >= threshold
    stats = {
        "simulated_in_scope_accuracy": float((correct & accepted)[in_scope].mean()),
        "simulated_in_scope_reject_rate": float((~accepted)[in_scope].mean()),
        "threshold": threshold,
    }
    if (~in_scope).any():
        stats["simulated_oos_recall"] = float((~accepted)[~in_scope].mean())
    stats["simulated_rows"] = float(len(conf))
    return stats
