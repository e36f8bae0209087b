"""Clusters of the questions the bot did not answer: next week's intents and articles.

The messages are those that fell to fallback, whose knowledge-base answer was declined, that led
to a low-confidence handoff, or whose answer a customer marked "not helpful" (`Store.unanswered`).
They are embedded with the bot's own encoder and grouped by scikit-learn's agglomerative
clustering (average linkage on cosine distance, cut at `DISTANCE`): no number of clusters to
guess, and one odd message stays alone instead of pulling a group apart. A cluster is labelled
by its most central message and its most distinctive terms (TF-IDF of the cluster against the
others, as BERTopic's c-TF-IDF does), ranked by size, and exported as Rasa NLU YAML (a new
intent's examples) or a knowledge-base article stub.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from botsvc.embedding import Encodes
from botsvc.store import UnansweredMessage

__all__ = ["Cluster", "as_kb_stub", "as_rasa_nlu", "cluster_unanswered"]

# cosine distance, average linkage: on planted questions (gift wrapping, loyalty points, price
# matching, store pickup, among chatter) 0.45 split each topic in two, 0.6 found each whole
# and left the chatter alone
DISTANCE = 0.6
MAX_MESSAGES = 3000  # the newest; pairwise distances grow with the square
MAX_EXAMPLES = 10
MIN_SIZE = 2


@dataclass(frozen=True, kw_only=True)
class Cluster:
    id: str  # stable for the same messages: a hash of its turn ids
    label: str  # the most central message
    terms: tuple[str, ...]
    size: int
    earlier: int  # in the window's first half
    recent: int  # in its second half
    reasons: dict[str, int]
    examples: tuple[str, ...]  # distinct texts, most central first
    turn_ids: tuple[str, ...]

    @property
    def suggested_intent(self) -> str:
        words = re.findall(r"[a-z0-9]+", " ".join(self.terms[:2]).lower())
        return "_".join(dict.fromkeys(words))[:40] or "new_intent"


def cluster_unanswered(
    messages: list[UnansweredMessage],
    embedder: Encodes,
    *,
    since: float,
    until: float,
    min_size: int = MIN_SIZE,
    distance: float = DISTANCE,
) -> list[Cluster]:
    """The clusters of at least `min_size` messages, largest first (then the fastest rising)."""
    messages = sorted(messages, key=lambda m: -m.created_at)[:MAX_MESSAGES]
    texts = sorted({_norm(m.text) for m in messages if m.text.strip()})
    if len(texts) < 2:
        return []
    from sklearn.cluster import AgglomerativeClustering

    vectors = embedder.encode(texts)
    labels = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=distance
    ).fit_predict(vectors)
    group_of = dict(zip(texts, labels.tolist(), strict=True))
    members: dict[int, list[UnansweredMessage]] = {}
    for m in messages:
        if m.text.strip():
            members.setdefault(group_of[_norm(m.text)], []).append(m)
    groups = {g: ms for g, ms in members.items() if len(ms) >= min_size}
    if not groups:
        return []
    terms = _terms({g: [m.text for m in ms] for g, ms in groups.items()})
    middle = since + (until - since) / 2
    clusters = []
    for g, ms in groups.items():
        own = [t for t in texts if group_of[t] == g]
        rows = vectors[[texts.index(t) for t in own]]
        centre = rows.mean(axis=0)
        order = np.argsort(-(rows @ centre), kind="stable")
        examples = tuple(_first_spelling(own[i], ms) for i in order[:MAX_EXAMPLES])
        ids = tuple(sorted(m.turn_id for m in ms))
        clusters.append(
            Cluster(
                id=hashlib.sha256("\n".join(ids).encode()).hexdigest()[:12],
                label=examples[0],
                terms=terms[g],
                size=len(ms),
                earlier=sum(m.created_at < middle for m in ms),
                recent=sum(m.created_at >= middle for m in ms),
                reasons=dict(Counter(m.reason for m in ms).most_common()),
                examples=examples,
                turn_ids=ids,
            )
        )
    return sorted(clusters, key=lambda c: (-c.size, -(c.recent - c.earlier), c.label))


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _first_spelling(normalised: str, messages: list[UnansweredMessage]) -> str:
    """The text as a customer wrote it (the newest such message)."""
    return next(m.text.strip() for m in messages if _norm(m.text) == normalised)


def _terms(docs: dict[int, list[str]], top: int = 3) -> dict[int, tuple[str, ...]]:
    """Each cluster's most distinctive words and word pairs against the other clusters."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    keys = list(docs)
    joined = [" ".join(docs[k]) for k in keys]
    try:
        tfidf = TfidfVectorizer(stop_words="english", ngram_range=(1, 2), sublinear_tf=True)
        matrix = tfidf.fit_transform(joined).toarray()
    except ValueError:  # nothing but stop words
        return {k: () for k in keys}
    vocab = tfidf.get_feature_names_out()
    out = {}
    for row, k in zip(matrix, keys, strict=True):
        best = [vocab[i] for i in np.argsort(-row, kind="stable")[: top * 2] if row[i] > 0]
        kept: list[str] = []
        for term in best:  # "gift wrap" makes "gift" and "wrap" redundant
            if not any(term in other or other in term for other in kept):
                kept.append(term)
        out[k] = tuple(kept[:top])
    return out


def as_rasa_nlu(cluster: Cluster, intent: str | None = None) -> str:
    """The cluster's messages as a new intent's examples, in Rasa's NLU YAML."""
    name = intent or cluster.suggested_intent
    lines = ['version: "3.1"', "nlu:", f"- intent: {name}", "  examples: |"]
    lines += [f"    - {' '.join(text.split())}" for text in cluster.examples]
    return "\n".join(lines) + "\n"


def as_kb_stub(cluster: Cluster) -> str:
    """A knowledge-base article to write: title, tags and the questions it must answer."""
    title = cluster.label.rstrip("?!. ")
    tags = ", ".join(cluster.terms)
    questions = "\n".join(f"- {' '.join(t.split())}" for t in cluster.examples)
    return (
        f"---\ntitle: {title}\ntags: [{tags}]\n---\n# {title}\n\n"
        f"Customers asked ({cluster.size} times):\n\n{questions}\n\n"
        "Write the answer here, then run `botsvc kb build`.\n"
    )
