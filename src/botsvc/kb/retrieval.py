"""Search and answer over a built index: dense (FAISS) and lexical (BM25) legs, fused.

Each candidate chunk gets four scores, all in [0, 1] and absolute (they mean the same thing for
every query):

- body: the best cosine of the chunk's own vectors (a passage's text under its article title;
  an FAQ's question phrasings, each with the answer);
- title: the best cosine of its title vectors (the heading path, "Article > Section"; each FAQ
  phrasing alone, and the FAQ's title);
- lexical: BM25 over the whole chunk, divided by what a typical document holding every query
  word would score (lexical.py);
- lexical title: the same over its title field only.

The fused score is `w * ((1 - a) * body + a * title) + (1 - w) * ((1 - t) * lexical + t *
lexical title)`: a weighted sum of absolute scores, so it is itself a confidence and the answer
threshold is a plain number on it. The weights (`FusionWeights`; a is one weight for FAQs and
another for passages) are set per index at build time from the KB's own phrasings, and the
threshold calibrated on the result (calibration.py); both are in the manifest. An index built
before title scores existed has no title weights and is served with the formula it was built
for (a = t = 0).

Titles count because a section's heading says what it is about in a few words, where its text
says much else: "how do I reset my password?" belongs to "If you've forgotten your password",
not to the section on changing it while signed in, whose text says "password" more often.

Reciprocal rank fusion (`fusion="rrf"`) is kept for comparison; its score is a rank, not a
confidence. A `KnowledgeBase` never changes after `load`: a reload loads a new one and swaps
the reference.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import faiss
import numpy as np
import numpy.typing as npt

from botsvc.domain import KbAnswer, KbHit, Vector
from botsvc.errors import ConfigError
from botsvc.kb.ingest import Chunk
from botsvc.kb.lexical import LexicalIndex, tokenize
from botsvc.kb.sentences import join_sentences, split_sentences, trim_sentences
from botsvc.kb.storage import REBUILD_HINT, read_index_files, read_manifest
from botsvc.kb.vectors import ChunkVectors, VectorIndex, spans

Mode = Literal["hybrid", "dense", "lexical"]
Fusion = Literal["weighted", "rrf"]
DENSE_WEIGHT = 0.7
RRF_K = 60
ANSWER_CHARS = 500  # a passage answer is trimmed to about this, at sentence boundaries
MIN_CANDIDATES = 50
TITLE_VECTORS = "titles"  # titles.npy + titles.json in the index folder
LEXICAL_TITLES = "lexical_titles"

Scores = npt.NDArray[np.float32]


@dataclass(frozen=True)
class FusionWeights:
    """How a chunk's four scores are mixed (the module docstring). `dense` is w, the dense
    leg's share (the lexical leg has 1 - w). The title vectors' share of the dense leg, a, is
    `section_title` for a passage and `faq_title` for an FAQ: an FAQ's question is in its body
    vectors already, a passage's heading is not. `lexical_title` is t, the title field's share
    of the lexical leg."""

    dense: float = DENSE_WEIGHT
    faq_title: float = 0.0
    section_title: float = 0.0
    lexical_title: float = 0.0

    def __post_init__(self) -> None:
        for name in ("dense", "faq_title", "section_title", "lexical_title"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"the KB fusion weight {name} must be in [0, 1], not {value}")

    @property
    def uses_titles(self) -> bool:
        return bool(self.faq_title or self.section_title or self.lexical_title)

    def as_manifest(self) -> dict[str, float]:
        return {
            "dense_weight": self.dense,
            "faq_title_weight": self.faq_title,
            "section_title_weight": self.section_title,
            "lexical_title_weight": self.lexical_title,
        }

    @classmethod
    def from_manifest(cls, retrieval: Mapping[str, Any]) -> FusionWeights:
        """The weights an index was built for; an index older than title scores has none."""
        return cls(
            dense=float(retrieval.get("dense_weight", DENSE_WEIGHT)),
            faq_title=float(retrieval.get("faq_title_weight", 0.0)),
            section_title=float(retrieval.get("section_title_weight", 0.0)),
            lexical_title=float(retrieval.get("lexical_title_weight", 0.0)),
        )


@dataclass(frozen=True)
class ScoreParts:
    """The four scores of each candidate chunk for one query (the module docstring)."""

    chunks: npt.NDArray[np.int64]
    is_faq: npt.NDArray[np.bool_]
    body: Scores
    title: Scores
    lexical: Scores
    lexical_title: Scores

    def fused(self, weights: FusionWeights, mode: Mode = "hybrid") -> Scores:
        dense = self.body
        if weights.faq_title or weights.section_title:
            a = np.where(self.is_faq, weights.faq_title, weights.section_title)
            dense = ((1.0 - a) * self.body + a * self.title).astype(np.float32)
        t = weights.lexical_title
        lexical = (1.0 - t) * self.lexical + t * self.lexical_title if t else self.lexical
        if mode == "dense":
            return dense
        if mode == "lexical":
            return lexical
        w = weights.dense
        out: Scores = (w * dense + (1.0 - w) * lexical).astype(np.float32)
        return out


@dataclass(frozen=True, eq=False)
class KnowledgeBase:
    """A loaded index. `search` and `answer` are synchronous, CPU-only and thread-safe; the
    caller encodes the query once with the same Embedder the index was built with."""

    chunks: tuple[Chunk, ...]
    threshold: float
    manifest: Mapping[str, object]
    dense: VectorIndex
    lexical: LexicalIndex
    row_chunk: npt.NDArray[np.int32]  # vector row -> chunk index
    chunk_rows: npt.NDArray[np.int64]  # chunk i owns rows chunk_rows[i]:chunk_rows[i + 1]
    titles: ChunkVectors | None = None  # None for an index built before title vectors
    lexical_titles: LexicalIndex | None = None
    fusion: Fusion = "weighted"
    weights: FusionWeights = FusionWeights()
    is_faq: npt.NDArray[np.bool_] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        if self.weights.uses_titles and (self.titles is None or self.lexical_titles is None):
            raise ConfigError(f"title weights need the index's title files; {REBUILD_HINT}")
        is_faq = np.array([c.kind == "faq" for c in self.chunks], dtype=bool)
        is_faq.setflags(write=False)
        object.__setattr__(self, "is_faq", is_faq)

    @property
    def dense_weight(self) -> float:
        return self.weights.dense

    @property
    def off_topic_below(self) -> float | None:
        """A best score under this is as far from the KB as 95% of the off-topic probes that
        calibrated it (the weather, sport, jokes): the message is about something else."""
        answer = self.manifest.get("answer", {})
        value = answer.get("ood_p95") if isinstance(answer, Mapping) else None
        return float(value) if isinstance(value, (int, float)) else None

    @classmethod
    def load(
        cls, index_dir: Path, *, model_id: str, threshold: float | None = None
    ) -> KnowledgeBase:
        """Loads `index_dir` as `kb build` wrote it, with the fusion it was built for.

        :raises ConfigError: no index there, an unreadable one, or one built with a model other
            than `model_id` (the message says to run `botsvc kb build`).
        """
        # served one query at a time: OpenMP's thread start-up costs more than the search
        # itself (7 ms against 0.1 ms for the example bot's index on 2 cores)
        faiss.omp_set_num_threads(1)
        files = read_index_files(index_dir, model_id=model_id)
        answer = files.manifest.get("answer", {})
        assert isinstance(answer, dict)
        retrieval = files.manifest.get("retrieval", {})
        assert isinstance(retrieval, dict)
        chosen = float(answer.get("threshold", 0.5)) if threshold is None else threshold
        if not 0.0 <= chosen <= 1.0:
            raise ConfigError(f"the KB answer threshold must be in [0, 1], not {chosen}")
        titles, lexical_titles = _read_titles(index_dir, len(files.chunks))
        if read_manifest(index_dir) != files.manifest:  # swapped by a build while we read
            return cls.load(index_dir, model_id=model_id, threshold=threshold)
        return cls(
            chunks=files.chunks,
            threshold=chosen,
            manifest=MappingProxyType(files.manifest),
            dense=files.dense,
            lexical=files.lexical,
            row_chunk=files.row_chunk,
            chunk_rows=files.chunk_rows,
            titles=titles,
            lexical_titles=lexical_titles,
            fusion="rrf" if retrieval.get("fusion", "weighted") == "rrf" else "weighted",
            weights=FusionWeights.from_manifest(retrieval),
        )

    def with_options(
        self,
        *,
        fusion: Fusion | None = None,
        dense_weight: float | None = None,
        weights: FusionWeights | None = None,
        threshold: float | None = None,
    ) -> KnowledgeBase:
        """A copy sharing the indexes, with other fusion settings (build, evaluation, bench)."""
        chosen = weights or self.weights
        if dense_weight is not None:
            chosen = dataclasses.replace(chosen, dense=dense_weight)
        return dataclasses.replace(
            self,
            fusion=fusion or self.fusion,
            weights=chosen,
            threshold=self.threshold if threshold is None else threshold,
        )

    @property
    def model_id(self) -> str:
        return str(self.manifest["model_id"])

    # --- search ----------------------------------------------------------------------------------

    def search(
        self, query: str, vector: Vector, *, top_k: int = 5, mode: Mode = "hybrid"
    ) -> list[KbHit]:
        """The `top_k` best chunks for `query` (text) and `vector` (its embedding), best first.
        Scores are in [0, 1]: the dense leg's for dense, the lexical leg's for lexical, fused for
        hybrid."""
        if top_k < 1 or not self.chunks:
            return []
        ranked = self._rank(query, vector, top_k=top_k, mode=mode)
        return [self._hit(i, s) for i, s in ranked[:top_k]]

    def _rank(
        self, query: str, vector: Vector, *, top_k: int, mode: Mode
    ) -> list[tuple[int, float]]:
        pool = max(top_k * 4, MIN_CANDIDATES)
        if self.fusion == "rrf" and mode == "hybrid":
            dense = self._dense_candidates(vector, pool)
            lex_top = _top(self.lexical.scores(query), pool, positive=True)
            return _rrf(sorted(dense.items(), key=lambda kv: (-kv[1], kv[0])), lex_top)
        if mode == "dense" and not (self.weights.faq_title or self.weights.section_title):
            dense = self._dense_candidates(vector, pool)
            return sorted(dense.items(), key=lambda kv: (-kv[1], kv[0]))
        parts = self.score_parts(query, vector, pool=pool, lexical_only=mode == "lexical")
        scores = parts.fused(self.weights, mode)
        order = np.lexsort((parts.chunks, -scores))
        if mode == "lexical":
            order = order[scores[order] > 0]
        order = order[:top_k]
        return list(zip(parts.chunks[order].tolist(), scores[order].tolist(), strict=True))

    def score_parts(
        self,
        query: str,
        vector: Vector,
        *,
        pool: int = MIN_CANDIDATES,
        include: Sequence[int] = (),
        lexical_only: bool = False,
    ) -> ScoreParts:
        """The four scores of the candidate chunks for one query: the `pool` best of the dense
        search, of BM25 over whole chunks and of BM25 over titles, with `include` besides.
        `lexical_only` skips the dense scores (left at 0) and the dense search."""
        lex = self.lexical.scores(query)
        lex_title = self.lexical_titles.scores(query) if self.lexical_titles else lex
        found = [np.asarray(include, dtype=np.int64), _top_ids(lex, pool)]
        if lex_title is not lex:
            found.append(_top_ids(lex_title, pool))
        if not lexical_only:
            dense_ids, dense_scores = self._dense_best(vector, pool)
            found.append(dense_ids)
        chunks = np.unique(np.concatenate(found))
        is_faq = self.is_faq[chunks]
        if lexical_only:
            zeros = np.zeros(len(chunks), dtype=np.float32)
            return ScoreParts(chunks, is_faq, zeros, zeros, lex[chunks], lex_title[chunks])
        body = np.full(len(chunks), np.nan, dtype=np.float32)
        body[np.searchsorted(chunks, dense_ids)] = dense_scores
        missing = np.isnan(body)
        body[missing] = self._cosines(chunks[missing], vector)
        title = self.titles.best_cosines(chunks, vector) if self.titles else body
        return ScoreParts(
            chunks=chunks,
            is_faq=is_faq,
            body=np.maximum(body, 0.0),
            title=np.maximum(title, 0.0),
            lexical=lex[chunks],
            lexical_title=lex_title[chunks],
        )

    def _dense_best(
        self, vector: Vector, pool: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The chunks of the `pool` nearest vectors, each with its best cosine among them."""
        scores, rows = self.dense.search(vector, pool)
        found = rows >= 0
        chunks = self.row_chunk[rows[found]].astype(np.int64)
        scores = scores[found]
        order = np.lexsort((-scores, chunks))
        chunks, scores = chunks[order], scores[order]
        first = np.ones(len(chunks), dtype=bool)
        first[1:] = chunks[1:] != chunks[:-1]
        return chunks[first], scores[first]

    def _dense_candidates(self, vector: Vector, pool: int) -> dict[int, float]:
        chunks, scores = self._dense_best(vector, pool)
        return dict(zip(chunks.tolist(), scores.tolist(), strict=True))

    def _cosines(self, chunk_ids: npt.NDArray[np.int64], vector: Vector) -> Scores:
        """Exact cosines of chunks the dense search did not return (max over their vectors)."""
        if len(chunk_ids) == 0:
            return np.zeros(0, dtype=np.float32)
        rows, starts = spans(self.chunk_rows, chunk_ids)
        sims = self.dense.vectors(rows) @ np.asarray(vector, dtype=np.float32).reshape(-1)
        best: Scores = np.maximum.reduceat(sims, starts)
        return best

    def _hit(self, index: int, score: float) -> KbHit:
        chunk = self.chunks[index]
        return KbHit(
            id=chunk.id,
            title=chunk.title,
            text=chunk.text,
            score=round(min(max(score, 0.0), 1.0), 4),
            url=chunk.url,
            section=chunk.section or None,
        )

    def chunk(self, chunk_id: str) -> Chunk | None:
        return next((c for c in self.chunks if c.id == chunk_id), None)

    # --- answer ----------------------------------------------------------------------------------

    def answer(self, query: str, vector: Vector) -> KbAnswer | None:
        """The best chunk as a readable answer with its source, or None when nothing clears
        `threshold` (the caller then escalates). FAQ chunks answer with their answer; passages
        with whole sentences around the part that matches the query, about ANSWER_CHARS long."""
        return self.consult(query, vector, top_k=1)[0]

    def consult(
        self, query: str, vector: Vector, *, top_k: int = 3
    ) -> tuple[KbAnswer | None, list[KbHit]]:
        """`answer` and `search` from one ranking: what the pipeline needs on every message."""
        ranked = (
            self._rank(query, vector, top_k=max(top_k, 1), mode="hybrid") if self.chunks else []
        )
        hits = [self._hit(i, s) for i, s in ranked[:top_k]]
        if not ranked:
            return None, hits
        index, score = ranked[0]
        if self.fusion == "rrf":  # a rank is no confidence: judge by the cosine
            score = float(self._cosines(np.array([index], dtype=np.int64), vector)[0])
        if score < self.threshold:
            return None, hits
        chunk = self.chunks[index]
        text = chunk.text if chunk.kind == "faq" else excerpt(chunk.text, query)
        return KbAnswer(text=text, score=round(score, 4), sources=(self._hit(index, score),)), hits


def _read_titles(index_dir: Path, chunks: int) -> tuple[ChunkVectors | None, LexicalIndex | None]:
    """The title vectors and title BM25 of an index, or (None, None) for one built before them.

    :raises ConfigError: present but damaged, or not of this index's chunks.
    """
    if not (index_dir / f"{TITLE_VECTORS}.json").exists():
        return None, None
    try:
        titles = ChunkVectors.load(index_dir, TITLE_VECTORS)
        lexical = LexicalIndex.load(index_dir / LEXICAL_TITLES)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"the knowledge-base index in {index_dir} is damaged ({exc}); {REBUILD_HINT}"
        ) from exc
    if len(titles.counts) != chunks or lexical.num_docs != chunks:
        raise ConfigError(f"the title files of {index_dir} do not match its chunks; {REBUILD_HINT}")
    return titles, lexical


def excerpt(text: str, query: str, *, max_chars: int = ANSWER_CHARS) -> str:
    """Whole sentences of `text`, about `max_chars` long, starting at the sentence that shares
    the most (rare-ish) words with `query`; the lead sentence when none does."""
    sentences = split_sentences(text)
    if len(join_sentences(sentences)) <= max_chars:
        return join_sentences(sentences)
    wanted = {t for t in tokenize(query) if len(t) > 2}
    overlaps = [len(wanted & set(tokenize(s))) for s in sentences]
    focus = _list_start(sentences, max(range(len(sentences)), key=lambda i: (overlaps[i], -i)))
    return join_sentences(trim_sentences(sentences, max_chars=max_chars, focus=focus))


_NUMBERED = re.compile(r"^\s*\d{1,3}[.)]\s")


def _list_start(sentences: list[str], focus: int) -> int:
    """Steps are read from the first: a focus inside a numbered list moves back to its first
    item, and to the line that introduces it ("To reset it:") when there is one."""
    if not _NUMBERED.match(sentences[focus]):
        return focus
    while focus > 0 and _NUMBERED.match(sentences[focus - 1]):
        focus -= 1
    if focus > 0 and sentences[focus - 1].rstrip().endswith(":"):
        focus -= 1
    return focus


def _top_ids(scores: Scores, k: int) -> npt.NDArray[np.int64]:
    """The (at most) `k` best documents with a positive score, in no particular order."""
    k = min(k, len(scores))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[scores[part] > 0].astype(np.int64)


def _top(scores: npt.NDArray[np.float32], k: int, *, positive: bool) -> list[tuple[int, float]]:
    k = min(k, len(scores))
    if k == 0:
        return []
    part = np.argpartition(-scores, k - 1)[:k]
    order = part[np.lexsort((part, -scores[part]))]
    return [(int(i), float(scores[i])) for i in order if not positive or scores[i] > 0]


def _rrf(*rankings: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Reciprocal rank fusion, scaled so that first in every ranking scores 1."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (c, _) in enumerate(ranking, start=1):
            fused[c] = fused.get(c, 0.0) + 1.0 / (RRF_K + rank)
    top = len(rankings) / (RRF_K + 1)
    return sorted(((c, s / top) for c, s in fused.items()), key=lambda kv: (-kv[1], kv[0]))
