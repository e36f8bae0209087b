"""Search and answer over a built index: dense (FAISS) and lexical (BM25) legs, fused.

Fusion (chosen on the CovidFAQ dev split, bench/results/kb.md): a weighted sum of absolute
scores, `DENSE_WEIGHT * cosine + (1 - DENSE_WEIGHT) * lexical`, where the lexical score is BM25
divided by what a typical document holding every query word would score (lexical.py). Both
parts mean the same thing for every query, so the fused score is itself a confidence: the answer
threshold is a plain number on it, calibrated per index at build time (calibration.py).
Reciprocal rank fusion (`fusion="rrf"`) is kept for comparison; its score is a rank, not a
confidence.

A `KnowledgeBase` never changes after `load`: a reload loads a new one and swaps the reference.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import faiss
import numpy as np
import numpy.typing as npt

from botsvc.domain import KbAnswer, KbHit, Vector
from botsvc.errors import ConfigError
from botsvc.kb.ingest import Chunk
from botsvc.kb.lexical import LexicalIndex, tokenize
from botsvc.kb.sentences import join_sentences, split_sentences, trim_sentences
from botsvc.kb.storage import read_index_files
from botsvc.kb.vectors import VectorIndex

Mode = Literal["hybrid", "dense", "lexical"]
Fusion = Literal["weighted", "rrf"]
DENSE_WEIGHT = 0.7
RRF_K = 60
ANSWER_CHARS = 500  # a passage answer is trimmed to about this, at sentence boundaries
MIN_CANDIDATES = 50


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
    fusion: Fusion = "weighted"
    dense_weight: float = DENSE_WEIGHT

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
        """Loads `index_dir` as `kb build` wrote it.

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
        fusion = retrieval.get("fusion", "weighted")
        return cls(
            chunks=files.chunks,
            threshold=chosen,
            manifest=MappingProxyType(files.manifest),
            dense=files.dense,
            lexical=files.lexical,
            row_chunk=files.row_chunk,
            chunk_rows=files.chunk_rows,
            fusion="rrf" if fusion == "rrf" else "weighted",
            dense_weight=float(retrieval.get("dense_weight", DENSE_WEIGHT)),
        )

    def with_options(
        self,
        *,
        fusion: Fusion | None = None,
        dense_weight: float | None = None,
        threshold: float | None = None,
    ) -> KnowledgeBase:
        """A copy sharing the indexes, with other fusion settings (evaluation, benchmarks)."""
        return dataclasses.replace(
            self,
            fusion=fusion or self.fusion,
            dense_weight=self.dense_weight if dense_weight is None else dense_weight,
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
        Scores are in [0, 1]: cosine for dense, normalised BM25 for lexical, fused for hybrid."""
        if top_k < 1 or not self.chunks:
            return []
        ranked = self._rank(query, vector, top_k=top_k, mode=mode)
        return [self._hit(i, s) for i, s in ranked[:top_k]]

    def _rank(
        self, query: str, vector: Vector, *, top_k: int, mode: Mode
    ) -> list[tuple[int, float]]:
        pool = max(top_k * 4, MIN_CANDIDATES)
        if mode == "lexical":
            lex = self.lexical.scores(query)
            return _top(lex, pool, positive=True)
        dense = self._dense_candidates(vector, pool)
        if mode == "dense":
            return sorted(dense.items(), key=lambda kv: (-kv[1], kv[0]))
        lex = self.lexical.scores(query)
        lex_top = _top(lex, pool, positive=True)
        if self.fusion == "rrf":
            return _rrf(sorted(dense.items(), key=lambda kv: (-kv[1], kv[0])), lex_top)
        missing = [c for c, _ in lex_top if c not in dense]
        dense.update(self._cosines(missing, vector))
        w = self.dense_weight
        fused = {c: w * max(cos, 0.0) + (1.0 - w) * float(lex[c]) for c, cos in dense.items()}
        return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))

    def _dense_candidates(self, vector: Vector, pool: int) -> dict[int, float]:
        scores, rows = self.dense.search(vector, pool)
        best: dict[int, float] = {}
        for score, row in zip(scores.tolist(), rows.tolist(), strict=True):
            if row < 0:
                continue
            chunk = int(self.row_chunk[row])
            if score > best.get(chunk, -2.0):
                best[chunk] = float(score)
        return best

    def _cosines(self, chunk_ids: Sequence[int], vector: Vector) -> dict[int, float]:
        """Exact cosines of chunks the dense search did not return (max over their vectors)."""
        if not chunk_ids:
            return {}
        spans = [(int(self.chunk_rows[c]), int(self.chunk_rows[c + 1])) for c in chunk_ids]
        rows = np.concatenate([np.arange(a, b) for a, b in spans])
        sims = self.dense.vectors(rows) @ np.asarray(vector, dtype=np.float32).reshape(-1)
        out: dict[int, float] = {}
        offset = 0
        for c, (a, b) in zip(chunk_ids, spans, strict=True):
            out[c] = float(sims[offset : offset + b - a].max()) if b > a else 0.0
            offset += b - a
        return out

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
            score = self._cosines([index], vector)[index]
        if score < self.threshold:
            return None, hits
        chunk = self.chunks[index]
        text = chunk.text if chunk.kind == "faq" else excerpt(chunk.text, query)
        return KbAnswer(text=text, score=round(score, 4), sources=(self._hit(index, score),)), hits


def excerpt(text: str, query: str, *, max_chars: int = ANSWER_CHARS) -> str:
    """Whole sentences of `text`, about `max_chars` long, starting at the sentence that shares
    the most (rare-ish) words with `query`; the lead sentence when none does."""
    sentences = split_sentences(text)
    if len(join_sentences(sentences)) <= max_chars:
        return join_sentences(sentences)
    wanted = {t for t in tokenize(query) if len(t) > 2}
    overlaps = [len(wanted & set(tokenize(s))) for s in sentences]
    focus = max(range(len(sentences)), key=lambda i: (overlaps[i], -i))
    return join_sentences(trim_sentences(sentences, max_chars=max_chars, focus=focus))


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
