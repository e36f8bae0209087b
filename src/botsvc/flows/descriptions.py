"""Starting a flow that has no `nlu_trigger` from its description, where Rasa Pro asks an LLM.

Each such flow is embedded once (its description, and its name when it has one); a message starts
the flow its vector is closest to, when close enough. "Close enough" is calibrated on the
project's own training data, as the intent threshold is: on the flows that have both a trigger and
a description, the similarity above which a message's closest description is its own flow's 90%
of the time; never below a floor under which MiniLM similarities say little.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from botsvc.domain import Vector
from botsvc.embedding import Embedder
from botsvc.nlu.trainingdata import TrainingData
from botsvc.spec.model import FlowSpec

__all__ = ["DescriptionRouter", "FlowMatch"]

PATTERN_PREFIX = "pattern_"  # Rasa's conversation patterns start from the dialogue, not a message
SIMILARITY_FLOOR = 0.4
PRECISION = 0.9


@dataclass(frozen=True)
class FlowMatch:
    flow_id: str
    score: float


@dataclass(frozen=True)
class DescriptionRouter:
    flow_ids: tuple[str, ...]  # one per row of `vectors` (a flow may have several rows)
    vectors: npt.NDArray[np.float32]
    threshold: float

    @classmethod
    def build(
        cls, spec: FlowSpec, training: TrainingData, embedder: Embedder
    ) -> DescriptionRouter | None:
        """None when every flow has an nlu_trigger (nothing to start from a description)."""
        rows: list[tuple[str, str]] = []
        for flow in spec.flows.values():
            if flow.triggers or flow.id.startswith(PATTERN_PREFIX):
                continue
            for text in dict.fromkeys(t for t in (flow.description, flow.name) if t.strip()):
                rows.append((flow.id, text))
        if not rows:
            return None
        vectors = embedder.encode([t for _, t in rows])
        ids = tuple(f for f, _ in rows)
        return cls(ids, vectors, _calibrate(vectors, spec, training, embedder))

    def match(self, vector: Vector) -> FlowMatch | None:
        """The closest flow, if the message is close enough to it."""
        scores = self.vectors @ vector
        best = int(np.argmax(scores))
        score = float(scores[best])
        return FlowMatch(self.flow_ids[best], score) if score >= self.threshold else None


def _calibrate(
    vectors: npt.NDArray[np.float32],
    spec: FlowSpec,
    training: TrainingData,
    embedder: Embedder,
) -> float:
    """What similarity to a description means in this project's own writing: the flows that do
    have an nlu_trigger and a description are the labelled data. Each example of a triggering
    intent is matched against every description; the threshold is the lowest similarity above
    which the best match is the example's own flow at least PRECISION of the time."""
    flows = [f for f in spec.flows.values() if f.triggers and f.description.strip()]
    own = {t.intent: f.id for f in flows for t in f.triggers}
    examples = [e for e in training.examples if e.intent in own]
    if len(flows) < 2 or not examples:
        return SIMILARITY_FLOOR
    descriptions = embedder.encode([f.description for f in flows])
    scores = embedder.encode([e.text for e in examples]) @ descriptions.T
    best = scores.argmax(axis=1)
    ranked = sorted(
        (
            (float(scores[i, b]), flows[b].id == own[e.intent])
            for i, (e, b) in enumerate(zip(examples, best, strict=True))
        ),
        reverse=True,
    )
    threshold, right = 1.0, 0
    for n, (score, correct) in enumerate(ranked, start=1):
        right += correct
        if right / n >= PRECISION:
            threshold = score
    return max(SIMILARITY_FLOOR, threshold)
