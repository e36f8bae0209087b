"""Flows: Rasa-Pro-style business processes in YAML, and the engine that runs them.

spec.py        load_flow_spec / load_flows_from_str: YAML → checked, frozen FlowSpec
conditions.py  the safe condition language (`slots.x matches "..." and not ...`)
responses.py   rendering responses (variants, tone, {slot} templating, buttons)
actions.py     ActionClient: the rasa-sdk action server protocol
engine.py      FlowEngine.handle: one message in, a FlowResult out
convtests.py   conversation tests in YAML, and the checker that runs them
"""

from __future__ import annotations

from botsvc.flows.actions import ActionClient, ActionResult
from botsvc.flows.conditions import Condition, ConditionError, parse_condition
from botsvc.flows.engine import FlowEngine, FlowResult, TurnContext, build_context
from botsvc.flows.spec import (
    EscalationRules,
    FlowSpec,
    MetadataRule,
    SlotSpec,
    load_flow_spec,
    load_flows_from_str,
)

__all__ = [
    "ActionClient",
    "ActionResult",
    "Condition",
    "ConditionError",
    "EscalationRules",
    "FlowEngine",
    "FlowResult",
    "FlowSpec",
    "MetadataRule",
    "SlotSpec",
    "TurnContext",
    "build_context",
    "load_flow_spec",
    "load_flows_from_str",
    "parse_condition",
]
