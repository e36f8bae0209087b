"""Cross-reference checks over the whole project: names that must exist, and names that should."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botsvc.errors import Problem
from botsvc.spec.conditions import Condition
from botsvc.spec.model import EscalationRules, SlotSpec, is_response
from botsvc.spec.rasa_defaults import BUILTIN_ACTIONS, RUN_BUILTINS
from botsvc.spec.steps import (
    ActionStep,
    CallStep,
    CollectStep,
    Flow,
    LinkStep,
    Rejection,
    SetSlotsStep,
    Step,
)
from botsvc.spec.variants import ResponseVariant, declared_languages, template_names

__all__ = ["SpecParts", "check_references"]

BUILTIN_TEMPLATE_NAMES = frozenset({"customer_name"})
RASA_PATTERN_PREFIX = "pattern_"


@dataclass(frozen=True)
class SpecParts:
    """The merged sections of every file, before they are frozen into a FlowSpec."""

    slots: Mapping[str, SlotSpec]
    responses: Mapping[str, tuple[ResponseVariant, ...]]
    response_files: Mapping[str, str]
    flows: Mapping[str, Flow]
    endpoint: str | None
    action_names: tuple[str, ...] | None  # declared custom actions, when the project lists them
    escalation: EscalationRules
    escalation_at: tuple[str, int | None]


def check_references(p: SpecParts, intents: Collection[str] | None) -> list[Problem]:
    problems: list[Problem] = []
    for flow in p.flows.values():
        problems += _check_flow(p, flow, intents)
    problems += _check_slots(p)
    problems += _check_starts(p)
    problems += _check_escalation(p, intents)
    problems += _check_templates(p)
    problems += _check_languages(p)
    return problems


def _check_flow(p: SpecParts, flow: Flow, intents: Collection[str] | None) -> list[Problem]:
    out: list[Problem] = []

    def error(line: int | None, message: str, severity: str = "error") -> None:
        out.append(Problem(flow.file, line, f"flow {flow.id!r}: {message}", severity))

    for t in flow.triggers:
        if intents is not None and t.intent not in intents:
            error(t.line, f"nlu_trigger names intent {t.intent!r}, which intents/ does not define")
    if flow.guard is not None:
        for msg in _unknown_slots(flow.guard, p.slots):
            error(flow.line, f"the flow's `if` {msg}")
    for step in flow.steps.values():
        for line, message, severity in _check_step(p, step):
            error(line, f"step {step.id!r}: {message}", severity)
    return out


def _check_step(p: SpecParts, step: Step) -> Iterable[tuple[int | None, str, str]]:
    line = step.line
    for branch in step.next:
        if branch.condition is not None:
            for msg in _unknown_slots(branch.condition, p.slots):
                yield branch.line, f"the `next` condition {msg}", "error"
    if isinstance(step, CollectStep):
        yield from _check_collect(p, step)
    elif isinstance(step, ActionStep):
        yield from _check_action(p, step)
    elif isinstance(step, SetSlotsStep):
        for name, value in step.values.items():
            slot = p.slots.get(name)
            if slot is None:
                yield line, f"sets slot {name!r}, which `slots:` does not define", "error"
            elif (why := _bad_value(slot, value)) is not None:
                yield line, f"sets slot {name!r} to {value!r}, but {why}", "error"
    elif isinstance(step, (LinkStep, CallStep)) and step.flow not in p.flows:
        kind = "links" if isinstance(step, LinkStep) else "calls"
        yield line, f"{kind} to flow {step.flow!r}, which is not defined", "error"


def _check_collect(p: SpecParts, step: CollectStep) -> Iterable[tuple[int | None, str, str]]:
    if step.slot not in p.slots:
        yield step.line, f"collects slot {step.slot!r}, which `slots:` does not define", "error"
    if step.utter not in p.responses and (missing := _missing_question(p, step)) is not None:
        yield missing
    yield from _check_rejections(p, step.rejections)


def _check_rejections(
    p: SpecParts, rejections: Iterable[Rejection]
) -> Iterable[tuple[int | None, str, str]]:
    for r in rejections:
        if r.utter is not None and r.utter not in p.responses:
            yield r.line, f"rejection response {r.utter!r} is not defined", "error"
        for msg in _unknown_slots(r.condition, p.slots):
            yield r.line, f"the rejection condition {msg}", "error"


def _check_slots(p: SpecParts) -> list[Problem]:
    """A slot's own `validation` (Rasa Pro), reported at the slot's file and line."""
    out: list[Problem] = []
    for slot in p.slots.values():
        found = list(_check_rejections(p, slot.rejections))
        if slot.refill_utter is not None:
            found.append(_refill(p, slot))
        out += [Problem(slot.file, line, f"slot {slot.name!r}: {m}", s) for line, m, s in found]
    return out


def _refill(p: SpecParts, slot: SlotSpec) -> tuple[int | None, str, str]:
    if slot.refill_utter not in p.responses:
        return slot.line, f"refill_utter {slot.refill_utter!r} is not defined", "error"
    return (
        slot.line,
        f"refill_utter {slot.refill_utter!r} is not used by botsvc yet: after a rejection the "
        "collect's own question is asked again",
        "warning",
    )


def _missing_question(p: SpecParts, step: CollectStep) -> tuple[int | None, str, str] | None:
    # Rasa asks with a custom action `action_ask_<slot>` when there is no `utter_ask_<slot>`,
    # and so does botsvc (FlowRun.question_action)
    asks = (f"action_ask_{step.utter.removeprefix('utter_ask_')}", f"action_ask_{step.slot}")
    if step.utter.startswith("utter_ask_") and any(a in (p.action_names or ()) for a in asks):
        return None
    return (
        step.line,
        f"asks with response {step.utter!r}, which `responses:` does not define; "
        f"add it or name another response with `utter:`",
        "error",
    )


def _check_action(p: SpecParts, step: ActionStep) -> Iterable[tuple[int | None, str, str]]:
    name = step.action
    if is_response(name, p.responses):
        if name not in p.responses:
            yield step.line, f"response {name!r} is not defined in `responses:`", "error"
        return
    if name in BUILTIN_ACTIONS:
        if name not in RUN_BUILTINS:
            yield (
                step.line,
                f"{name!r} is one of Rasa's built-in actions that botsvc does not implement yet: "
                "it does nothing",
                "warning",
            )
        return
    if p.endpoint is None:
        yield (
            step.line,
            f"custom action {name!r} needs an action server, but no `actions: {{endpoint: ...}}` "
            f"is set (BOTSVC_ACTION_ENDPOINT can also set it)",
            "warning",
        )
    if p.action_names is not None and name not in p.action_names:
        yield step.line, f"custom action {name!r} is not in the declared `actions`", "warning"


def _unknown_slots(condition: Condition, slots: Mapping[str, SlotSpec]) -> list[str]:
    return [
        f"{condition.source!r} reads slots.{name}, which `slots:` does not define"
        for name in sorted(condition.slot_refs)
        if name not in slots
    ]


def _bad_value(slot: SlotSpec, value: Any) -> str | None:
    if value is None or slot.type == "any":
        return None
    if slot.type == "bool" and not isinstance(value, bool):
        return "the slot is a bool (true/false)"
    if slot.type == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return "the slot is a float (a number)"
    if slot.type == "text" and not isinstance(value, str):
        return "the slot is text (quote the value)"
    if slot.type == "list" and not isinstance(value, list):
        return "the slot is a list (write `[...]`)"
    if slot.type == "categorical" and str(value).lower() not in {v.lower() for v in slot.values}:
        return f"the slot's values are {list(slot.values)}"
    return None


def _check_starts(p: SpecParts) -> list[Problem]:
    out: list[Problem] = []
    targets = {
        s.flow
        for f in p.flows.values()
        for s in f.steps.values()
        if isinstance(s, (LinkStep, CallStep))
    }
    by_intent: dict[str, str] = {}
    for flow in p.flows.values():
        if not flow.triggers and flow.id not in targets and (why := _never_starts(flow)):
            out.append(_warn(flow, why))
        for t in flow.triggers:
            if t.intent in by_intent and by_intent[t.intent] != flow.id:
                out.append(
                    _warn(
                        flow,
                        f"intent {t.intent!r} also triggers {by_intent[t.intent]!r}, "
                        f"which is tried first",
                        t.line,
                    )
                )
            by_intent.setdefault(t.intent, flow.id)
    return out


# Rasa patterns that the flows runtime starts by itself, as Rasa does
RUN_PATTERNS = frozenset(
    {
        "pattern_cancel_flow",
        "pattern_chitchat",
        "pattern_clarification",
        "pattern_completed",
        "pattern_continue_interrupted",
        "pattern_correction",
        "pattern_human_handoff",
    }
)


def _never_starts(flow: Flow) -> str | None:
    """Why a flow without nlu_trigger that no flow links to never starts (None: it does)."""
    if flow.id in RUN_PATTERNS:
        return None
    if flow.id.startswith(RASA_PATTERN_PREFIX):
        # Rasa starts its other patterns by itself (a correction, a clarification, ...)
        return "is a Rasa pattern that botsvc does not start yet (only from a link or call)"
    if flow.description.strip():
        return (
            "has no nlu_trigger and no flow links to it: it starts only when a message is close "
            "to its description"
        )
    return "has no nlu_trigger, no description and no flow links to it: it never starts"


def _warn(flow: Flow, message: str, line: int | None = None) -> Problem:
    return Problem(flow.file, line or flow.line, f"flow {flow.id!r} {message}", "warning")


def _check_escalation(p: SpecParts, intents: Collection[str] | None) -> list[Problem]:
    file, line = p.escalation_at
    out = []
    for intent in p.escalation.human_request_intents:
        if intents is not None and intent not in intents:
            out.append(
                Problem(
                    file,
                    line,
                    f"escalation: human_request_intents names unknown intent "
                    f"{intent!r}; define it in intents/ or remove it",
                )
            )
    for rule in p.escalation.metadata_rules:
        for msg in _unknown_slots(rule.condition, p.slots):
            out.append(Problem(rule.file, rule.line, f"escalation metadata rule: {msg}"))
    return out


def _check_templates(p: SpecParts) -> list[Problem]:
    out = []
    for name, variants in p.responses.items():
        for v in variants:
            for placeholder in sorted(template_names(v)):
                if placeholder not in p.slots and placeholder not in BUILTIN_TEMPLATE_NAMES:
                    out.append(
                        Problem(
                            p.response_files.get(name, ""),
                            v.line,
                            f"response {name!r} uses {{{placeholder}}}, which is not a slot; "
                            f"it renders empty unless a custom action passes it",
                            "warning",
                        )
                    )
    return out


def _check_languages(p: SpecParts) -> list[Problem]:
    """A response the flows say with no variant for a language another response has, and none
    without `lang`: a conversation in that language would switch language there."""
    languages = declared_languages(p.responses)
    if not languages:
        return []
    speaks: dict[str, str] = {}  # a language -> the first response in it, named in the message
    for name, variants in p.responses.items():
        for v in variants:
            if v.lang:
                speaks.setdefault(v.lang, name)
    out: list[Problem] = []
    for name in sorted(_said_by_flows(p)):
        variants = p.responses.get(name, ())
        if not variants or any(v.lang is None for v in variants):
            continue
        for code in sorted(languages - {v.lang for v in variants}):
            out.append(
                Problem(
                    p.response_files.get(name, ""),
                    variants[0].line,
                    f"response {name!r} has no `lang: {code}` variant and none without `lang`, "
                    f"while {speaks[code]!r} has one: a conversation in {code} would switch "
                    f"language here; add a `lang: {code}` variant or one without `lang`",
                    "warning",
                )
            )
    return out


def _said_by_flows(p: SpecParts) -> set[str]:
    """The responses a flow step says: its actions, its questions, its rejections' replies."""
    said = {r.utter for s in p.slots.values() for r in s.rejections if r.utter}
    for flow in p.flows.values():
        for step in flow.steps.values():
            if isinstance(step, ActionStep) and step.action in p.responses:
                said.add(step.action)
            elif isinstance(step, CollectStep):
                said.add(step.utter)
                said |= {r.utter for r in step.rejections if r.utter}
    return said
