"""``botsvc eval intents``: how well the intent model does on a labelled test file.

The test file is Rasa NLU YAML or a CSV with ``text,label`` columns. Rows whose label is one of
``oos_labels`` (and not an intent the model knows) are out of scope: they count as right when
the parser answers ``nlu_fallback``. A trained off-topic intent (``out_of_scope``, ``chitchat``)
is an out-of-scope answer too, as a label and as a prediction. Per-intent figures are over the
labels in the test file.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from botsvc.domain import FALLBACK_INTENT, OFF_TOPIC_INTENTS
from botsvc.embedding import Embedder
from botsvc.errors import Problem, ProjectError
from botsvc.nlu.classifier import IntentModel
from botsvc.nlu.parser import NluParser
from botsvc.nlu.trainingdata import load_training_data

DEFAULT_OOS_LABELS = ("out_of_scope", "oos", "OOS", "NO_NODES_DETECTED", FALLBACK_INTENT)
CURVE = tuple(round(t * 0.05, 2) for t in range(20))


@dataclass(frozen=True)
class IntentStat:
    intent: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Confusion:
    expected: str
    predicted: str
    count: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class ThresholdPoint:
    threshold: float
    accuracy: float
    in_scope_accuracy: float
    in_scope_reject_rate: float  # in-scope messages answered with nlu_fallback
    oos_recall: float | None
    oos_precision: float | None


@dataclass(frozen=True)
class IntentReport:
    test_file: str
    rows: int
    in_scope_rows: int
    oos_rows: int
    threshold: float
    accuracy: float
    macro_f1: float
    in_scope_accuracy: float
    in_scope_reject_rate: float
    oos_recall: float | None
    oos_precision: float | None
    per_intent: tuple[IntentStat, ...]
    confusions: tuple[Confusion, ...]
    curve: tuple[ThresholdPoint, ...]
    unknown_labels: tuple[str, ...]  # in-scope labels the model was not trained on


def read_test_file(path: Path) -> list[tuple[str, str]]:
    """(text, label) rows from Rasa YAML (a file or folder) or a ``text,label`` CSV."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        return [(e.text, e.intent) for e in load_training_data(path).examples]
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
                raise ProjectError(
                    [
                        Problem(
                            str(path),
                            1,
                            "a CSV test file needs a header with `text` and `label` columns",
                        )
                    ]
                )
            rows = [(r["text"] or "", r["label"] or "") for r in reader]
    except OSError as exc:
        raise ProjectError([Problem(str(path), None, f"cannot be read: {exc}")]) from exc
    return [(t.strip(), lbl.strip()) for t, lbl in rows if t.strip()]


def evaluate_intents(
    *,
    model: IntentModel,
    parser: NluParser,
    embedder: Embedder,
    test_file: Path,
    oos_labels: Collection[str] = DEFAULT_OOS_LABELS,
) -> IntentReport:
    """Parses every row of ``test_file`` and scores the answers (see the module docstring)."""
    rows = read_test_file(test_file)
    if not rows:
        raise ProjectError([Problem(str(test_file), None, "holds no test examples")])
    known = set(model.intents)
    gold = [_scope(lbl) if lbl in known else _oos(lbl, oos_labels) for _, lbl in rows]
    texts = [t for t, _ in rows]
    vectors = embedder.encode(texts)
    results = [parser.parse(t, v) for t, v in zip(texts, vectors, strict=True)]
    tops = [(r.ranking[0].name, r.ranking[0].confidence) for r in results]
    predicted = [r.intent.name for r in results]
    curve = tuple(_point(gold, tops, t) for t in sorted({*CURVE, model.threshold}))
    at_threshold = _point(gold, [(p, 1.0) for p in predicted], 0.0)
    per_intent = _per_intent(gold, predicted)
    unknown = sorted({g for g in gold if g != FALLBACK_INTENT and g not in known})
    return IntentReport(
        test_file=str(test_file),
        rows=len(rows),
        in_scope_rows=sum(g != FALLBACK_INTENT for g in gold),
        oos_rows=sum(g == FALLBACK_INTENT for g in gold),
        threshold=model.threshold,
        accuracy=at_threshold.accuracy,
        macro_f1=sum(s.f1 for s in per_intent) / len(per_intent),
        in_scope_accuracy=at_threshold.in_scope_accuracy,
        in_scope_reject_rate=at_threshold.in_scope_reject_rate,
        oos_recall=at_threshold.oos_recall,
        oos_precision=at_threshold.oos_precision,
        per_intent=per_intent,
        confusions=_confusions(gold, predicted, texts),
        curve=curve,
        unknown_labels=tuple(unknown),
    )


def _scope(intent: str) -> str:
    return FALLBACK_INTENT if intent in OFF_TOPIC_INTENTS else intent


def _oos(label: str, oos_labels: Collection[str]) -> str:
    return FALLBACK_INTENT if label in oos_labels else label


def _point(
    gold: Sequence[str], tops: Sequence[tuple[str, float]], threshold: float
) -> ThresholdPoint:
    pred = [_scope(name) if conf >= threshold else FALLBACK_INTENT for name, conf in tops]
    pairs = list(zip(gold, pred, strict=True))
    in_scope = [(g, p) for g, p in pairs if g != FALLBACK_INTENT]
    oos = [(g, p) for g, p in pairs if g == FALLBACK_INTENT]
    said_oos = [(g, p) for g, p in pairs if p == FALLBACK_INTENT]
    return ThresholdPoint(
        threshold=threshold,
        accuracy=_ratio(sum(g == p for g, p in pairs), len(pairs)) or 0.0,
        in_scope_accuracy=_ratio(sum(g == p for g, p in in_scope), len(in_scope)) or 0.0,
        in_scope_reject_rate=_ratio(sum(p == FALLBACK_INTENT for _, p in in_scope), len(in_scope))
        or 0.0,
        oos_recall=_ratio(sum(p == FALLBACK_INTENT for _, p in oos), len(oos)),
        oos_precision=_ratio(sum(g == FALLBACK_INTENT for g, _ in said_oos), len(said_oos))
        if oos
        else None,
    )


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _per_intent(gold: Sequence[str], predicted: Sequence[str]) -> tuple[IntentStat, ...]:
    stats = []
    for label in sorted(set(gold)):
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        n_pred = sum(p == label for p in predicted)
        n_gold = sum(g == label for g in gold)
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        stats.append(IntentStat(label, precision, recall, f1, n_gold))
    return tuple(stats)


def _confusions(
    gold: Sequence[str], predicted: Sequence[str], texts: Sequence[str], top: int = 10
) -> tuple[Confusion, ...]:
    counts: Counter[tuple[str, str]] = Counter()
    examples: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for g, p, t in zip(gold, predicted, texts, strict=True):
        if g != p:
            counts[(g, p)] += 1
            if len(examples[(g, p)]) < 3:
                examples[(g, p)].append(t)
    return tuple(
        Confusion(g, p, n, tuple(examples[(g, p)])) for (g, p), n in counts.most_common(top)
    )


def report_as_dict(report: IntentReport) -> dict[str, Any]:
    return asdict(report)


def format_report(report: IntentReport) -> str:
    """The report as plain text for the terminal."""
    pct = _pct
    lines = [
        f"Intent evaluation of {report.test_file}: {report.rows} rows "
        f"({report.in_scope_rows} in scope, {report.oos_rows} out of scope), "
        f"threshold {report.threshold:.2f}",
        f"  accuracy           {pct(report.accuracy)}",
        f"  macro-F1           {pct(report.macro_f1)}",
        f"  in-scope accuracy  {pct(report.in_scope_accuracy)}",
        f"  in-scope rejected  {pct(report.in_scope_reject_rate)}",
    ]
    if report.oos_rows:
        lines += [
            f"  OOS recall         {pct(report.oos_recall)}",
            f"  OOS precision      {pct(report.oos_precision)}",
        ]
    if report.unknown_labels:
        lines.append(f"  labels the model does not know: {', '.join(report.unknown_labels)}")
    lines += ["", f"  {'intent':32} {'precision':>9} {'recall':>7} {'F1':>6} {'n':>5}"]
    for s in report.per_intent:
        lines.append(
            f"  {s.intent[:32]:32} {pct(s.precision):>9} {pct(s.recall):>7} "
            f"{pct(s.f1):>6} {s.support:>5}"
        )
    if report.confusions:
        lines += ["", "  top confusions (expected -> predicted):"]
        for c in report.confusions:
            lines.append(f"  {c.count:>4}  {c.expected} -> {c.predicted}   e.g. {c.examples[0]!r}")
    lines += [
        "",
        "  threshold trade-off (top confidence below the threshold -> nlu_fallback):",
        f"  {'threshold':>9} {'accuracy':>9} {'in-scope':>9} {'rejected':>9} {'OOS recall':>11} "
        f"{'OOS prec.':>10}",
    ]
    for p in report.curve:
        mark = "  <- model" if p.threshold == report.threshold else ""
        lines.append(
            f"  {p.threshold:>9.2f} {pct(p.accuracy):>9} {pct(p.in_scope_accuracy):>9} "
            f"{pct(p.in_scope_reject_rate):>9} {pct(p.oos_recall):>11} "
            f"{pct(p.oos_precision):>10}{mark}"
        )
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
