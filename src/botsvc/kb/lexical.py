"""The lexical leg: BM25 (bm25s) over our own tokens, with scores on an absolute scale.

BM25 scores grow with the number and rarity of the query's words, so they cannot be compared
across queries or mixed with cosine similarities as they are. `LexicalIndex.scores` divides
them by what an average-length document holding every query word once would score, clipped to
1: 1.0 means "all the query's words, as well as a typical document has them"; a query whose
rare words the knowledge base never uses (Paris, joke) stays near 0.

`document_score` scores one text that is not in the index as if it were (same statistics): the
build uses it to score a chunk with one of its own phrasings left out (calibration.py).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np
import numpy.typing as npt

from botsvc.kb.ingest import Chunk
from botsvc.kb.vectors import title_texts

K1 = 0.9  # Anserini's defaults; they beat bm25s's (1.5, 0.75) on the dev FAQ set
B = 0.4
_WORD = re.compile(r"[^\W_]+")
# Light English suffix stripping: enough to match plural/verb forms (refunds/refund,
# shipping/ship, charged/charge), without a stemmer dependency.
_SUFFIXES = (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""))


def lexical_text(chunk: Chunk) -> str:
    """What BM25 indexes for a chunk: an FAQ's question phrasings only (its answer's words
    drown the question's on the dev set), a passage's title, section path and text."""
    if chunk.kind == "faq" and chunk.question:
        return " ".join((chunk.question, *chunk.alt_questions))
    return f"{chunk.title} {chunk.section} {chunk.text}"


def lexical_title_text(chunk: Chunk) -> str:
    """The title field's BM25 text: the texts of the chunk's title vectors (heading path; FAQ
    phrasings and title)."""
    return " ".join(title_texts(chunk))


def tokenize(text: str) -> list[str]:
    """Lower-cased word stems; one-letter words (the s of what's) are dropped, digits kept."""
    out: list[str] = []
    for word in _WORD.findall(text.casefold()):
        if len(word) == 1 and not word.isdigit():
            continue
        out.append(_stem(word))
    return out


def _stem(word: str) -> str:
    if word.isdigit():
        return word
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            stem = word[: -len(suffix)] + replacement
            if suffix in ("ing", "ed") and len(stem) > 3 and stem[-1] == stem[-2]:
                stem = stem[:-1]  # shipping -> shipp -> ship
            return stem
    return word[:-1] if len(word) >= 4 and word.endswith("e") else word  # charge ~ charged


class LexicalIndex:
    """BM25 over a fixed list of documents; `scores` is safe to call from many threads."""

    def __init__(self, bm25: object, num_docs: int, *, avg_len: float = 0.0) -> None:
        assert isinstance(bm25, bm25s.BM25)
        self._bm25 = bm25
        self.num_docs = num_docs
        self.avg_len = avg_len  # mean document length in tokens; 0 when an old index lacks it
        indptr = np.asarray(bm25.scores["indptr"])
        doc_freq = np.diff(indptr).astype(np.float64)
        self._idf = np.log1p((num_docs - doc_freq + 0.5) / (doc_freq + 0.5))
        self._oov_idf = math.log1p((num_docs + 0.5) / 0.5)
        self._vocab: dict[str, int] = dict(bm25.vocab_dict)

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        docs = [tokenize(t) or [""] for t in texts]
        bm25 = bm25s.BM25(k1=K1, b=B, method="lucene")
        bm25.index(docs, show_progress=False)
        avg_len = sum(len(d) for d in docs) / len(docs) if docs else 0.0
        return cls(bm25, len(texts), avg_len=avg_len)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(folder), show_progress=False)
        meta = {"num_docs": self.num_docs, "avg_len": self.avg_len}
        (folder / "botsvc.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        meta = json.loads((folder / "botsvc.json").read_text())
        bm25 = bm25s.BM25.load(str(folder), load_corpus=False, show_progress=False, mmap=False)
        return cls(bm25, int(meta["num_docs"]), avg_len=float(meta.get("avg_len", 0.0)))

    def scores(self, query: str) -> npt.NDArray[np.float32]:
        """Every document's score for `query`, on the absolute [0, 1] scale described above."""
        ids, full = self._query(query)
        if not ids:
            return np.zeros(self.num_docs, dtype=np.float32)
        raw = self._bm25.get_scores_from_ids(ids)
        scaled = np.asarray(raw, dtype=np.float32) / np.float32(full)
        clipped: npt.NDArray[np.float32] = np.minimum(scaled, np.float32(1.0))
        return clipped

    def document_score(self, query: str, text: str) -> float:
        """What `scores(query)` would give a document made of `text`, weighed with this index's
        statistics (idf, mean length)."""
        ids, full = self._query(query)
        doc = tokenize(text) or [""]
        if not ids or self.avg_len <= 0:
            return 0.0
        counts: dict[int, int] = {}
        for token in doc:
            if token in self._vocab:
                counts[self._vocab[token]] = counts.get(self._vocab[token], 0) + 1
        norm = K1 * (1.0 - B + B * len(doc) / self.avg_len)
        raw = sum(self._idf[i] * counts[i] / (counts[i] + norm) for i in ids if i in counts)
        return min(float(raw) / full, 1.0)

    def _query(self, query: str) -> tuple[list[int], float]:
        """The query's known token ids, and what a typical document holding each of its words
        once would score (the divisor of the absolute scale)."""
        tokens = list(dict.fromkeys(tokenize(query)))
        ids = [self._vocab[t] for t in tokens if t in self._vocab]
        known = float(self._idf[ids].sum())
        unknown = self._oov_idf * (len(tokens) - len(ids))
        return ids, (known + unknown) / (1.0 + K1)
