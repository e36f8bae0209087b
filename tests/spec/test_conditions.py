from __future__ import annotations

from typing import Any

import pytest

from botsvc.spec.conditions import ConditionError, parse_condition


def holds(source: str, slots: dict[str, Any] | None = None, **context: Any) -> bool:
    return parse_condition(source).evaluate(slots=slots or {}, context=context)


@pytest.mark.parametrize(
    ("source", "slots", "expected"),
    [
        ('slots.plan == "pro"', {"plan": "pro"}, True),
        ('slots.plan = "pro"', {"plan": "pro"}, True),
        ('slots.plan != "pro"', {"plan": "free"}, True),
        ("slots.amount > 100", {"amount": 150.0}, True),
        ("slots.amount >= 150", {"amount": 150}, True),
        ("slots.amount < 10", {"amount": 150}, False),
        ("slots.amount <= -0.5", {"amount": -0.6}, True),
        ('slots.amount > "100"', {"amount": 150}, True),  # numeric text compares as a number
        ('slots.amount > "abc"', {"amount": 150}, False),  # not comparable: false, not an error
        ("slots.missing > 1", {}, False),
        ("slots.flag", {"flag": True}, True),
        ("slots.flag", {}, False),
        ("not slots.flag", {"flag": False}, True),
        ("slots.flag == true", {"flag": True}, True),
        ("slots.flag == 1", {"flag": True}, False),  # bools are not numbers
        ("slots.x is null", {}, True),
        ("slots.x is not null", {"x": "a"}, True),
        ("slots.x == null", {"x": None}, True),
        ('slots.size in ["S", "M"]', {"size": "M"}, True),
        ('slots.size not in ["S", "M"]', {"size": "L"}, True),
        ("slots.n in [1, 2.5]", {"n": 2.5}, True),
        ('slots.tags contains "vip"', {"tags": ["vip", "eu"]}, True),
        ('slots.note contains "urgent"', {"note": "this is urgent!"}, True),
        ('slots.order_id matches "^[A-Z]{2}-[0-9]{6}$"', {"order_id": "NW-123456"}, True),
        ('slots.order_id matches "^[A-Z]{2}-\\d{6}$"', {"order_id": "NW-123456"}, True),
        ("slots.order_id matches '^[A-Z]'", {"order_id": None}, False),
        ('not (slots.order_id matches "^[A-Z]{2}-[0-9]{6}$")', {"order_id": "x"}, True),
        ("slots.a or slots.b and slots.c", {"a": True, "b": False}, True),  # and binds tighter
        ("(slots.a or slots.b) and slots.c", {"a": True, "b": False}, False),
        ("not slots.a and slots.b", {"a": False, "b": True}, True),
        ("slots.a AND NOT slots.b", {"a": True, "b": False}, True),
        ('slots.say == "it\\"s"', {"say": 'it"s'}, True),
    ],
)
def test_condition_semantics(source: str, slots: dict[str, Any], expected: bool) -> None:
    assert holds(source, slots) is expected


def test_context_paths_reach_nested_metadata() -> None:
    customer = {"metadata": {"plan": "enterprise", "seats": 40}}
    assert holds('context.customer.metadata.plan == "enterprise"', customer=customer)
    assert holds("context.customer.metadata.seats > 10", customer=customer)
    assert not holds("context.customer.metadata.missing.deeper == 1", customer=customer)
    assert not holds('context.channel == "sms"')


def test_a_literal_bool_from_yaml_is_a_condition() -> None:
    assert parse_condition(True).evaluate(slots={}, context={}) is True
    assert parse_condition(False).evaluate(slots={}, context={}) is False


def test_slot_references_are_collected_for_load_time_checks() -> None:
    c = parse_condition('slots.a == 1 and (slots.b matches "x" or context.c.d)')
    assert c.slot_refs == {"a", "b"}
    assert c.source == 'slots.a == 1 and (slots.b matches "x" or context.c.d)'


@pytest.mark.parametrize(
    ("source", "column"),
    [
        ("", 1),
        ("slots.a ==", 11),
        ("slots.a == == 1", 12),
        ("(slots.a", 9),
        ("slots.a )", 9),
        ('slots.a == "open', 12),
        ("plan == 1", 1),  # a bare name: only slots.* and context.* exist
        ("slots == 1", 1),
        ("slots.a.b == 1", 1),
        ('slots.a matches "("', 17),
        ("slots.a matches slots.b", 17),  # the regex must be a literal, checked at load
        ("slots.a in [slots.b]", 13),
        ("slots.a not 1", 13),
        ("__import__('os').system('true')", 17),  # no attribute calls
        ("slots.a; 1", 8),
        ("slots.a and", 12),
    ],
)
def test_malformed_conditions_raise_with_a_column(source: str, column: int) -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition(source)
    assert info.value.column == column
