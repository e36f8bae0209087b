"""Reading a slot's value from an answer: abbreviated categorical values, questions and polite
requests, and the built-in entity a text slot's name asks for."""

from __future__ import annotations

import pytest

from botsvc.domain import Entity, IntentScore, NluResult
from botsvc.flows.slotfill import from_answer, from_entity, generic_kind, is_question
from botsvc.spec.model import SlotSpec


def nlu(text: str, *entities: Entity) -> NluResult:
    return NluResult(
        text=text, intent=IntentScore("nlu_fallback", 0.5), ranking=(), entities=entities
    )


PAYMENT = SlotSpec(
    name="payment_type", type="categorical", values=("direct debit", "standing order")
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("d direct", "direct debit"),
        ("d debit", "direct debit"),
        ("s order", "standing order"),
        ("d x", None),  # no word of a value said whole
        ("debit", None),  # one word of two: not enough to choose
    ],
)
def test_an_abbreviated_multi_word_value_is_read(text: str, value: str | None) -> None:
    fill = from_answer(PAYMENT, nlu(text), strict=False)
    assert (fill.value if fill else None) == value


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("Could I have a capricciosa?", False),
        ("actually can i get 2 pizzas instead", False),
        ("can I pay by card?", True),
        ("how much does the max plan cost", True),
        ("the max plan", False),
    ],
)
def test_polite_requests_are_no_questions(text: str, question: bool) -> None:
    assert is_question(text) is question


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("transfer_money_recipient", "person"),
        ("transfer_money_amount_of_money", "amount_of_money"),
        ("transfer_money_final_confirmation", None),  # not money: the head is the last word
        ("recurrent_payment_start_date", "time"),
        ("num_pizza", "number"),
    ],
)
def test_a_text_slot_asks_for_the_entity_its_last_word_names(name: str, kind: str | None) -> None:
    assert generic_kind(SlotSpec(name=name, type="text", entity=name)) == kind


def test_a_number_word_is_no_amount_but_digits_are() -> None:
    slot = SlotSpec(name="amount_of_money", type="text", entity="amount_of_money")
    one = Entity(entity="number", value=1, start=0, end=3, extractor="builtin")
    assert from_entity(slot, nlu("one moment", one), asked=True) is None
    fifty = Entity(entity="number", value=50, start=0, end=2, extractor="builtin")
    fill = from_entity(slot, nlu("50", fifty), asked=True)
    assert fill is not None and fill.value == "50"
