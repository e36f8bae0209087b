from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from botsvc.domain import (
    FALLBACK_INTENT,
    BotMessage,
    Customer,
    DialogueState,
    Entity,
    FlowFrame,
    FlowPosition,
    IntentScore,
    NluResult,
    TurnContext,
)
from botsvc.flows.engine import FlowEngine, FlowResult
from botsvc.nlu.parser import parse_payload
from botsvc.spec.loader import load_flows_from_str
from botsvc.spec.model import FlowSpec

pytestmark = pytest.mark.anyio

SHOP = """\
slots:
  order_id: {type: text}
  amount: {type: float}
  confirm: {type: bool}
  shipping: {type: categorical, values: [standard, Express]}
  email: {type: text}
  feedback: {type: text}
  note: {type: text}
  counter: {type: float}
  plan: {type: categorical, values: [basic, pro, max]}
  visit: {type: categorical, values: [check-up, cleaning, consultation]}
  card_problem: {type: text}
responses:
  utter_ask_order_id: [{text: "What is your order number?"}]
  utter_invalid_order_id: [{text: "That is not an order number."}]
  utter_ask_amount: [{text: "How much should we refund?"}]
  utter_ask_confirm:
    - text: "Refund {amount} for {order_id}, {customer_name}?"
      buttons: [{title: "Yes", payload: /affirm}, {title: "No", payload: /deny}]
  utter_refund_done:
    - {text: "Refund for {order_id} started.", tone: neutral}
    - {text: "I'm sorry for the trouble. Refund for {order_id} started.", tone: empathetic}
  utter_refund_kept: [{text: "Okay, nothing changed."}]
  utter_cancelled: [{text: "Cancelled."}]
  utter_ask_shipping: [{text: "Standard or express?"}]
  utter_shipping_set: [{text: "Shipping is now {shipping}."}]
  utter_which_email: [{text: "Which email address should we use?"}]
  utter_email_set: [{text: "Email set to {email}."}]
  utter_ask_feedback: [{text: "How was it?"}]
  utter_survey_done: [{text: "Thanks for the feedback."}]
  utter_back: [{text: "Back in the caller."}]
  utter_vip: [{text: "Welcome, VIP."}]
  utter_ask_plan: [{text: "Which plan: basic, pro or max?"}]
  utter_plan_set: [{text: "Plan is now {plan}."}]
  utter_ask_visit: [{text: "What kind of visit?"}]
  utter_visit_booked: [{text: "Booked: {visit}."}]
  utter_ask_card_problem: [{text: "What happened to your card?"}]
  utter_card_replaced: [{text: "A new card is on its way ({card_problem})."}]
flows:
  refund:
    description: Refund an order.
    nlu_trigger: [{intent: {name: request_refund, confidence_threshold: 0.6}}]
    steps:
      - collect: order_id
        rejections:
          - if: not (slots.order_id matches "^[A-Z]{2}-[0-9]{6}$")
            utter: utter_invalid_order_id
      - collect: amount
      - collect: confirm
      - noop: true
        next:
          - if: slots.confirm
            then:
              - action: utter_refund_done
                next: END
          - else:
              - action: utter_refund_kept
                next: END
  shipping:
    description: Change the shipping method.
    nlu_trigger: [{intent: change_shipping}]
    steps:
      - collect: shipping
        reset_after_flow_ends: false
      - action: utter_shipping_set
  email:
    description: Update the email address.
    nlu_trigger: [{intent: update_email}]
    steps:
      - collect: email
        utter: utter_which_email
        ask_before_filling: true
      - action: utter_email_set
  feedback_link:
    description: Leave feedback (links to the survey).
    nlu_trigger: [{intent: leave_feedback}]
    steps:
      - set_slots: [{note: linked}]
      - link: survey
  survey:
    description: A one-question survey.
    steps:
      - collect: feedback
      - action: utter_survey_done
  caller:
    description: Calls the survey, then carries on.
    nlu_trigger: [{intent: call_survey}]
    steps:
      - call: survey
      - action: utter_back
  human:
    description: Talk to a person.
    nlu_trigger: [{intent: talk_to_human}]
    steps:
      - handoff: {reason: customer_asked, priority: high}
  vip:
    description: Only for enterprise customers.
    if: context.customer.metadata.plan == "enterprise"
    nlu_trigger: [{intent: vip_check}]
    steps:
      - action: utter_vip
  looping:
    description: Never stops on its own.
    nlu_trigger: [{intent: loop}]
    steps:
      - id: again
        set_slots: [{counter: 1}]
        next: again
  change_plan:
    description: Change the subscription plan.
    nlu_trigger: [{intent: change_plan}]
    steps:
      - collect: plan
      - action: utter_plan_set
  visit:
    description: Book a visit.
    nlu_trigger: [{intent: book_visit}]
    steps:
      - collect: visit
      - action: utter_visit_booked
  replace_card:
    description: Replace a lost, stolen or broken card.
    nlu_trigger: [{intent: replace_card}]
    steps:
      - collect: card_problem
      - action: utter_card_replaced
escalation:
  human_request_intents: [talk_to_human]
  human_request_keywords: [real person]
  max_rejections: 3
"""


@pytest.fixture(scope="module")
def spec() -> FlowSpec:
    return load_flows_from_str(SHOP)


def nlu(
    text: str,
    intent: str = FALLBACK_INTENT,
    confidence: float = 0.95,
    entities: Sequence[tuple[str, Any]] = (),
    sentiment: float = 0.0,
) -> NluResult:
    return NluResult(
        text=text,
        intent=IntentScore(intent, confidence),
        ranking=(IntentScore(intent, confidence),),
        entities=tuple(Entity(e, v, 0, len(text), "regex") for e, v in entities),
        sentiment=sentiment,
    )


class Chat:
    """One conversation with the engine, carrying the state from turn to turn."""

    def __init__(
        self,
        spec: FlowSpec,
        customer: Customer | None = None,
        synonyms: Mapping[str, str] | None = None,
    ) -> None:
        self.engine = FlowEngine(spec, actions=None, synonyms=synonyms or {})
        self.ctx = TurnContext(
            conversation_id="conv-1", customer=customer or Customer("c-1", name="Ana")
        )
        self.state = DialogueState()

    async def say(self, text: str, intent: str = FALLBACK_INTENT, **kw: Any) -> FlowResult:
        result = await self.engine.handle(nlu(text, intent, **kw), self.state, self.ctx)
        self.state = result.state
        return result


def texts(result: FlowResult) -> list[str]:
    return [m.text for m in result.messages]


def events(result: FlowResult) -> list[str]:
    return [t["event"] for t in result.trace]


# --- starting ------------------------------------------------------------------------------------


async def test_no_trigger_means_not_handled_and_no_change(spec: FlowSpec) -> None:
    chat = Chat(spec)
    for message in [nlu("hello", "greet"), nlu("blah"), nlu("refund", "request_refund", 0.5)]:
        result = await chat.engine.handle(message, chat.state, chat.ctx)
        assert (result.status, result.messages, result.position) == ("not_handled", (), None)
        assert result.state == DialogueState()


async def test_a_trigger_starts_the_flow_and_asks_the_first_question(spec: FlowSpec) -> None:
    result = await Chat(spec).say("I want a refund", "request_refund", confidence=0.7)
    assert result.status == "handled"
    assert texts(result) == ["What is your order number?"]
    assert result.position == FlowPosition("refund", "0_collect_order_id")
    assert result.state.stack == [
        FlowFrame(flow_id="refund", step_id="0_collect_order_id", waiting_for="order_id")
    ]
    assert events(result) == ["flow_started", "slot_requested"]


async def test_an_entity_in_the_first_message_fills_the_slot_without_asking(spec: FlowSpec) -> None:
    chat = Chat(spec)
    result = await chat.say(
        "refund for NW-123456", "request_refund", entities=[("order_id", "NW-123456")]
    )
    assert texts(result) == ["How much should we refund?"]
    assert result.state.slots == {"order_id": "NW-123456"}
    assert result.position == FlowPosition("refund", "1_collect_amount")


async def test_a_whole_refund_conversation(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("I want a refund", "request_refund")
    assert texts(await chat.say("NW-123456")) == ["How much should we refund?"]
    asked = await chat.say("about 25.50 euros")
    assert texts(asked) == ["Refund 25.5 for NW-123456, Ana?"]
    assert [b.payload for b in asked.messages[0].buttons] == ["/affirm", "/deny"]
    done = await chat.say("yes please")
    assert texts(done) == ["Refund for NW-123456 started."]
    assert done.position is None and done.state.stack == []
    assert done.state.slots == {}  # reset_after_flow_ends is Rasa's default
    assert "flow_completed" in events(done)


async def test_input_state_is_never_mutated(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("I want a refund", "request_refund")
    before = chat.state.model_dump()
    kept = chat.state
    await chat.engine.handle(nlu("NW-123456"), kept, chat.ctx)
    assert kept.model_dump() == before


async def test_the_empathetic_variant_answers_an_upset_customer(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("refund NW-123456", "request_refund", entities=[("order_id", "NW-123456")])
    await chat.say("10")
    result = await chat.say("yes", sentiment=-0.8)
    assert texts(result) == ["I'm sorry for the trouble. Refund for NW-123456 started."]


async def test_a_missing_customer_name_renders_gracefully(spec: FlowSpec) -> None:
    chat = Chat(spec, Customer("c-2"))
    await chat.say("refund NW-123456", "request_refund", entities=[("order_id", "NW-123456")])
    assert texts(await chat.say("10")) == ["Refund 10 for NW-123456, there?"]


# --- slot values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent", "expected"),
    [
        ("yes", FALLBACK_INTENT, "Refund for NW-123456 started."),
        ("Yep, go ahead", FALLBACK_INTENT, "Refund for NW-123456 started."),
        ("sure thing", "affirm", "Refund for NW-123456 started."),
        ("/affirm", "affirm", "Refund for NW-123456 started."),
        ("/deny", "deny", "Okay, nothing changed."),
        ("no thanks", FALLBACK_INTENT, "Okay, nothing changed."),
        ("I'd rather not", "deny", "Okay, nothing changed."),
    ],
)
async def test_bool_slots_accept_yes_no_words_intents_and_payloads(
    spec: FlowSpec, text: str, intent: str, expected: str
) -> None:
    chat = Chat(spec)
    await chat.say("refund NW-123456", "request_refund", entities=[("order_id", "NW-123456")])
    await chat.say("12")
    assert texts(await chat.say(text, intent)) == [expected]


@pytest.mark.parametrize(
    ("text", "entities", "expected"),
    [
        ("EXPRESS", [], "Express"),
        ("express please", [], "Express"),
        ("the fast one", [("shipping", "express")], "Express"),  # NLU applied a synonym
        ("Standard.", [], "standard"),
    ],
)
async def test_categorical_slots_match_values_case_insensitively(
    spec: FlowSpec, text: str, entities: list[tuple[str, Any]], expected: str
) -> None:
    chat = Chat(spec)
    await chat.say("change shipping", "change_shipping")
    result = await chat.say(text, entities=entities)
    assert texts(result) == [f"Shipping is now {expected}."]
    assert result.state.slots == {"shipping": expected}  # reset_after_flow_ends: false


async def test_an_answer_that_is_not_a_value_is_asked_again_and_counts(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("change shipping", "change_shipping")
    result = await chat.say("overnight")
    assert texts(result) == ["Standard or express?"]
    assert result.state.stack[0].rejections == 1


async def test_a_filled_slot_is_skipped(spec: FlowSpec) -> None:
    chat = Chat(spec)
    chat.state = DialogueState(slots={"shipping": "standard"})
    result = await chat.say("change shipping", "change_shipping")
    assert texts(result) == ["Shipping is now standard."]
    assert "slot_already_filled" in events(result)


async def test_ask_before_filling_asks_with_the_step_utter(spec: FlowSpec) -> None:
    chat = Chat(spec)
    chat.state = DialogueState(slots={"email": "old@example.com"})
    result = await chat.say("new email a@b.c", "update_email", entities=[("email", "a@b.c")])
    assert texts(result) == ["Which email address should we use?"]
    done = await chat.say("new@example.com", entities=[("email", "new@example.com")])
    assert texts(done) == ["Email set to new@example.com."]


@pytest.mark.parametrize(
    ("text", "intent", "expected"),
    [
        ("yes please", FALLBACK_INTENT, "Refund for NW-123456 started."),
        ("sure, go ahead", FALLBACK_INTENT, "Refund for NW-123456 started."),
        ("yes do it", FALLBACK_INTENT, "Refund for NW-123456 started."),
        ("no, don't", FALLBACK_INTENT, "Okay, nothing changed."),
        ("nope", FALLBACK_INTENT, "Okay, nothing changed."),
        ("not now", FALLBACK_INTENT, "Okay, nothing changed."),
        ("not now, thanks", FALLBACK_INTENT, "Okay, nothing changed."),
        # the words win over a classifier that heard "do it": a no never becomes a yes
        ("don't do it", "affirm", "Okay, nothing changed."),
        ("/deny", "affirm", "Okay, nothing changed."),
    ],
)
async def test_bool_slots_read_usual_yes_no_phrasings(
    spec: FlowSpec, text: str, intent: str, expected: str
) -> None:
    chat = Chat(spec)
    await chat.say("refund NW-123456", "request_refund", entities=[("order_id", "NW-123456")])
    await chat.say("12")
    assert texts(await chat.say(text, intent)) == [expected]


@pytest.mark.parametrize("text", ["maybe later", "the blue one", "ok, don't"])
async def test_a_bool_answer_that_is_neither_yes_nor_no_is_not_understood(
    spec: FlowSpec, text: str
) -> None:
    chat = Chat(spec)
    await chat.say("refund NW-123456", "request_refund", entities=[("order_id", "NW-123456")])
    await chat.say("12")
    result = await chat.say(text)
    assert texts(result) == ["Refund 12 for NW-123456, Ana?"]
    assert result.state.stack[0].rejections == 1 and "confirm" not in result.state.slots


@pytest.mark.parametrize(
    ("flow", "text", "expected"),
    [
        ("change_plan", "premium", "Plan is now max."),  # a synonym from the training data
        ("change_plan", "the Premium one please", "Plan is now max."),
        ("change_plan", "gold plan", "Plan is now max."),
        ("change_plan", "basik", "Plan is now basic."),  # a light typo
        ("book_visit", "check up", "Booked: check-up."),  # a space for the hyphen
        ("book_visit", "Checkup", "Booked: check-up."),
        ("book_visit", "a consultaton please", "Booked: consultation."),
        ("book_visit", "clening", "Booked: cleaning."),
    ],
)
async def test_categorical_slots_match_synonyms_typos_and_spelling_variants(
    spec: FlowSpec, flow: str, text: str, expected: str
) -> None:
    synonyms = {"premium": "max", "gold plan": "max", "overnight": "next-day"}
    chat = Chat(spec, synonyms=synonyms)
    await chat.say(flow, flow)
    assert texts(await chat.say(text)) == [expected]


@pytest.mark.parametrize("text", ["mix", "overnight", "pro or max"])
async def test_short_words_ambiguous_answers_and_foreign_synonyms_do_not_match(
    spec: FlowSpec, text: str
) -> None:
    # "mix" is too short for a typo; "overnight" is a synonym, but of no plan
    chat = Chat(spec, synonyms={"overnight": "next-day"})
    await chat.say("change plan", "change_plan")
    result = await chat.say(text)
    assert texts(result) == ["Which plan: basic, pro or max?"]
    assert result.state.stack[0].rejections == 1


async def test_a_bool_entity_never_fills_a_text_slot_as_the_word_false(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("give feedback", "leave_feedback")
    result = await chat.say("nah", entities=[("feedback", False)])
    assert texts(result) == ["Thanks for the feedback."]
    filled = [t for t in result.trace if t["event"] == "slot_filled"]
    assert [(t["value"], t["source"]) for t in filled] == [("nah", "text")]


# --- rejections ----------------------------------------------------------------------------------


async def test_a_rejected_value_is_reset_and_asked_again(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("I want a refund", "request_refund")
    result = await chat.say("123")
    assert texts(result) == ["That is not an order number.", "What is your order number?"]
    assert "order_id" not in result.state.slots
    assert result.state.stack[0].rejections == 1
    assert "slot_rejected" in events(result)


async def test_a_rejected_entity_at_the_start_is_asked_for(spec: FlowSpec) -> None:
    chat = Chat(spec)
    result = await chat.say("refund 42", "request_refund", entities=[("order_id", "42")])
    assert texts(result) == ["That is not an order number.", "What is your order number?"]


async def test_too_many_rejections_hand_off(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("I want a refund", "request_refund")
    await chat.say("123")
    await chat.say("456")
    result = await chat.say("789")
    assert result.handoff is not None and result.handoff.reason == "too_many_rejections"
    assert texts(result) == ["That is not an order number."]
    assert result.state.stack == [] and result.position is None


async def test_a_good_answer_resets_the_rejection_count(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("I want a refund", "request_refund")
    await chat.say("123")
    result = await chat.say("NW-123456")
    assert result.state.stack[0].rejections == 0


# --- digressions, cancel, switching --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent"),
    [("what is your refund policy", "faq"), ("how long do refunds take?", FALLBACK_INTENT)],
)
async def test_a_knowledge_question_is_a_digression(spec: FlowSpec, text: str, intent: str) -> None:
    chat = Chat(spec)
    await chat.say("I want a refund", "request_refund")
    before = chat.state
    result = await chat.say(text, intent)
    assert result.status == "digression"
    assert result.messages == ()
    assert result.reprompt == (BotMessage("What is your order number?"),)
    assert result.state == before
    assert result.position == FlowPosition("refund", "0_collect_order_id")


async def test_a_question_that_answers_a_typed_slot_is_an_answer(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("refund NW-123456", "request_refund", entities=[("order_id", "NW-123456")])
    await chat.say("12")
    result = await chat.say("yes?")
    assert result.status == "handled" and texts(result) == ["Refund for NW-123456 started."]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("please cancel", "cancel"),
        ("never mind", FALLBACK_INTENT),
        ("Stop!", FALLBACK_INTENT),
        ("forget it", "greet"),
    ],
)
async def test_cancel_leaves_the_flow(spec: FlowSpec, text: str, intent: str) -> None:
    chat = Chat(spec)
    await chat.say("refund NW-123456", "request_refund", entities=[("order_id", "NW-123456")])
    result = await chat.say(text, intent)
    assert texts(result) == ["Cancelled."]
    assert result.state.stack == [] and result.state.slots == {}
    assert "flow_cancelled" in events(result)


async def test_stop_inside_a_longer_text_answer_is_an_answer(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("give feedback", "leave_feedback")
    result = await chat.say("please stop sending me emails")
    assert texts(result) == ["Thanks for the feedback."]


async def test_another_flow_is_pushed_and_the_first_resumes(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("I want a refund", "request_refund")
    pushed = await chat.say(
        "can I change the shipping to express",
        "change_shipping",
        entities=[("shipping", "express")],
    )
    assert texts(pushed) == ["Shipping is now Express.", "What is your order number?"]
    assert pushed.position == FlowPosition("refund", "0_collect_order_id")
    assert events(pushed)[:1] == ["flow_pushed"] and "flow_resumed" in events(pushed)


async def test_a_pushed_flow_that_waits_keeps_the_first_below(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("I want a refund", "request_refund")
    pushed = await chat.say("change shipping", "change_shipping")
    assert texts(pushed) == ["Standard or express?"]
    assert [f.flow_id for f in pushed.state.stack] == ["refund", "shipping"]
    cancelled = await chat.say("cancel", "cancel")
    assert texts(cancelled) == ["Cancelled.", "What is your order number?"]
    assert [f.flow_id for f in cancelled.state.stack] == ["refund"]


async def test_triggering_the_active_flow_again_just_asks_again(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("I want a refund", "request_refund")
    result = await chat.say("I said I want a refund", "request_refund")
    assert texts(result) == ["What is your order number?"]
    assert len(result.state.stack) == 1 and result.state.stack[0].rejections == 0


async def test_a_human_request_without_its_own_flow_is_left_to_escalation(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("give feedback", "leave_feedback")
    before = chat.state
    result = await chat.say("I want a real person now")
    assert result.status == "not_handled" and result.state == before
    assert "human_request" in events(result)


async def test_a_keyword_inside_an_understood_answer_is_the_answer_not_a_human_request(
    spec: FlowSpec,
) -> None:
    # the keyword counts only when the classifier found no intent, as in the pipeline
    chat = Chat(spec)
    await chat.say("give feedback", "leave_feedback")
    result = await chat.say("the real person at the counter was rude", "complain")
    assert result.status == "handled" and "human_request" not in events(result)
    filled = [t for t in result.trace if t["event"] == "slot_filled"]
    assert [(t["slot"], t["value"]) for t in filled] == [
        ("feedback", "the real person at the counter was rude")
    ]


async def test_a_human_request_flow_wins_over_a_text_slot(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("give feedback", "leave_feedback")
    result = await chat.say("let me talk to someone", "talk_to_human")
    assert result.handoff is not None
    assert (result.handoff.reason, result.handoff.priority) == ("customer_asked", "high")
    assert result.state.stack == []


async def test_triggering_the_active_flow_again_answers_its_text_question(spec: FlowSpec) -> None:
    chat = Chat(spec)
    asked = await chat.say("I need a new card", "replace_card")
    assert texts(asked) == ["What happened to your card?"]
    result = await chat.say("I lost my card", "replace_card")
    assert texts(result) == ["A new card is on its way (I lost my card)."]
    assert result.state.stack == [] and "flow_retriggered_as_answer" in events(result)


async def test_triggering_the_active_flow_again_with_a_value_fills_a_typed_slot(
    spec: FlowSpec,
) -> None:
    chat = Chat(spec)
    await chat.say("change plan", "change_plan")
    result = await chat.say("I want to change my plan to pro", "change_plan")
    assert texts(result) == ["Plan is now pro."]


async def test_triggering_the_active_flow_again_without_a_value_asks_again_uncounted(
    spec: FlowSpec,
) -> None:
    chat = Chat(spec)
    await chat.say("change plan", "change_plan")
    result = await chat.say("I want to change my plan", "change_plan")
    assert texts(result) == ["Which plan: basic, pro or max?"]
    assert result.state.stack[0].rejections == 0 and "flow_already_active" in events(result)


async def test_triggering_a_flow_lower_on_the_stack_answers_the_one_on_top(
    spec: FlowSpec,
) -> None:
    chat = Chat(spec)
    await chat.say("I want a refund", "request_refund")
    pushed = await chat.say("my card is broken, I need a new one", "replace_card")
    assert [f.flow_id for f in pushed.state.stack] == ["refund", "replace_card"]
    result = await chat.say("it broke, so I want a refund", "request_refund")
    assert texts(result) == [
        "A new card is on its way (it broke, so I want a refund).",
        "What is your order number?",
    ]
    assert [f.flow_id for f in result.state.stack] == ["refund"]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("how much does the max plan cost?", "faq"),
        ("how much does the max plan cost?", "change_plan"),  # the active flow's trigger
        ("how much does the max plan cost", FALLBACK_INTENT),
        ("is max worth it?", FALLBACK_INTENT),
    ],
)
async def test_a_question_naming_a_value_is_a_digression_not_an_answer(
    spec: FlowSpec, text: str, intent: str
) -> None:
    chat = Chat(spec)
    await chat.say("change plan", "change_plan")
    before = chat.state
    result = await chat.say(text, intent, entities=[("plan", "max")])
    assert result.status == "digression" and result.messages == ()
    assert [m.text for m in result.reprompt] == ["Which plan: basic, pro or max?"]
    assert result.state == before and "plan" not in result.state.slots


@pytest.mark.parametrize("text", ["max", "the max one", "max please", "max?", "Max ?"])
async def test_a_plain_answer_to_the_question_fills_the_slot(spec: FlowSpec, text: str) -> None:
    chat = Chat(spec)
    await chat.say("change plan", "change_plan")
    result = await chat.say(text)
    assert result.status == "handled" and texts(result) == ["Plan is now max."]


@pytest.mark.parametrize(
    ("text", "intent"),
    [("cancel the express shipping", "cancel"), ("stop", FALLBACK_INTENT)],
)
async def test_a_cancel_naming_a_value_leaves_the_flow_without_filling_it(
    spec: FlowSpec, text: str, intent: str
) -> None:
    chat = Chat(spec)
    await chat.say("change shipping", "change_shipping")
    result = await chat.say(text, intent, entities=[("shipping", "express")])
    assert texts(result) == ["Cancelled."]
    assert result.state.stack == [] and result.state.slots == {}
    assert not [t for t in result.trace if t["event"] == "slot_filled"]


async def test_a_human_request_naming_a_value_does_not_fill_it(spec: FlowSpec) -> None:
    chat = Chat(spec)
    await chat.say("change shipping", "change_shipping")
    before = chat.state
    result = await chat.say("express? a real person, please", entities=[("shipping", "express")])
    assert result.status == "not_handled" and result.state == before


# --- set_slots, link, call, handoff, guards ------------------------------------------------------


async def test_link_finishes_the_flow_and_starts_the_target(spec: FlowSpec) -> None:
    chat = Chat(spec)
    result = await chat.say("give feedback", "leave_feedback")
    assert texts(result) == ["How was it?"]
    assert [f.flow_id for f in result.state.stack] == ["survey"]
    assert result.state.slots == {"note": "linked"}
    assert events(result) == [
        "flow_started",
        "slots_set",
        "flow_completed",
        "flow_linked",
        "slot_requested",
    ]


async def test_call_runs_the_child_and_continues_after_it(spec: FlowSpec) -> None:
    chat = Chat(spec)
    asked = await chat.say("survey me", "call_survey")
    assert texts(asked) == ["How was it?"]
    assert [f.flow_id for f in asked.state.stack] == ["caller", "survey"]
    done = await chat.say("great service")
    assert texts(done) == ["Thanks for the feedback.", "Back in the caller."]
    assert done.state.stack == []


async def test_a_flow_guard_reads_the_customer_metadata(spec: FlowSpec) -> None:
    plain = await Chat(spec).say("vip?", "vip_check")
    assert plain.status == "not_handled" and "flow_guard_false" in events(plain)
    vip = Customer("c-9", "Bo", metadata={"plan": "enterprise"})
    assert texts(await Chat(spec, vip).say("vip?", "vip_check")) == ["Welcome, VIP."]


async def test_a_flow_that_never_waits_is_stopped_and_handed_off(spec: FlowSpec) -> None:
    result = await Chat(spec).say("loop", "loop")
    assert result.handoff is not None and result.handoff.reason == "flow_loop"
    assert result.state.stack == [] and len(result.messages) == 1


async def test_the_trace_is_json(spec: FlowSpec) -> None:
    chat = Chat(spec)
    result = await chat.say(
        "refund NW-123456", "request_refund", entities=[("order_id", "NW-123456")]
    )
    decoded = json.loads(json.dumps(list(result.trace)))
    assert decoded[0] == {
        "event": "flow_started",
        "flow": "refund",
        "intent": "request_refund",
        "confidence": 0.95,
    }
    assert {"event": "slot_prefilled", "slot": "order_id", "value": "NW-123456"} in decoded


# --- reloads -------------------------------------------------------------------------------------


async def test_a_vanished_flow_is_dropped_gracefully(spec: FlowSpec) -> None:
    chat = Chat(spec)
    chat.state = DialogueState(
        stack=[FlowFrame(flow_id="old_returns", step_id="ask_reason", waiting_for="reason")]
    )
    result = await chat.say("it was broken")
    assert result.status == "handled" and len(result.messages) == 1
    assert result.state.stack == [] and "flow_dropped" in events(result)


async def test_a_vanished_step_drops_the_frame_and_resumes_the_one_below(spec: FlowSpec) -> None:
    chat = Chat(spec)
    chat.state = DialogueState(
        stack=[
            FlowFrame(flow_id="refund", step_id="0_collect_order_id", waiting_for="order_id"),
            FlowFrame(flow_id="shipping", step_id="gone", waiting_for="shipping"),
        ]
    )
    result = await chat.say("express")
    assert len(result.messages) == 2 and texts(result)[1] == "What is your order number?"
    assert [f.flow_id for f in result.state.stack] == ["refund"]


async def test_a_vanished_frame_below_is_dropped_quietly(spec: FlowSpec) -> None:
    chat = Chat(spec)
    chat.state = DialogueState(
        stack=[
            FlowFrame(flow_id="old", step_id="x", waiting_for="y"),
            FlowFrame(flow_id="shipping", step_id="0_collect_shipping", waiting_for="shipping"),
        ]
    )
    result = await chat.say("express")
    assert texts(result) == ["Shipping is now Express."]
    assert result.state.stack == []


async def test_a_project_defined_notice_is_used_for_a_vanished_flow() -> None:
    spec = load_flows_from_str(
        'responses:\n  utter_flow_changed: [{text: "We updated our process, sorry!"}]\n'
    )
    chat = Chat(spec)
    chat.state = DialogueState(stack=[FlowFrame(flow_id="x", step_id="y")])
    assert texts(await chat.say("hi")) == ["We updated our process, sorry!"]


async def test_initial_values_are_visible_to_conditions_without_being_stored() -> None:
    spec = load_flows_from_str(
        """\
slots:
  lang: {type: categorical, values: [en, de], initial_value: de}
responses:
  utter_de: [{text: Hallo}]
  utter_en: [{text: Hello}]
flows:
  hi:
    description: Greets in the slot's language.
    nlu_trigger: [{intent: greet}]
    steps:
      - noop: true
        next:
          - if: slots.lang == "de"
            then: [{action: utter_de, next: END}]
          - else: [{action: utter_en, next: END}]
"""
    )
    result = await Chat(spec).say("hi", "greet")
    assert texts(result) == ["Hallo"] and result.state.slots == {}


ACCOUNT = """\
slots:
  email: {type: text}
responses:
  utter_ask_email: [{text: "Which email address do you sign in with?"}]
  utter_change_email_help: [{text: "Go to Settings to change your email."}]
  utter_reset_sent: [{text: "Reset link sent to {email}."}]
flows:
  reset_password:
    description: Reset the password.
    nlu_trigger: [{intent: reset_password}]
    steps:
      - collect: email
      - action: utter_reset_sent
  change_email:
    description: Change the account's email.
    nlu_trigger: [{intent: change_email}]
    steps:
      - action: utter_change_email_help
"""


async def test_stating_the_asked_slot_is_an_answer_not_another_flows_trigger() -> None:
    chat = Chat(load_flows_from_str(ACCOUNT))
    await chat.say("I forgot my password", "reset_password")
    result = await chat.say(
        "my email is ana.k@example.com",
        "change_email",
        confidence=0.8,
        entities=[("email", "ana.k@example.com")],
    )
    assert texts(result) == ["Reset link sent to ana.k@example.com."]
    assert "trigger_read_as_answer" in events(result)
    other = Chat(load_flows_from_str(ACCOUNT))
    await other.say("I forgot my password", "reset_password")
    pushed = await other.say("I also want to change my email", "change_email", confidence=0.8)
    assert texts(pushed)[0] == "Go to Settings to change your email."


@pytest.mark.parametrize(
    "text", ["Actually, cancel that please.", "ah, one moment, stop that", "never mind, thanks"]
)
async def test_a_cancel_inside_a_longer_message_leaves_the_flow(spec: FlowSpec, text: str) -> None:
    chat = Chat(spec)
    await chat.say("I want a refund", "request_refund")
    result = await chat.say(text)
    assert result.state.stack == [] and "flow_cancelled" in events(result)


PAYMENTS = """\
slots:
  payment_type: {type: categorical, values: [direct debit, standing order]}
responses:
  utter_ask_payment_type: [{text: "Which type of payment?"}]
  utter_set_up: [{text: "Setting up a {payment_type}."}]
flows:
  setup_recurrent_payment:
    description: Set up a recurring payment.
    steps:
      - collect: payment_type
      - action: utter_set_up
"""


async def test_a_flow_named_like_the_intent_starts_and_takes_a_value_named_up_front() -> None:
    chat = Chat(load_flows_from_str(PAYMENTS))
    result = await chat.say("I want to set up a new standing order", "setup_recurrent_payment")
    assert texts(result) == ["Setting up a standing order."]
    assert "flow_named_like_intent" in events(result)
    other = Chat(load_flows_from_str(PAYMENTS))
    asked = await other.say("I want a recurring payment", "setup_recurrent_payment")
    assert texts(asked) == ["Which type of payment?"]  # nothing named: asked as usual


async def test_a_set_slots_button_answers_the_question_and_fills_later_slots(
    spec: FlowSpec,
) -> None:
    chat = Chat(spec)
    await chat.say("I want a refund", "request_refund")
    payload = parse_payload("/SetSlots(order_id=AB-123456, amount=25)")
    assert payload is not None
    result = await chat.engine.handle(payload, chat.state, chat.ctx)
    assert result.state.slots["order_id"] == "AB-123456"
    assert result.state.slots["amount"] == 25.0  # filled before it was asked
    assert texts(result)[-1].startswith("Refund 25 for AB-123456")
    done = await chat.engine.handle(
        parse_payload("/SetSlots(confirm=false)") or payload, result.state, chat.ctx
    )
    assert texts(done) == ["Okay, nothing changed."]
