"""The loaded project's flows, slots, responses and escalation rules: frozen and checked."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from botsvc.domain import Priority
from botsvc.errors import Problem
from botsvc.spec.conditions import Condition
from botsvc.spec.flowbuild import with_slot_rejections
from botsvc.spec.schema import SlotType
from botsvc.spec.steps import Flow, Rejection
from botsvc.spec.variants import ResponseVariant

__all__ = ["EscalationRules", "FlowSpec", "MetadataRule", "SlotSpec", "is_response"]


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class SlotSpec:
    name: str
    type: SlotType
    values: tuple[str, ...] = ()  # categorical values, as written (the canonical spelling)
    initial_value: Any = None
    entity: str = ""  # the entity that fills it; the slot's own name unless `mappings` says so
    role: str | None = None  # with a role, only entities of that role fill it (Rasa mappings)
    # Rasa Pro's `validation`: checked at every collect of the slot (see FlowSpec)
    rejections: tuple[Rejection, ...] = ()
    refill_utter: str | None = None  # read and checked, not used yet
    file: str = ""
    line: int | None = None


@dataclass(frozen=True)
class MetadataRule:
    """`{if: <condition over context.customer.metadata...>, priority, reason?}`."""

    condition: Condition
    priority: Priority
    reason: str
    file: str = ""
    line: int | None = None


@dataclass(frozen=True)
class EscalationRules:
    kb_min_score: float | None = None
    intent_min_confidence: float | None = None
    max_consecutive_fallbacks: int = 2
    negative_sentiment_threshold: float | None = None
    human_request_intents: tuple[str, ...] = ()
    human_request_keywords: tuple[str, ...] = ()
    metadata_rules: tuple[MetadataRule, ...] = ()
    max_rejections: int = 3


@dataclass(frozen=True)
class FlowSpec:
    slots: Mapping[str, SlotSpec] = field(default_factory=_empty)
    responses: Mapping[str, tuple[ResponseVariant, ...]] = field(default_factory=_empty)
    flows: Mapping[str, Flow] = field(default_factory=_empty)
    action_endpoint: str | None = None
    escalation: EscalationRules = field(default_factory=EscalationRules)
    warnings: tuple[Problem, ...] = ()
    action_names: tuple[str, ...] = ()  # custom actions the flows call (for the rasa domain)
    sources: Mapping[str, str] = field(default_factory=_empty)  # section -> the file defining it
    # nlu_trigger thresholds written for Rasa's DIET, whose confidences crowd near 1: read as
    # asking for a clear winner (flows/engine.py) rather than taken at face value
    diet_thresholds: bool = False
    # Rasa Pro's `user_input.max_characters`: a longer message is not read (Rasa projects: 420)
    max_message_chars: int | None = None

    def __post_init__(self) -> None:
        # a slot's own rejections join every collect of it, wherever the slot is defined
        # (checked at the slot's file:line before, by checks.py); replace() keeps them single
        rejections = {name: s.rejections for name, s in self.slots.items() if s.rejections}
        if rejections:
            flows = with_slot_rejections(self.flows, rejections)
            object.__setattr__(self, "flows", MappingProxyType(flows))

    def source_of(self, section: str) -> str:
        """The file that defines a one-off section (`escalation`, `actions`), else `flows`."""
        return self.sources.get(section, "flows")

    def flows_triggered_by(self, intent: str) -> list[Flow]:
        return [f for f in self.flows.values() if any(t.intent == intent for t in f.triggers)]


def is_response(name: str, responses: Collection[str]) -> bool:
    """An action name that says a response rather than calling the action server."""
    return name in responses or name.startswith("utter_")
