"""Correcting an earlier answer: applied at once, or confirmed by the project's
pattern_correction as in Rasa Pro."""

from __future__ import annotations

import pytest

from botsvc.domain import Customer, DialogueState, Entity, IntentScore, NluResult, TurnContext
from botsvc.flows.engine import FlowEngine, FlowResult
from botsvc.nlu.parser import parse_payload
from botsvc.spec.loader import load_flows_from_str

pytestmark = pytest.mark.anyio

SPEC = """\
slots:
  recipient: {type: text}
  amount: {type: float}
  confirm_slot_correction: {type: bool}
responses:
  utter_ask_recipient: [{text: "Who gets the money?"}]
  utter_ask_amount: [{text: "How much?"}]
  utter_sent: [{text: "Sending {amount} to {recipient}."}]
  utter_ask_confirm_slot_correction: [{text: "Shall I update that?"}]
  utter_corrected_previous_input: [{text: "Updated."}]
  utter_not_corrected_previous_input: [{text: "Kept as it was."}]
flows:
  transfer:
    description: Send money.
    nlu_trigger: [{intent: transfer}]
    steps:
      - collect: recipient
      - collect: amount
      - action: utter_sent
"""
PATTERN = """\
  pattern_correction:
    description: Confirm a correction.
    steps:
      - noop: true
        next:
          - if: context.is_reset_only
            then:
              - action: action_correct_flow_slot
                next: END
          - else:
              - collect: confirm_slot_correction
                next:
                  - if: not slots.confirm_slot_correction
                    then:
                      - action: utter_not_corrected_previous_input
                        next: END
                  - else:
                      - action: action_correct_flow_slot
                      - action: utter_corrected_previous_input
                        next: END
"""


class Chat:
    def __init__(self, text: str) -> None:
        self.engine = FlowEngine(load_flows_from_str(text), actions=None)
        self.ctx = TurnContext(conversation_id="k1", customer=Customer("c"))
        self.state = DialogueState()

    async def say(self, text: str, intent: str = "nlu_fallback", **entities: object) -> FlowResult:
        nlu = parse_payload(text) or NluResult(
            text=text,
            intent=IntentScore(intent, 0.95),
            ranking=(),
            entities=tuple(Entity(k, v, 0, len(text), "test") for k, v in entities.items()),
        )
        result = await self.engine.handle(nlu, self.state, self.ctx)
        self.state = result.state
        return result


def texts(result: FlowResult) -> list[str]:
    return [m.text for m in result.messages]


async def test_a_correction_is_applied_and_the_question_asked_again() -> None:
    chat = Chat(SPEC)
    await chat.say("send money", "transfer")
    await chat.say("John")
    result = await chat.say("Sorry, I meant to say Joe")
    assert chat.state.slots["recipient"] == "Joe"
    assert texts(result) == ["Updated.", "How much?"]
    done = await chat.say("50")
    assert texts(done) == ["Sending 50 to Joe."]


async def test_an_entity_corrects_the_slot_it_fills() -> None:
    chat = Chat(SPEC)
    await chat.say("send money", "transfer")
    await chat.say("John")
    result = await chat.say("actually it should go to Maria", recipient="Maria")
    assert chat.state.slots["recipient"] == "Maria" and texts(result)[-1] == "How much?"


async def test_the_projects_pattern_confirms_before_correcting() -> None:
    chat = Chat(SPEC + PATTERN)
    await chat.say("send money", "transfer")
    await chat.say("John")
    asked = await chat.say("Sorry, I meant Joe")
    assert texts(asked) == ["Shall I update that?"]
    assert chat.state.slots["recipient"] == "John"  # not yet
    yes = await chat.say("/SetSlots(confirm_slot_correction=true)")
    assert chat.state.slots["recipient"] == "Joe"
    assert texts(yes) == ["Updated.", "How much?"]


async def test_declining_the_correction_keeps_the_old_value() -> None:
    chat = Chat(SPEC + PATTERN)
    await chat.say("send money", "transfer")
    await chat.say("John")
    await chat.say("no wait, I meant Joe")
    no = await chat.say("/SetSlots(confirm_slot_correction=false)")
    assert chat.state.slots["recipient"] == "John"
    assert texts(no) == ["Kept as it was.", "How much?"]


async def test_a_plain_answer_is_never_a_correction() -> None:
    chat = Chat(SPEC)
    await chat.say("send money", "transfer")
    await chat.say("John")
    result = await chat.say("sorry, 20")  # the amount asked for, with an apology
    assert texts(result) == ["Sending 20 to John."]
