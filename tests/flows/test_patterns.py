"""Rasa Pro's conversation patterns that a project defines: cancelling, "anything else?", and
the built-in actions they call, run inside botsvc."""

from __future__ import annotations

from typing import Any

import pytest

from botsvc.domain import Customer, DialogueState, IntentScore, NluResult, TurnContext
from botsvc.flows.engine import FlowEngine, FlowResult
from botsvc.spec.loader import load_flows_from_str

pytestmark = pytest.mark.anyio

SPEC = """\
slots:
  amount: {type: float}
  route_session_to_calm: {type: bool}
responses:
  utter_ask_amount: [{text: "How much?"}]
  utter_sent: [{text: "Sent {amount}."}]
  utter_anything_else: [{text: "Can I help with anything else?"}]
  utter_transfer_cancelled: [{text: "Okay, the transfer is cancelled."}]
  utter_other_cancelled: [{text: "Cancelled."}]
flows:
  transfer_money:
    name: transfer money
    description: Send money.
    nlu_trigger: [{intent: transfer}]
    steps:
      - collect: amount
      - action: utter_sent
  pattern_cancel_flow:
    description: A flow was cancelled.
    steps:
      - noop: true
        next:
          - if: context.canceled_name = "transfer money"
            then:
              - action: utter_transfer_cancelled
                next: done
          - else: done
      - id: done
        action: action_cancel_flow
  pattern_completed:
    description: Nothing left to do.
    steps:
      - action: utter_anything_else
      - action: action_reset_routing
"""


def say(text: str, intent: str) -> NluResult:
    return NluResult(text=text, intent=IntentScore(intent, 0.95), ranking=())


async def chat(*turns: tuple[str, str]) -> list[FlowResult]:
    engine = FlowEngine(load_flows_from_str(SPEC), actions=None)  # no action server needed
    ctx = TurnContext(conversation_id="p1", customer=Customer("c"))
    state, out = DialogueState(), []
    for text, intent in turns:
        result = await engine.handle(say(text, intent), state, ctx)
        state = result.state
        out.append(result)
    return out


def events(result: FlowResult) -> list[tuple[str, Any]]:
    return [(e["event"], e.get("flow") or e.get("action")) for e in result.trace]


async def test_completing_the_last_flow_runs_pattern_completed() -> None:
    _, done = await chat(("send money", "transfer"), ("40", "nlu_fallback"))
    assert [m.text for m in done.messages] == ["Sent 40.", "Can I help with anything else?"]
    assert ("flow_started", "pattern_completed") in events(done)
    assert ("action_called", "action_reset_routing") in events(done)  # built in, no server
    assert done.state.stack == [] and done.handoff is None


async def test_cancelling_runs_the_projects_cancel_pattern_with_the_flows_name() -> None:
    first, cancelled = await chat(("send money", "transfer"), ("cancel", "cancel"))
    assert first.state.slots["route_session_to_calm"] is True  # as Rasa's router marks it
    assert [m.text for m in cancelled.messages][:2] == [
        "Okay, the transfer is cancelled.",
        "Can I help with anything else?",
    ]
    assert ("flow_cancelled", "transfer_money") in events(cancelled)
    assert ("flow_started", "pattern_cancel_flow") in events(cancelled)
    assert cancelled.state.stack == []


async def test_without_patterns_the_defaults_stay() -> None:
    engine = FlowEngine(load_flows_from_str(SPEC.split("  pattern_cancel_flow:")[0]), actions=None)
    ctx = TurnContext(conversation_id="p2", customer=Customer("c"))
    started = await engine.handle(say("send money", "transfer"), DialogueState(), ctx)
    done = await engine.handle(say("40", "nlu_fallback"), started.state, ctx)
    assert [m.text for m in done.messages] == ["Sent 40."]
