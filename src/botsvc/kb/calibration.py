"""Build-time calibration of an index on its own content: first the fusion weights, then the
answer threshold on the fused score those weights give.

Fusion weights (retrieval.py `FusionWeights`) are learnt from dev queries the KB itself
provides, each with its own chunk as the answer:

- every phrasing of an FAQ that has two or more (question and alternative questions);
- every section heading of two words or more that no other section uses.

A query must not find its answer by matching itself, so each is scored with its own phrasing
left out of its chunk: an FAQ phrasing's vectors and words go (its other phrasings and the
answer remain, which is what a customer's other wording has to match); a heading leaves the
BM25 text of its section (a passage's body vector never holds its own heading, vectors.py).

What the dev queries can show decides what is learnt:

- w, the dense leg's share: from every dev query. Heading queries are scored on the chunks'
  bodies alone (title scores replaced by body scores), because with its heading left out a
  section's title is no longer its own while every other section keeps its own: the title
  scores would be judged on a handicap that no real query has.
- the FAQ title weight: from FAQ phrasings, which leave the other phrasings' title vectors in
  place, as a customer's own wording would find them.
- the section title and lexical title weights: never learnt, for the reason above; they are
  `DEFAULT_WEIGHTS`'s, measured on labelled section questions (bench/results/kb.md).

The weights are chosen on the grid (w, FAQ title weight) by MRR at depth 10, with a guard:
the hybrid must be at least as good as the better single leg (dense alone, w=1, with its best
FAQ title weight; lexical alone, w=0) in both P@1 and MRR, give or take one query's worth of P@1
and half a query's of MRR (a small KB's dev set flips one query on a rounding of the encoder);
the legs themselves are on the grid, so when lexical clearly hurts, w goes to 1. Among choices
within half a query's worth of MRR of the best, the one nearest to `DEFAULT_WEIGHTS` wins:
smaller differences are noise, not evidence. Below `MIN_DEV_QUERIES` the KB says too little
and `DEFAULT_WEIGHTS` stay. bench/results/kb.md compares the weights learnt this way with those
chosen on labelled user queries.

The answer threshold is set from two kinds of probe scored against the new index:

- off-topic probes (`probes.py`: weather, jokes, sports, trivia, small talk...): what
  chatter that the KB should decline scores on *this* KB. Their 95th percentile plus `MARGIN`
  is the threshold, so it sits just above the best that chatter manages here;
- in-domain probes (the KB's own FAQ questions and section headings): what the KB's own
  subjects score. The threshold never exceeds `CAP_SHARE` of their 10th percentile, so that a KB
  whose subject overlaps the chatter list (a travel or weather bot) still answers its questions.

`FLOOR` keeps a tiny KB, where nothing scores much, from answering anything at all.
On CovidFAQ (bench/results/kb.md) this gives a threshold that answers most real user questions
and declines nearly all of a second, held-out off-topic list.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from botsvc.kb.ingest import Chunk
from botsvc.kb.lexical import lexical_text, lexical_title_text
from botsvc.kb.probes import OFF_TOPIC
from botsvc.kb.retrieval import DENSE_WEIGHT, FusionWeights, KnowledgeBase, ScoreParts
from botsvc.kb.vectors import title_texts

if TYPE_CHECKING:
    from botsvc.embedding import Embedder

MARGIN = 0.05
FLOOR = 0.25
CAP_SHARE = 0.75
MAX_IN_DOMAIN_PROBES = 300

# w and the FAQ title weight are defaults where a KB says too little to learn them (measured on
# the CovidFAQ dev split); the section and lexical title weights are always these (measured on
# the example bot's section questions; bench/results/kb.md), as a KB cannot show them (above).
DEFAULT_WEIGHTS = FusionWeights(
    dense=DENSE_WEIGHT, faq_title=0.0, section_title=0.5, lexical_title=0.25
)
MIN_DEV_QUERIES = 30
MAX_DEV_QUERIES = 300
DEV_DEPTH = 10  # MRR counts a hit below this rank as a miss, as `eval kb` does
DENSE_GRID = tuple(round(i * 0.05, 2) for i in range(21))  # w
FAQ_TITLE_GRID = tuple(round(i * 0.1, 1) for i in range(9))  # a for FAQs


class TextVectors:
    """The embedder's vectors, each distinct text encoded once per build: fusion learning and
    the threshold's probes ask for many of the same texts (FAQ questions, headings)."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._cache: dict[str, npt.NDArray[np.float32]] = {}

    def __call__(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            for text, vector in zip(todo, self._embedder.encode(todo), strict=True):
                self._cache[text] = np.asarray(vector, dtype=np.float32)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])


# --- fusion weights ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DevQuery:
    text: str
    relevant: tuple[int, ...]  # the chunks (indexes) whose own phrasing this is
    kind: Literal["faq", "heading"]


@dataclass(frozen=True)
class DevScores:
    p_at_1: float
    mrr: float


@dataclass(frozen=True, kw_only=True)
class FusionChoice:
    """The weights a build serves with, and the dev evidence they were chosen on."""

    weights: FusionWeights
    source: Literal["learnt", "default"]
    faq_queries: int
    heading_queries: int
    min_queries: int
    hybrid: DevScores | None = None  # the chosen weights on the dev queries
    dense: DevScores | None = None  # the best dense leg alone (w=1)
    lexical: DevScores | None = None  # the best lexical leg alone (w=0)
    default: DevScores | None = None  # DEFAULT_WEIGHTS

    @property
    def queries(self) -> int:
        return self.faq_queries + self.heading_queries

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("weights")
        data["queries"] = self.queries
        return data

    def describe(self) -> str:
        if self.source == "default":
            return f"(default: {self.queries} dev queries, fewer than {self.min_queries})"
        assert self.hybrid is not None
        return (
            f"(learnt on {self.queries} dev queries: P@1 {self.hybrid.p_at_1:.3f}, MRR "
            f"{self.hybrid.mrr:.3f})"
        )


def dev_queries(chunks: Sequence[Chunk], *, limit: int = MAX_DEV_QUERIES) -> list[DevQuery]:
    """FAQ phrasings (of FAQs with two or more) and unambiguous section headings, each with the
    chunks it belongs to; at most `limit`, evenly sampled."""
    owners: dict[str, tuple[str, set[int]]] = {}
    for i, chunk in enumerate(chunks):
        if chunk.kind == "faq" and chunk.question:
            for phrasing in (chunk.question, *chunk.alt_questions):
                owners.setdefault(phrasing.casefold(), (phrasing, set()))[1].add(i)
    faq = [  # each of its chunks must keep a phrasing once this one is left out
        DevQuery(text, tuple(sorted(ids)), "faq")
        for text, ids in owners.values()
        if all(_distinct_phrasings(chunks[i]) >= 2 for i in ids)
    ]
    sections: dict[str, tuple[str, set[tuple[str, str]], list[int]]] = {}
    for i, chunk in enumerate(chunks):
        if chunk.kind != "passage" or not chunk.section:
            continue
        heading = chunk.section.split(" > ")[-1]
        if len(heading.split()) < 2 or heading.casefold() in owners:
            continue
        text, groups, ids = sections.setdefault(heading.casefold(), (heading, set(), []))
        groups.add((chunk.doc_id, chunk.section))
        ids.append(i)
    headings = [
        DevQuery(text, tuple(ids), "heading")
        for text, groups, ids in sections.values()
        if len(groups) == 1
    ]
    found = faq + headings
    if len(found) > limit:
        step = len(found) / limit
        found = [found[int(i * step)] for i in range(limit)]
    return found


def _distinct_phrasings(chunk: Chunk) -> int:
    return len({p.casefold() for p in (chunk.question or "", *chunk.alt_questions)})


def learn_fusion(
    kb: KnowledgeBase,
    vectors: TextVectors,
    *,
    min_queries: int = MIN_DEV_QUERIES,
    default: FusionWeights = DEFAULT_WEIGHTS,
) -> FusionChoice:
    """The fusion weights for `kb`, learnt on its own dev queries (the module docstring)."""
    queries = dev_queries(kb.chunks)
    keep = FusionChoice(
        weights=default,
        source="default",
        faq_queries=sum(q.kind == "faq" for q in queries),
        heading_queries=sum(q.kind == "heading" for q in queries),
        min_queries=min_queries,
    )
    if not queries:
        return keep
    table = _dev_table(kb, queries, vectors)
    grid = _grid_scores(table, default)
    default_scores = _rank_scores(table.scores(default), table)
    if len(queries) < min_queries:
        return dataclasses.replace(keep, default=default_scores)
    dense = max((k for k in grid if k.dense == 1.0), key=lambda k: _order(grid[k]))
    lexical = max((k for k in grid if k.dense == 0.0), key=lambda k: _order(grid[k]))
    leg = max(grid[dense], grid[lexical], key=_order)
    # one query's worth: a smaller difference is not evidence (scores are rounded to 1e-4)
    noise = 1.0 / len(queries)
    feasible = [
        k
        for k, s in grid.items()
        if s.p_at_1 >= leg.p_at_1 - noise - 1e-4 and s.mrr >= leg.mrr - noise / 2 - 1e-4
    ]
    best = max(grid[k].mrr for k in feasible)
    near = [k for k in feasible if grid[k].mrr >= best - noise / 2 - 1e-4]
    chosen = min(near, key=lambda k: (_distance(k, default), -grid[k].p_at_1))
    return dataclasses.replace(
        keep,
        weights=chosen,
        source="learnt",
        hybrid=grid[chosen],
        dense=grid[dense],
        lexical=grid[lexical],
        default=default_scores,
    )


def _order(s: DevScores) -> tuple[float, float]:
    return (s.mrr, s.p_at_1)


def _distance(w: FusionWeights, default: FusionWeights) -> float:
    """How far `w` is from `default`, counting the title weight only as much as its leg."""
    return abs(w.dense - default.dense) + w.dense * abs(w.faq_title - default.faq_title)


@dataclass(frozen=True)
class _LeftOut:
    """A chunk as its dev query must find it: without the query's own phrasing."""

    body_rows: tuple[int, ...]  # which of the chunk's body vectors remain (offsets)
    titles: list[str]  # its title texts
    lexical: str
    lexical_title: str


def _left_out(chunk: Chunk, phrase: str) -> _LeftOut:
    if chunk.kind == "faq" and chunk.question:
        phrasings = [chunk.question, *chunk.alt_questions]
        keep = [i for i, p in enumerate(phrasings) if p.casefold() != phrase.casefold()]
        rest = [phrasings[i] for i in keep]
        shown = dataclasses.replace(chunk, question=rest[0], alt_questions=tuple(rest[1:]))
        if chunk.title.casefold() == phrase.casefold():
            shown = dataclasses.replace(shown, title=rest[0])  # the title was the phrasing
    else:
        keep = [0]  # the body vector never holds the chunk's own heading
        parents = " > ".join(chunk.section.split(" > ")[:-1])
        shown = dataclasses.replace(chunk, section=parents)
    return _LeftOut(
        body_rows=tuple(keep),
        titles=title_texts(shown),
        lexical=lexical_text(shown),
        lexical_title=lexical_title_text(shown),
    )


@dataclass(frozen=True)
class _DevTable:
    """The four scores of every dev query's candidates, padded to one width."""

    is_faq: npt.NDArray[np.bool_]
    body: npt.NDArray[np.float64]
    title: npt.NDArray[np.float64]
    lexical: npt.NDArray[np.float64]
    lexical_title: npt.NDArray[np.float64]
    relevant: npt.NDArray[np.bool_]
    padding: npt.NDArray[np.bool_]

    def scores(self, w: FusionWeights) -> npt.NDArray[np.float64]:
        a = np.where(self.is_faq, w.faq_title, w.section_title)
        dense = (1 - a) * self.body + a * self.title
        lexical = (1 - w.lexical_title) * self.lexical + w.lexical_title * self.lexical_title
        out: npt.NDArray[np.float64] = w.dense * dense + (1 - w.dense) * lexical
        return out


def _dev_table(kb: KnowledgeBase, queries: list[DevQuery], vectors: TextVectors) -> _DevTable:
    query_vectors = vectors([q.text for q in queries])
    rows = [_dev_parts(kb, q, v, vectors) for q, v in zip(queries, query_vectors, strict=True)]
    width = max(len(parts.chunks) for parts, _ in rows)
    arrays = {n: np.zeros((len(rows), width)) for n in ("body", "title", "lex", "lex_t")}
    relevant = np.zeros((len(rows), width), dtype=bool)
    padding = np.ones((len(rows), width), dtype=bool)
    is_faq = np.zeros((len(rows), width), dtype=bool)
    for i, (parts, rel) in enumerate(rows):
        n = len(parts.chunks)
        is_faq[i, :n] = parts.is_faq
        arrays["body"][i, :n] = parts.body
        arrays["title"][i, :n] = parts.title
        arrays["lex"][i, :n] = parts.lexical
        arrays["lex_t"][i, :n] = parts.lexical_title
        relevant[i, :n] = rel
        padding[i, :n] = False
    return _DevTable(
        is_faq, arrays["body"], arrays["title"], arrays["lex"], arrays["lex_t"], relevant, padding
    )


def _dev_parts(
    kb: KnowledgeBase, query: DevQuery, vector: npt.NDArray[np.float32], vectors: TextVectors
) -> tuple[ScoreParts, npt.NDArray[np.bool_]]:
    """`kb.score_parts` for a dev query, its own chunks scored with its phrasing left out."""
    assert kb.titles is not None and kb.lexical_titles is not None, "built without titles"
    parts = kb.score_parts(query.text, vector, include=query.relevant)
    body, title = parts.body.copy(), parts.title.copy()
    lexical, lexical_title = parts.lexical.copy(), parts.lexical_title.copy()
    where = np.searchsorted(parts.chunks, query.relevant)
    for at, c in zip(where.tolist(), query.relevant, strict=True):
        out = _left_out(kb.chunks[c], query.text)
        rows = int(kb.chunk_rows[c]) + np.asarray(out.body_rows, dtype=np.int64)
        body[at] = max(float((kb.dense.vectors(rows) @ vector).max()), 0.0)
        lexical[at] = kb.lexical.document_score(query.text, out.lexical)
        if query.kind == "faq":
            title_vectors = _title_vectors(kb, c, out.titles, vectors)
            title[at] = max(float((title_vectors @ vector).max()), 0.0)
            lexical_title[at] = kb.lexical_titles.document_score(query.text, out.lexical_title)
    relevant = np.zeros(len(parts.chunks), dtype=bool)
    relevant[where] = True
    if query.kind == "heading":  # title weights cannot be judged on a heading (docstring)
        return ScoreParts(parts.chunks, parts.is_faq, body, body, lexical, lexical), relevant
    return ScoreParts(parts.chunks, parts.is_faq, body, title, lexical, lexical_title), relevant


def _title_vectors(
    kb: KnowledgeBase, chunk: int, texts: list[str], vectors: TextVectors
) -> npt.NDArray[np.float32]:
    """Vectors of `texts`: the chunk's stored title vectors where they are among them (the same
    float16 rounding the search sees), encoded otherwise."""
    assert kb.titles is not None
    stored = {t: k for k, t in enumerate(title_texts(kb.chunks[chunk]))}
    first = int(kb.titles.offsets[chunk])
    known = [t for t in texts if t in stored]
    rows = kb.titles.rows(np.asarray([first + stored[t] for t in known], dtype=np.int64))
    fresh = [t for t in texts if t not in stored]
    return np.concatenate([rows, vectors(fresh)]) if fresh else rows


def _grid_scores(table: _DevTable, default: FusionWeights) -> dict[FusionWeights, DevScores]:
    """P@1 and MRR of every grid point (w, and a for FAQs; the other title weights as in
    `default`). At w=0 the FAQ title weight means nothing: it is kept at its default."""
    out: dict[FusionWeights, DevScores] = {}
    for a, w in itertools.product(FAQ_TITLE_GRID, DENSE_GRID):
        key = dataclasses.replace(default, dense=w, faq_title=a if w > 0 else default.faq_title)
        if key not in out:
            out[key] = _rank_scores(table.scores(key), table)
    return out


def _rank_scores(scores: npt.NDArray[np.float64], table: _DevTable) -> DevScores:
    """Ranks each query's best relevant chunk among its candidates; a tie counts against it (a
    query that matches nothing is not answered first by luck)."""
    scores = np.where(table.padding, -np.inf, scores)
    best = np.where(table.relevant, scores, -np.inf).max(axis=1)
    rank = ((scores >= best[:, None]) & ~table.relevant).sum(axis=1)
    reciprocal = np.where(rank < DEV_DEPTH, 1.0 / (rank + 1), 0.0)
    return DevScores(
        p_at_1=round(float(np.mean(rank == 0)), 4), mrr=round(float(reciprocal.mean()), 4)
    )


# --- answer threshold ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    threshold: float
    method: str
    ood_probes: int
    ood_p50: float
    ood_p95: float
    ood_max: float
    in_domain_probes: int
    in_domain_p10: float
    in_domain_p50: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def in_domain_probes(kb: KnowledgeBase) -> list[str]:
    """FAQ questions and section headings (of two words or more), evenly sampled."""
    probes: list[str] = []
    for chunk in kb.chunks:
        if chunk.kind == "faq" and chunk.question:
            probes.append(chunk.question)
            probes.extend(chunk.alt_questions)
        elif chunk.section:
            heading = chunk.section.split(" > ")[-1]
            if len(heading.split()) >= 2:
                probes.append(heading)
    probes = list(dict.fromkeys(probes))
    if len(probes) > MAX_IN_DOMAIN_PROBES:
        step = len(probes) / MAX_IN_DOMAIN_PROBES
        probes = [probes[int(i * step)] for i in range(MAX_IN_DOMAIN_PROBES)]
    return probes


def top_scores(kb: KnowledgeBase, vectors: TextVectors, queries: list[str]) -> list[float]:
    """The best hybrid score of each query (0 when nothing matches)."""
    if not queries:
        return []
    scores: list[float] = []
    for query, vector in zip(queries, vectors(queries), strict=True):
        hits = kb.search(query, vector, top_k=1)
        scores.append(hits[0].score if hits else 0.0)
    return scores


def calibrate(kb: KnowledgeBase, vectors: TextVectors) -> Calibration:
    """The answer threshold of `kb` as it will be served (its fusion weights chosen first)."""
    ood = np.array(top_scores(kb, vectors, list(OFF_TOPIC)), dtype=np.float64)
    ind = np.array(top_scores(kb, vectors, in_domain_probes(kb)), dtype=np.float64)
    ood_p95 = float(np.percentile(ood, 95))
    threshold = ood_p95 + MARGIN
    method = f"p95(off-topic) + {MARGIN}"
    if len(ind):
        cap = CAP_SHARE * float(np.percentile(ind, 10))
        if threshold > cap:
            threshold, method = cap, f"{CAP_SHARE} x p10(in-domain) (cap)"
    if threshold < FLOOR:
        threshold, method = FLOOR, f"floor {FLOOR}"
    return Calibration(
        threshold=round(threshold, 4),
        method=method,
        ood_probes=len(ood),
        ood_p50=round(float(np.percentile(ood, 50)), 4),
        ood_p95=round(ood_p95, 4),
        ood_max=round(float(ood.max()), 4),
        in_domain_probes=len(ind),
        in_domain_p10=round(float(np.percentile(ind, 10)), 4) if len(ind) else 0.0,
        in_domain_p50=round(float(np.percentile(ind, 50)), 4) if len(ind) else 0.0,
    )
