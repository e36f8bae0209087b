"""The NLU stage: one message and its vector in, intent ranking, entities and sentiment out.

The caller encodes the text once (the knowledge base reuses the vector), so parsing is
synchronous and cheap. Rasa's button payloads (``/affirm``, ``/inform{"order_id": "NW-123456"}``,
``/inform@0.8{...}``) are honoured without the classifier, as Rasa's ``RegexMessageHandler`` does.
"""

from __future__ import annotations

import json
import re
from typing import Any

from botsvc.domain import FALLBACK_INTENT, Entity, IntentScore, NluResult, Vector
from botsvc.errors import ConfigError
from botsvc.nlu.classifier import IntentModel
from botsvc.nlu.entities import EntityExtractor
from botsvc.nlu.sentiment import sentiment

RANKING_SIZE = 10
DEFAULT_AMBIGUITY_MARGIN = 0.1  # Rasa's FallbackClassifier ambiguity_threshold default
_PAYLOAD = re.compile(
    r"^\s*/(?P<intent>[^{@\s/][^{@\s]*)(?:@(?P<confidence>\d+(?:\.\d+)?))?(?P<entities>\{.*\})?\s*$",
    re.DOTALL,
)


class NluParser:
    """Understands one message with a trained intent model and an entity extractor."""

    def __init__(
        self,
        *,
        model: IntentModel,
        extractor: EntityExtractor,
        ambiguity_margin: float = DEFAULT_AMBIGUITY_MARGIN,
    ) -> None:
        if not 0.0 <= ambiguity_margin <= 1.0:
            raise ConfigError(f"ambiguity_margin must be within [0, 1], got {ambiguity_margin}")
        self.model = model
        self.extractor = extractor
        self.ambiguity_margin = ambiguity_margin

    def parse(self, text: str, vector: Vector) -> NluResult:
        """Intent, ranking (top 10), entities and sentiment of ``text``.

        ``intent`` is ``nlu_fallback`` (with the threshold as its confidence, as in Rasa) when
        the top intent's confidence is below the model's threshold; ``ranking`` still lists the
        real candidates. ``ambiguous`` is set when the top two are within the margin while
        together confident enough: the caller should ask "did you mean ...?" instead of guessing.
        """
        payload = parse_payload(text)
        if payload is not None:
            return payload
        ranking = self.model.rank(vector, text=text)[:RANKING_SIZE]
        top = ranking[0]
        intent = top
        if top.confidence < self.model.threshold:
            intent = IntentScore(FALLBACK_INTENT, self.model.threshold)
        return NluResult(
            text=text,
            intent=intent,
            ranking=tuple(ranking),
            entities=tuple(self.extractor.extract(text)),
            sentiment=sentiment(text),
            ambiguous=self._is_ambiguous(ranking),
        )

    def _is_ambiguous(self, ranking: list[IntentScore]) -> bool:
        if len(ranking) < 2:
            return False
        first, second = ranking[0].confidence, ranking[1].confidence
        return first - second < self.ambiguity_margin and first + second >= self.model.threshold


# Rasa Pro's button command: `/SetSlots(confirmation=true, amount=50)`
_SET_SLOTS = re.compile(r"^\s*/SetSlots\((?P<pairs>.*)\)\s*$", re.DOTALL)


def _slot_value(raw: str) -> Any:
    value = raw.strip().strip("'\"")
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return int(value) if re.fullmatch(r"-?\d+", value) else float(value)
    except ValueError:
        return value


def _set_slots(text: str) -> NluResult | None:
    """`/SetSlots(name=value, ...)` as entities named like the slots, which fill them as an
    answer does; no intent, so it starts nothing on its own."""
    match = _SET_SLOTS.match(text)
    if match is None:
        return None
    start, end = match.start("pairs"), match.end("pairs")
    entities = tuple(
        Entity(name.strip(), _slot_value(value), start, end, extractor="set_slots")
        for pair in match.group("pairs").split(",")
        if "=" in pair
        for name, value in [pair.split("=", 1)]
        if name.strip()
    )
    fallback = IntentScore(FALLBACK_INTENT, 1.0)
    return NluResult(text=text, intent=fallback, ranking=(fallback,), entities=entities)


def parse_payload(text: str) -> NluResult | None:
    """A Rasa button payload as an NLU result (confidence 1.0 unless ``@0.8`` says otherwise):
    `/intent{"entity": "value"}`, or Rasa Pro's `/SetSlots(name=value, ...)`."""
    if (slots := _set_slots(text)) is not None:
        return slots
    match = _PAYLOAD.match(text)
    if match is None:
        return None
    intent = IntentScore(match.group("intent"), float(match.group("confidence") or 1.0))
    entities: list[Entity] = []
    raw = match.group("entities")
    if raw:
        try:
            values = json.loads(raw)
        except json.JSONDecodeError:
            values = {}
        if isinstance(values, dict):
            start, end = match.start("entities"), match.end("entities")
            for name, value in values.items():
                for item in value if isinstance(value, list) else [value]:
                    entities.append(Entity(str(name), item, start, end, extractor="payload"))
    return NluResult(text=text, intent=intent, ranking=(intent,), entities=tuple(entities))


def parse_response(result: NluResult) -> dict[str, Any]:
    """The result in the JSON shape of Rasa's ``POST /model/parse``."""
    return {
        "text": result.text,
        "intent": {"name": result.intent.name, "confidence": result.intent.confidence},
        "intent_ranking": [
            {"name": s.name, "confidence": s.confidence} for s in result.ranking[:RANKING_SIZE]
        ],
        "entities": [entity_json(e) for e in result.entities],
    }


def entity_json(entity: Entity) -> dict[str, Any]:
    out: dict[str, Any] = {
        "entity": entity.entity,
        "value": entity.value,
        "start": entity.start,
        "end": entity.end,
        "extractor": entity.extractor,
        "confidence": entity.confidence,
    }
    if entity.role is not None:
        out["role"] = entity.role
    if entity.group is not None:
        out["group"] = entity.group
    return out
