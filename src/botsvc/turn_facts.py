"""What the figures count about one turn, read off what the pipeline decided: the intent and
the flow position (columns of `turns`) and the flows it started, completed, cancelled or handed
off (rows of `flow_events`). Rasa's conversation patterns (`pattern_*`) are the dialogue's own
machinery, not a customer's journey, so they are left out of the funnel."""

from __future__ import annotations

from dataclasses import dataclass

from botsvc.domain import DialogueState, Outcome
from botsvc.store import FlowEvent, FlowEventKind

__all__ = ["TurnFacts", "turn_facts"]

PATTERN_PREFIX = "pattern_"
_EVENTS: dict[str, FlowEventKind] = {
    "flow_started": "started",
    "flow_completed": "completed",
    "flow_cancelled": "cancelled",
    "flows_left_for_handoff": "handed_off",
}


@dataclass(frozen=True, kw_only=True)
class TurnFacts:
    intent: str | None
    confidence: float | None
    flow_id: str | None
    step_id: str | None
    flow_events: tuple[FlowEvent, ...]
    gap: str | None  # why the message went unanswered, for the clusters of unanswered questions


def turn_facts(outcome: Outcome, before: DialogueState) -> TurnFacts:
    """`before`: the conversation's state when the message came (its active flow is the one a
    handoff interrupts when the pipeline, not a flow step, hands off)."""
    seen: dict[tuple[str, FlowEventKind], None] = {}
    flow_trace = outcome.trace.flow
    for ev in flow_trace.events if flow_trace is not None else ():
        kind = _EVENTS.get(str(ev.get("event")))
        if kind is None:
            continue
        flows = ev.get("flows") or [ev.get("flow")]
        for flow in flows:
            if isinstance(flow, str) and not flow.startswith(PATTERN_PREFIX):
                seen[(flow, kind)] = None
    if outcome.handoff is not None:
        active = outcome.flow.flow_id if outcome.flow else None
        if active is None and before.active is not None:
            active = before.active.flow_id
        if active is not None and not active.startswith(PATTERN_PREFIX):
            seen[(active, "handed_off")] = None
    nlu = outcome.trace.nlu
    return TurnFacts(
        intent=nlu.intent.name if nlu else (outcome.intent.name if outcome.intent else None),
        confidence=nlu.intent.confidence if nlu else None,
        flow_id=outcome.flow.flow_id if outcome.flow else None,
        step_id=outcome.flow.step_id if outcome.flow else None,
        flow_events=tuple(FlowEvent(flow, kind) for flow, kind in seen),
        gap=_gap(outcome),
    )


def _gap(outcome: Outcome) -> str | None:
    """A handoff for low confidence, a knowledge-base answer found but declined (below its
    threshold or an escalation floor), or a fallback: the message the bot could not answer."""
    if outcome.handoff is not None and outcome.handoff.reason == "low_confidence":
        return "low_confidence"
    kb = outcome.trace.kb
    answered = outcome.handled_by in ("kb", "flow")
    if kb is not None and kb.hits and not answered and (not kb.answered or kb.declined_by):
        return "kb_declined"
    if outcome.handled_by == "fallback":
        return "fallback"
    return None
