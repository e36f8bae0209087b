"""Flows start from their description, on the real model."""

from __future__ import annotations

import pytest

from botsvc.domain import Customer, DialogueState, IntentScore, NluResult, TurnContext
from botsvc.embedding import Embedder
from botsvc.flows.descriptions import SIMILARITY_FLOOR, DescriptionRouter
from botsvc.flows.engine import FlowEngine
from botsvc.flows.slotfill import from_entity
from botsvc.nlu.entities import EntityExtractor
from botsvc.nlu.trainingdata import load_training_data_from_str
from botsvc.spec.loader import load_flows_from_str

pytestmark = pytest.mark.anyio

SPEC = """\
slots:
  recipient: {type: text}
responses:
  utter_ask_recipient: [{text: "Who should get the money?"}]
  utter_balance: [{text: "You have 1200 on your account."}]
  utter_hi: [{text: "Hi!"}]
flows:
  transfer_money:
    description: Send money to a friend or family member.
    steps:
      - collect: recipient
  check_balance:
    description: Show the user how much money is on their account.
    steps:
      - action: utter_balance
  greet:
    description: The user says hello.
    nlu_trigger: [{intent: greet}]
    steps:
      - action: utter_hi
  pattern_completed:
    description: Ask whether there is anything else.
    steps:
      - action: utter_hi
"""
NLU = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hello
    - hi there
    - good morning
"""


@pytest.fixture(scope="module")
def router(embedder: Embedder) -> DescriptionRouter:
    spec = load_flows_from_str(SPEC)
    built = DescriptionRouter.build(spec, load_training_data_from_str(NLU), embedder)
    assert built is not None
    return built


def test_every_flow_but_the_patterns_is_described(router: DescriptionRouter) -> None:
    assert set(router.flow_ids) == {"transfer_money", "check_balance", "greet"}
    assert router.threshold >= SIMILARITY_FLOOR


@pytest.mark.parametrize(
    ("text", "flow"),
    [
        ("I want to send money to my brother", "transfer_money"),
        ("how much money is on my account?", "check_balance"),
        ("what's the weather like", None),
        ("hello", "greet"),
    ],
)
def test_a_message_starts_the_flow_it_describes(
    router: DescriptionRouter, embedder: Embedder, text: str, flow: str | None
) -> None:
    match = router.match(embedder.encode([text])[0])
    assert (match.flow_id if match else None) == flow


async def test_the_engine_starts_the_described_flow_when_no_intent_triggers_one(
    router: DescriptionRouter, embedder: Embedder
) -> None:
    engine = FlowEngine(load_flows_from_str(SPEC), actions=None)
    text = "please transfer some money to my sister"
    nlu = NluResult(text=text, intent=IntentScore("nlu_fallback", 0.5), ranking=())
    ctx = TurnContext(conversation_id="d1", customer=Customer("c"))
    described = router.match(embedder.encode([text])[0])
    result = await engine.handle(nlu, DialogueState(), ctx, described=described)
    assert [m.text for m in result.messages] == ["Who should get the money?"]
    assert "flow_matched_description" in [e["event"] for e in result.trace]


TRANSFER = """\
slots:
  transfer_recipient: {type: text}
  transfer_amount: {type: text}
responses:
  utter_ask_transfer_recipient: [{text: "Who should get the money?"}]
  utter_ask_transfer_amount: [{text: "How much?"}]
  utter_done: [{text: "Sent {transfer_amount} to {transfer_recipient}."}]
flows:
  transfer_money:
    description: Send money to a friend or family member.
    steps:
      - collect: transfer_recipient
      - collect: transfer_amount
      - action: utter_done
"""


async def test_a_slot_without_an_entity_of_its_own_takes_the_built_in_one_its_name_asks_for(
    embedder: Embedder,
) -> None:
    spec = load_flows_from_str(TRANSFER)
    training = load_training_data_from_str(NLU)
    text = "send 50 dollars to John Smith"
    nlu = NluResult(
        text=text,
        intent=IntentScore("nlu_fallback", 0.5),
        ranking=(),
        entities=tuple(EntityExtractor.from_training_data(training).extract(text)),
    )
    router = DescriptionRouter.build(spec, training, embedder)
    assert router is not None
    result = await FlowEngine(spec, actions=None).handle(
        nlu,
        DialogueState(),
        TurnContext(conversation_id="d2", customer=Customer("c")),
        described=router.match(embedder.encode([text])[0]),
    )
    assert [m.text for m in result.messages] == ["Sent 50 to John Smith."]


def test_the_last_word_of_a_slots_name_says_which_built_in_entity_fills_it() -> None:
    # "money" is in the name, but the slot is the recipient
    spec = load_flows_from_str(TRANSFER.replace("transfer_recipient", "transfer_money_recipient"))
    text = "send 20 dollars to Joe"
    extractor = EntityExtractor.from_training_data(load_training_data_from_str(NLU))
    nlu = NluResult(
        text=text,
        intent=IntentScore("nlu_fallback", 0.5),
        ranking=(),
        entities=tuple(extractor.extract(text)),
    )
    fill = from_entity(spec.slots["transfer_money_recipient"], nlu)
    assert fill is not None and fill.value == "Joe"
    amount = from_entity(spec.slots["transfer_amount"], nlu)
    assert amount is not None and amount.value == "20"
