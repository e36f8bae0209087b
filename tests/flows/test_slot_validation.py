"""Rasa Pro's slot-level `validation`: checked at every collect of the slot, from any file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from textwrap import dedent
from typing import Any

import pytest

from botsvc.domain import (
    FALLBACK_INTENT,
    Customer,
    DialogueState,
    Entity,
    IntentScore,
    NluResult,
    TurnContext,
)
from botsvc.errors import Problem, ProjectError
from botsvc.flows.engine import FlowEngine, FlowResult
from botsvc.spec.loader import load_flow_documents
from botsvc.spec.model import FlowSpec
from botsvc.spec.steps import CollectStep

pytestmark = pytest.mark.anyio

# the slots live in a domain file, the flow in another, as in a Rasa Pro project
DOMAIN = dedent(
    """\
    slots:
      gift_name: {type: text}
      gift_price:
        type: float
        mappings: [{type: from_llm}]
        min_value: 0
        max_value: 1000
        validation:
          rejections:
            - if: slots.gift_price < 100
              utter: utter_gift_price_invalid
      gift_wishes:
        type: list
        mappings: [{type: from_llm}]
    responses:
      utter_ask_gift_name: [{text: "What gift do you want to order?"}]
      utter_ask_gift_price: [{text: "What's the price of the gift?"}]
      utter_gift_price_invalid: [{text: "Sorry, there's a minimum order of 100 euros."}]
      utter_gift_price_too_high: [{text: "That is more than we can send."}]
      utter_gift_ordered: [{text: "Ordered: {gift_name} worth {gift_price} euros."}]
    """
)
FLOWS = dedent(
    """\
    flows:
      order_gift:
        description: The customer orders a gift.
        nlu_trigger: [{intent: order_gift}]
        steps:
          - collect: gift_name
          - collect: gift_price
            rejections:
              - if: slots.gift_price > 5000
                utter: utter_gift_price_too_high
          - action: utter_gift_ordered
      change_gift_price:
        description: The customer changes the price of the gift.
        steps:
          - collect: gift_price
            ask_before_filling: true
    """
)


def load(domain: str = DOMAIN, flows: str = FLOWS) -> FlowSpec:
    return load_flow_documents([("domain/gift.yml", domain), ("data/flows/gift.yml", flows)])


def problems_of(domain: str) -> list[Problem]:
    with pytest.raises(ProjectError) as caught:
        load(domain)
    return [p for p in caught.value.problems if p.severity == "error"]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def nlu(
    text: str, intent: str = FALLBACK_INTENT, entities: Sequence[tuple[str, Any]] = ()
) -> NluResult:
    return NluResult(
        text=text,
        intent=IntentScore(intent, 0.95),
        ranking=(IntentScore(intent, 0.95),),
        entities=tuple(Entity(e, v, 0, len(text), "regex") for e, v in entities),
        sentiment=0.0,
    )


class Chat:
    def __init__(self, spec: FlowSpec) -> None:
        self.engine = FlowEngine(spec, actions=None, synonyms={})
        self.ctx = TurnContext(conversation_id="conv-1", customer=Customer("c-1", name="Ana"))
        self.state = DialogueState()

    async def say(self, text: str, intent: str = FALLBACK_INTENT, **kw: Any) -> list[str]:
        result: FlowResult = await self.engine.handle(nlu(text, intent, **kw), self.state, self.ctx)
        self.state = result.state
        return [m.text for m in result.messages]


@pytest.fixture(scope="module")
def spec() -> FlowSpec:
    return load()


# --- in a conversation ---------------------------------------------------------------------------


async def test_an_answer_the_slot_rejects_is_refused_and_asked_again(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("I want to order a gift", "order_gift")
    assert await chat.say("book") == ["What's the price of the gift?"]
    assert await chat.say("50") == [
        "Sorry, there's a minimum order of 100 euros.",
        "What's the price of the gift?",
    ]
    assert "gift_price" not in chat.state.slots
    assert await chat.say("150") == ["Ordered: book worth 150 euros."]


async def test_the_steps_own_rejections_still_apply(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("I want to order a gift", "order_gift")
    await chat.say("car")
    assert await chat.say("9000") == [
        "That is more than we can send.",
        "What's the price of the gift?",
    ]


async def test_a_value_given_before_its_collect_is_checked_when_the_flow_gets_there(
    spec: FlowSpec,
) -> None:
    chat = Chat(spec)
    first = await chat.say(
        "I want to order a gift worth 50", "order_gift", entities=[("gift_price", 50)]
    )
    assert first == ["What gift do you want to order?"]
    assert chat.state.slots == {"gift_price": 50.0}
    assert await chat.say("book") == [
        "Sorry, there's a minimum order of 100 euros.",
        "What's the price of the gift?",
    ]
    assert chat.state.slots == {"gift_name": "book"}
    assert chat.state.stack[0].waiting_for == "gift_price"


async def test_an_acceptable_value_given_early_is_not_asked_for(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("a gift worth 120", "order_gift", entities=[("gift_price", 120)])
    assert await chat.say("book") == ["Ordered: book worth 120 euros."]


async def test_min_and_max_value_reject_nothing(spec: FlowSpec) -> None:
    # as in Rasa, they bound the slot's feature for the policies and are no validation
    chat = Chat(spec)
    await chat.say("I want to order a gift", "order_gift")
    await chat.say("bike")
    assert await chat.say("4000") == ["Ordered: bike worth 4000 euros."]


# --- loading -------------------------------------------------------------------------------------


def test_the_slot_rejections_follow_the_steps_own_at_every_collect(spec: FlowSpec) -> None:
    step = spec.flows["order_gift"].steps["1_collect_gift_price"]
    assert isinstance(step, CollectStep)
    assert [(r.condition.source, r.utter) for r in step.rejections] == [
        ("slots.gift_price > 5000", "utter_gift_price_too_high"),
        ("slots.gift_price < 100", "utter_gift_price_invalid"),
    ]
    other = spec.flows["change_gift_price"].steps["0_collect_gift_price"]
    assert isinstance(other, CollectStep)
    assert [r.condition.source for r in other.rejections] == ["slots.gift_price < 100"]
    assert replace(spec).flows == spec.flows  # merged once, however often the spec is rebuilt
    assert spec.slots["gift_wishes"].type == "list"
    at_validation = ("domain/gift.yml", line_of(DOMAIN, "validation:"))
    assert at_validation not in {(p.file, p.line) for p in spec.warnings}


def test_a_rejection_condition_that_does_not_parse_is_an_error_at_its_line() -> None:
    domain = DOMAIN.replace("slots.gift_price < 100", "slots.gift_price <")
    [problem] = problems_of(domain)
    assert (problem.file, problem.line) == ("domain/gift.yml", line_of(domain, "- if:"))


def test_an_undefined_rejection_response_is_an_error_at_its_line() -> None:
    domain = DOMAIN.replace("utter: utter_gift_price_invalid", "utter: utter_nope")
    [problem] = problems_of(domain)
    assert (problem.file, problem.line) == ("domain/gift.yml", line_of(domain, "- if:"))


def test_a_rejection_reading_an_undefined_slot_is_an_error() -> None:
    domain = DOMAIN.replace("slots.gift_price < 100", "slots.gift_prize < 100")
    [problem] = problems_of(domain)
    assert (problem.file, problem.line) == ("domain/gift.yml", line_of(domain, "- if:"))


def test_an_unknown_validation_key_is_an_error() -> None:
    domain = DOMAIN.replace("rejections:", "rejectionz:")
    where = ("domain/gift.yml", line_of(domain, "rejectionz:"))
    assert where in {(p.file, p.line) for p in problems_of(domain)}


def test_refill_utter_must_exist_and_is_not_used_yet() -> None:
    def with_refill(name: str) -> str:
        return DOMAIN.replace(
            "      rejections:\n", f"      refill_utter: {name}\n      rejections:\n"
        )

    missing = with_refill("utter_nope")
    [problem] = problems_of(missing)
    assert (problem.file, problem.line) == ("domain/gift.yml", line_of(missing, "gift_price:"))
    warned = [
        p for p in load(with_refill("utter_ask_gift_price")).warnings if "refill" in p.message
    ]
    assert [(p.file, p.severity) for p in warned] == [("domain/gift.yml", "warning")]


def test_min_value_not_below_max_value_is_an_error() -> None:
    domain = DOMAIN.replace("min_value: 0", "min_value: 20000")
    [problem] = problems_of(domain)
    assert (problem.file, problem.line) == ("domain/gift.yml", line_of(domain, "gift_price:"))
