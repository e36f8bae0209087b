"""The answer threshold: how good a match must be before the KB answers instead of escalating.

It is set per index, at build time, from two kinds of probe scored against the new index:

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

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from botsvc.kb.probes import OFF_TOPIC

if TYPE_CHECKING:
    from botsvc.embedding import Embedder
    from botsvc.kb.retrieval import KnowledgeBase

MARGIN = 0.05
FLOOR = 0.25
CAP_SHARE = 0.75
MAX_IN_DOMAIN_PROBES = 300


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


def top_scores(kb: KnowledgeBase, embedder: Embedder, queries: list[str]) -> list[float]:
    """The best hybrid score of each query (0 when nothing matches)."""
    if not queries:
        return []
    vectors = embedder.encode(queries)
    scores: list[float] = []
    for query, vector in zip(queries, vectors, strict=True):
        hits = kb.search(query, vector, top_k=1)
        scores.append(hits[0].score if hits else 0.0)
    return scores


def calibrate(kb: KnowledgeBase, embedder: Embedder) -> Calibration:
    ood = np.array(top_scores(kb, embedder, list(OFF_TOPIC)), dtype=np.float64)
    ind = np.array(top_scores(kb, embedder, in_domain_probes(kb)), dtype=np.float64)
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
