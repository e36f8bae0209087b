"""`eval kb`: retrieval quality of an index on labelled queries, for each leg side by side.

The queries file is JSONL with `query` and `relevant_ids` (chunk ids: an FAQ row's `id`, or a
passage's `file#section` id as `kb search` shows it). A query counts as answered at rank r when
the r-th hit is any of its relevant ids.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from botsvc.embedding import Embedder
from botsvc.errors import Problem, ProjectError
from botsvc.kb.retrieval import KnowledgeBase, Mode

MODES: tuple[Mode, ...] = ("dense", "lexical", "hybrid")
DEPTH = 10


@dataclass(frozen=True)
class LegScores:
    mode: Mode
    p_at_1: float
    recall_at_5: float
    mrr: float
    ndcg_at_10: float


@dataclass(frozen=True)
class LabelledQuery:
    query: str
    relevant_ids: frozenset[str]


@dataclass(frozen=True)
class KbReport:
    queries_file: str
    queries: int
    unknown_ids: int  # relevant ids that no chunk of the index has
    legs: tuple[LegScores, ...]
    answered: float  # share of queries the KB answers (clears the threshold)
    answered_correctly: float  # share answered with a relevant chunk
    threshold: float


def read_queries(path: Path) -> list[LabelledQuery]:
    """:raises ProjectError: a line that is not a JSON object with `query` and `relevant_ids`."""
    problems: list[Problem] = []
    out: list[LabelledQuery] = []
    for n, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(str(path), n, f"invalid JSON: {exc.msg}"))
            continue
        ids = row.get("relevant_ids") if isinstance(row, dict) else None
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("query"), str)
            or not (isinstance(ids, list) and ids and all(isinstance(i, str) for i in ids))
        ):
            problems.append(
                Problem(str(path), n, 'expected {"query": str, "relevant_ids": [str, ...]}')
            )
            continue
        out.append(LabelledQuery(row["query"], frozenset(ids)))
    if problems:
        raise ProjectError(problems)
    return out


def evaluate_kb(kb: KnowledgeBase, embedder: Embedder, queries_file: Path) -> KbReport:
    queries = read_queries(queries_file)
    return evaluate_queries(kb, embedder, queries, name=str(queries_file))


def evaluate_queries(
    kb: KnowledgeBase, embedder: Embedder, queries: list[LabelledQuery], *, name: str = ""
) -> KbReport:
    vectors = embedder.encode([q.query for q in queries])
    known = {c.id for c in kb.chunks}
    legs: list[LegScores] = []
    for mode in MODES:
        ranks = [
            [h.id for h in kb.search(q.query, v, top_k=DEPTH, mode=mode)]
            for q, v in zip(queries, vectors, strict=True)
        ]
        legs.append(_score(mode, ranks, [q.relevant_ids for q in queries]))
    answers = [kb.answer(q.query, v) for q, v in zip(queries, vectors, strict=True)]
    n = max(len(queries), 1)
    return KbReport(
        queries_file=name,
        queries=len(queries),
        unknown_ids=sum(len(q.relevant_ids - known) for q in queries),
        legs=tuple(legs),
        answered=sum(a is not None for a in answers) / n,
        answered_correctly=sum(
            a is not None and a.sources[0].id in q.relevant_ids
            for a, q in zip(answers, queries, strict=True)
        )
        / n,
        threshold=kb.threshold,
    )


def _score(mode: Mode, ranks: list[list[str]], relevant: list[frozenset[str]]) -> LegScores:
    n = max(len(ranks), 1)
    p1 = recall5 = mrr = ndcg = 0.0
    for ranked, rel in zip(ranks, relevant, strict=True):
        hits = [i for i, doc in enumerate(ranked) if doc in rel]
        p1 += 1.0 if hits and hits[0] == 0 else 0.0
        recall5 += len({ranked[i] for i in hits if i < 5}) / len(rel)
        mrr += 1.0 / (hits[0] + 1) if hits else 0.0
        dcg = sum(1.0 / math.log2(i + 2) for i in hits if i < DEPTH)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(rel), DEPTH)))
        ndcg += dcg / ideal
    return LegScores(mode, p1 / n, recall5 / n, mrr / n, ndcg / n)


def format_kb_report(r: KbReport) -> str:
    lines = [
        f"{r.queries} queries from {r.queries_file}",
        f"{'':8} {'P@1':>7} {'R@5':>7} {'MRR':>7} {'nDCG@10':>8}",
    ]
    for leg in r.legs:
        lines.append(
            f"{leg.mode:8} {leg.p_at_1:7.3f} {leg.recall_at_5:7.3f} {leg.mrr:7.3f} "
            f"{leg.ndcg_at_10:8.3f}"
        )
    lines.append(
        f"answered {r.answered:.1%} at threshold {r.threshold:.3f} "
        f"({r.answered_correctly:.1%} with a relevant source)"
    )
    if r.unknown_ids:
        lines.append(f"warning: {r.unknown_ids} relevant ids are not in the index")
    return "\n".join(lines)


def kb_report_as_dict(r: KbReport) -> dict[str, object]:
    return asdict(r)
