"""The frozen shape of a loaded flow: one small class per step type, plus the flow itself.

Every step knows its id (written or generated as `<index>_<kind>_<name>`, as Rasa does), the line
it was written on, and its resolved `next`: branches tried in order, each a condition (None for
`else` or a plain `next`) and a target step id or `END`. Fall-through is resolved at load time, so
the runtime only follows links.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botsvc.domain import Priority
from botsvc.spec.conditions import Condition

__all__ = [
    "END",
    "ActionStep",
    "Branch",
    "CallStep",
    "CollectStep",
    "Flow",
    "HandoffStep",
    "LinkStep",
    "NoopStep",
    "Rejection",
    "SetSlotsStep",
    "Step",
    "Trigger",
]

END = "END"


@dataclass(frozen=True)
class Branch:
    condition: Condition | None  # None: always taken (`else`, or a plain `next: <id>`)
    target: str  # a step id of the same flow, or END
    line: int | None = None


@dataclass(frozen=True, kw_only=True)
class _StepBase:
    id: str
    line: int | None
    next: tuple[Branch, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Rejection:
    condition: Condition
    utter: str | None
    line: int | None


@dataclass(frozen=True, kw_only=True)
class CollectStep(_StepBase):
    slot: str
    utter: str  # the question; `utter_ask_<slot>` unless the step names another response
    rejections: tuple[Rejection, ...] = ()
    ask_before_filling: bool = False
    reset_after_flow_ends: bool = True  # Rasa's default


@dataclass(frozen=True, kw_only=True)
class ActionStep(_StepBase):
    action: str  # a response name (utter_*) or a custom action run by the action server


@dataclass(frozen=True, kw_only=True)
class SetSlotsStep(_StepBase):
    values: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class LinkStep(_StepBase):
    """Finish this flow and start `flow` in its place (terminal)."""

    flow: str


@dataclass(frozen=True, kw_only=True)
class CallStep(_StepBase):
    """Run `flow` on top of this one and continue here when it ends."""

    flow: str


@dataclass(frozen=True, kw_only=True)
class HandoffStep(_StepBase):
    """Hand the conversation to a human (terminal: every flow on the stack ends)."""

    reason: str
    priority: Priority = "normal"
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class NoopStep(_StepBase):
    """A pure branching node (`noop: true` with `next`)."""


Step = CollectStep | ActionStep | SetSlotsStep | LinkStep | CallStep | HandoffStep | NoopStep


@dataclass(frozen=True)
class Trigger:
    intent: str
    confidence_threshold: float | None = None  # None: any intent other than nlu_fallback
    line: int | None = None


@dataclass(frozen=True)
class Flow:
    id: str
    description: str
    steps: Mapping[str, Step]  # in written (depth-first) order; the first one starts the flow
    first_step: str
    triggers: tuple[Trigger, ...] = ()
    guard: Condition | None = None  # the flow's `if`: it starts from a trigger only when true
    name: str = ""
    file: str = ""
    line: int | None = None
    nlu_based: bool = False  # made from Rasa rules or forms (rasa_layout.py), not a CALM flow
    persisted_slots: frozenset[str] = frozenset()  # Rasa's: kept when the flow ends

    def step(self, step_id: str | None) -> Step | None:
        return self.steps.get(step_id) if step_id else None

    def slots_to_reset(self) -> tuple[str, ...]:
        """The slots collected with `reset_after_flow_ends` (the default) and not in
        `persisted_slots`, cleared when it ends."""
        return tuple(
            dict.fromkeys(
                s.slot
                for s in self.steps.values()
                if isinstance(s, CollectStep)
                and s.reset_after_flow_ends
                and s.slot not in self.persisted_slots
            )
        )
