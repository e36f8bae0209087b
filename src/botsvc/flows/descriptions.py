"""Starting a flow from its description, where Rasa Pro asks an LLM.

Each flow is embedded once (its description, and its name when it has one); a message starts the
flow its vector is closest to, when close enough. Flows with an `nlu_trigger` are among them, so
that a description can outweigh an intent below its trigger's threshold ("I want to transfer
money" is no request to verify the account because the classifier has no better intent).
"Close enough" is calibrated on the project's own training data, as the intent threshold is: on
the flows that have both a trigger and a description, the similarity above which a message's
closest description is its own flow's 90% of the time; never below a floor under which MiniLM
similarities say little. The vectors and the threshold are kept in an ``ArtefactCache`` under the
hash of the texts and the encoder, so a start on the same project encodes nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from botsvc.artefacts import ArtefactCache
from botsvc.domain import Vector
from botsvc.embedding import Embedder
from botsvc.nlu.trainingdata import TrainingData
from botsvc.spec.model import FlowSpec
from botsvc.spec.steps import Flow

__all__ = ["DescriptionRouter", "FlowMatch"]

PATTERN_PREFIX = "pattern_"  # Rasa's conversation patterns start from the dialogue, not a message
SIMILARITY_FLOOR = 0.4
PRECISION = 0.9
# Rasa's clarification: flows about equally likely are offered, not guessed. Two descriptions
# within CLOSE of each other are; a message of one or two words ("add", "cash") names a thing
# or an action, not a request, so every flow within SHORT_SPREAD of the best is a candidate.
CLOSE = 0.01
SHORT_SPREAD = 0.25
SHORT_WORDS = 2
MAX_CANDIDATES = 3
LEAD = 0.1


@dataclass(frozen=True)
class FlowMatch:
    flow_id: str
    score: float
    candidates: tuple[str, ...] = ()  # flows as likely as this one (itself first), if ambiguous
    confident: tuple[str, ...] = ()  # the flows at or above the threshold, closest first
    # below the threshold but far ahead of every other flow: enough when the message also
    # fills one of the flow's slots ("send John 50"); the engine checks that
    leading: bool = False


@dataclass(frozen=True)
class DescriptionRouter:
    flow_ids: tuple[str, ...]  # one per row of `vectors` (a flow may have several rows)
    vectors: npt.NDArray[np.float32]
    threshold: float

    @classmethod
    def build(
        cls,
        spec: FlowSpec,
        training: TrainingData,
        embedder: Embedder,
        cache: ArtefactCache | None = None,
    ) -> DescriptionRouter | None:
        """None when no flow has a description or a name."""
        rows: list[tuple[str, str]] = []
        for flow in spec.flows.values():
            if not _described(flow):
                continue
            for text in dict.fromkeys(t for t in (flow.description, flow.name) if t.strip()):
                rows.append((flow.id, text))
        if not rows:
            return None
        labelled = _Labelled.of(spec, training)

        def make() -> bytes:
            vectors = embedder.encode([t for _, t in rows])
            out = io.BytesIO()
            np.savez(out, vectors=vectors, threshold=_calibrate(labelled, embedder))
            return out.getvalue()

        inputs = [embedder.model_id, PRECISION, SIMILARITY_FLOOR, rows, labelled.key()]
        data = (cache or ArtefactCache(None)).get_or_make("flow-descriptions", inputs, make)
        with np.load(io.BytesIO(data)) as saved:
            vectors, threshold = saved["vectors"], float(saved["threshold"])
        return cls(tuple(f for f, _ in rows), vectors, threshold)

    def match(self, vector: Vector, text: str = "") -> FlowMatch | None:
        """The closest flow, if the message is close enough to it, with the flows about as
        close when the message is ambiguous between them."""
        ranked = self.rank(vector)
        if not ranked:
            return None
        best_id, best = ranked[0]
        short = len(text.split()) <= SHORT_WORDS
        spread = SHORT_SPREAD if short else CLOSE
        if best < SIMILARITY_FLOOR:
            return None
        close = tuple(f for f, score in ranked[:MAX_CANDIDATES] if best - score <= spread)
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        leading = not short and best - runner_up >= LEAD
        if best < self.threshold and not leading and not (short and len(close) > 1):
            return None
        confident = tuple(f for f, score in ranked if score >= self.threshold)
        candidates = close if len(close) > 1 and (short or best >= self.threshold) else ()
        return FlowMatch(best_id, best, candidates, confident, leading=leading)

    def rank(self, vector: Vector) -> list[tuple[str, float]]:
        """Every flow with its best similarity to the message, closest first."""
        scores = self.vectors @ vector
        best: dict[str, float] = {}
        for flow_id, score in zip(self.flow_ids, scores.tolist(), strict=True):
            best[flow_id] = max(best.get(flow_id, -1.0), float(score))
        return sorted(best.items(), key=lambda item: -item[1])


def _described(flow: Flow) -> bool:
    """Patterns start from the dialogue, and flows made from Rasa rules and forms have no
    description of their own (they start from their intent); the others have one."""
    return (
        not flow.id.startswith(PATTERN_PREFIX)
        and not flow.nlu_based
        and bool((flow.description or flow.name).strip())
    )


@dataclass(frozen=True)
class _Labelled:
    """The flows that have both an nlu_trigger and a description, and their intents' examples:
    the project's own labelled data for what a similarity to a description means."""

    descriptions: list[str]
    flow_ids: list[str]
    examples: list[tuple[str, str]]  # (text, its own flow)

    @classmethod
    def of(cls, spec: FlowSpec, training: TrainingData) -> _Labelled:
        flows = [f for f in spec.flows.values() if f.triggers and _described(f)]
        own = {t.intent: f.id for f in flows for t in f.triggers}
        examples = [(e.text, own[e.intent]) for e in training.examples if e.intent in own]
        if len(flows) < 2:
            examples = []
        return cls([f.description for f in flows], [f.id for f in flows], examples)

    def key(self) -> list[object]:
        return [self.descriptions, self.flow_ids, self.examples]


def _calibrate(labelled: _Labelled, embedder: Embedder) -> float:
    """Each example of a triggering intent is matched against every description; the threshold
    is the lowest similarity above which the best match is the example's own flow at least
    PRECISION of the time."""
    if not labelled.examples:
        return SIMILARITY_FLOOR
    descriptions = embedder.encode(labelled.descriptions)
    scores = embedder.encode([text for text, _ in labelled.examples]) @ descriptions.T
    best = scores.argmax(axis=1)
    ranked = sorted(
        (
            (float(scores[i, b]), labelled.flow_ids[b] == own)
            for i, ((_, own), b) in enumerate(zip(labelled.examples, best, strict=True))
        ),
        reverse=True,
    )
    threshold, right = 1.0, 0
    for n, (score, correct) in enumerate(ranked, start=1):
        right += correct
        if right / n >= PRECISION:
            threshold = score
    return max(SIMILARITY_FLOOR, threshold)
