"""Rasa's response features: Jinja templates (`metadata: {template: jinja}`) and conditional
variants (`condition: [{type: slot, name, value}]`), as the customer sees them."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from botsvc.cli import main
from botsvc.domain import Customer, DialogueState, IntentScore, NluResult, TurnContext
from botsvc.errors import ProjectError
from botsvc.flows.engine import FlowEngine
from botsvc.flows.responses import render_response
from botsvc.spec.loader import load_flows_from_str
from botsvc.spec.model import FlowSpec

SPEC = dedent(
    """\
    slots:
      order_number: {type: text}
      order_status: {type: categorical, values: [shipped, delivered]}
      fee: {type: float, initial_value: 4.5}
      express: {type: bool}
    responses:
      utter_status:
        - text: "Order {{ order_number }} is {{ slots.order_status or 'unknown' }}."
          metadata: {rephrase: true, template: jinja}
      utter_corrected:
        - text: "Updated {{ context.corrected_slots.keys()|join(', ') }}."
          metadata: {template: jinja}
      utter_greet:
        - text: "{% if customer_name %}Hi {{ customer_name }}{% endif %}, fee {{ fee }}"
          metadata: {template: jinja}
      utter_broken:
        - text: "Order {{ order_number "
          metadata: {template: jinja}
      utter_fails_at_run_time:
        - text: "Updated {{ context.corrected_slots.keys()|join(', ') }}."
          metadata: {template: jinja}
      utter_plain:
        - text: "Order {order_number}, {{literal}}"
          metadata: {rephrase: true}
      utter_order:
        - text: "Order {order_number}: {order_status}."
        - text: "Order {order_number} has been delivered."
          condition:
            - type: slot
              name: order_status
              value: Delivered
        - text: "Express order {order_number} has been delivered."
          condition:
            - {type: slot, name: order_status, value: delivered}
            - {type: slot, name: express, value: true}
      utter_fee:
        - text: "Free delivery."
          condition: [{type: slot, name: fee, value: 0}]
        - text: "No order number yet."
          condition: [{type: slot, name: order_number, value: null}]
        - text: "Delivery costs {fee}."
    """
)


@pytest.fixture(scope="module")
def spec() -> FlowSpec:
    return load_flows_from_str(SPEC, file="flows/shop.yml")


def text(
    spec: FlowSpec,
    name: str,
    *,
    slots: Mapping[str, Any] | None = None,
    customer: Customer | None = None,
    extra: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
) -> str:
    """The one message the customer sees for response `name`."""
    (message,) = render_response(
        spec,
        name,
        slots=slots or {},
        customer=customer,
        extra=extra,
        context=context,
        rng=random.Random(0),
    )
    return message.text


def texts(spec: FlowSpec, name: str, slots: Mapping[str, Any]) -> set[str]:
    """Every text the customer may see for response `name` (30 draws)."""
    rng = random.Random(3)
    return {render_response(spec, name, slots=slots, rng=rng)[0].text for _ in range(30)}


# --- Jinja -----------------------------------------------------------------------------------


def test_a_jinja_response_sees_each_slot_by_name_and_the_slots_dict(spec: FlowSpec) -> None:
    slots = {"order_number": "NW-1", "order_status": "shipped"}
    assert text(spec, "utter_status", slots=slots) == "Order NW-1 is shipped."
    # an unset slot renders empty (not "None"), and `slots` holds only what is set
    assert text(spec, "utter_status", slots={}) == "Order  is unknown."


def test_a_jinja_response_reads_the_pattern_context(spec: FlowSpec) -> None:
    context = {"corrected_slots": {"order_number": "NW-2", "fee": 0}}
    assert text(spec, "utter_corrected", context=context) == "Updated order_number, fee."


def test_a_jinja_response_sees_customer_name_initial_values_and_action_variables(
    spec: FlowSpec,
) -> None:
    ana = Customer("c", "Ana")
    assert text(spec, "utter_greet", customer=ana) == "Hi Ana, fee 4.5"
    assert text(spec, "utter_greet", extra={"fee": "1.00"}) == "Hi there, fee 1.00"


def test_a_template_that_fails_is_shown_as_written_with_a_logged_warning(
    spec: FlowSpec, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="botsvc.flows.responses"):
        broken = text(spec, "utter_broken", slots={"order_number": "NW-1"})
        failing = text(spec, "utter_fails_at_run_time", context={})  # no corrected_slots
    assert broken == "Order {{ order_number "
    assert failing == "Updated {{ context.corrected_slots.keys()|join(', ') }}."
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2 and "'utter_broken'" in logged[0]


def test_a_jinja_syntax_error_is_a_validate_warning_at_its_line(spec: FlowSpec) -> None:
    line = SPEC.splitlines().index('    - text: "Order {{ order_number "') + 1
    (warning,) = [w for w in spec.warnings if "Jinja" in w.message]
    assert (warning.file, warning.line, warning.severity) == ("flows/shop.yml", line, "warning")
    assert "utter_broken" in warning.message
    # `metadata` itself, `rephrase` included, is accepted silently
    assert not [w for w in spec.warnings if "metadata" in w.message]


def test_a_variant_without_the_jinja_template_keeps_slot_placeholders(spec: FlowSpec) -> None:
    assert text(spec, "utter_plain", slots={"order_number": "NW-7"}) == "Order NW-7, {literal}"


# --- conditional variants --------------------------------------------------------------------


def test_a_variant_whose_conditions_hold_beats_the_unconditioned_one(spec: FlowSpec) -> None:
    # the slot value is compared as text ignoring case, as Rasa does ("delivered" ~ "Delivered")
    delivered = {"order_number": "NW-3", "order_status": "delivered"}
    assert texts(spec, "utter_order", delivered) == {"Order NW-3 has been delivered."}


def test_every_matching_conditional_variant_may_be_picked(spec: FlowSpec) -> None:
    express = {"order_number": "NW-3", "order_status": "delivered", "express": True}
    assert texts(spec, "utter_order", express) == {
        "Order NW-3 has been delivered.",
        "Express order NW-3 has been delivered.",
    }


def test_when_no_condition_holds_the_unconditioned_variant_is_said(spec: FlowSpec) -> None:
    shipped = {"order_number": "NW-4", "order_status": "shipped"}
    assert texts(spec, "utter_order", shipped) == {"Order NW-4: shipped."}
    assert texts(spec, "utter_fee", {"order_number": "NW-4"}) == {"Delivery costs 4.5."}


def test_conditions_compare_as_the_slot_value_and_null_means_unset(spec: FlowSpec) -> None:
    assert texts(spec, "utter_fee", {"order_number": "NW-5", "fee": 0.0}) == {"Free delivery."}
    assert texts(spec, "utter_fee", {}) == {"No order number yet."}  # fee is 4.5 initially


def test_a_response_whose_conditions_all_fail_says_nothing() -> None:
    spec = load_flows_from_str(
        "slots:\n  vip: {type: bool}\n"
        "responses:\n  utter_vip:\n"
        "    - {text: Welcome back!, condition: [{type: slot, name: vip, value: true}]}\n"
    )
    assert render_response(spec, "utter_vip", slots={"vip": False}) == ()
    assert render_response(spec, "utter_vip", slots={"vip": True})[0].text == "Welcome back!"
    assert any("add a variant without `condition`" in w.message for w in spec.warnings)


@pytest.mark.parametrize(
    ("condition", "hint"),
    [
        ("{type: slot, name: tier, value: gold}", "a list of"),
        ("[{type: entity, name: tier, value: gold}]", "type must be `slot`"),
        ("[{type: slot, value: gold}]", "`name` must name a slot"),
        ("[tier]", "must be a mapping"),
        ("[{type: slot, name: tier, valeu: gold}]", "unknown key 'valeu'"),
    ],
)
def test_a_malformed_condition_is_an_error_at_its_line(condition: str, hint: str) -> None:
    yaml = (
        "slots:\n  tier: {type: text}\n"
        "responses:\n  utter_tier:\n    - text: Hello\n"
        f"      condition: {condition}\n"
    )
    with pytest.raises(ProjectError) as info:
        load_flows_from_str(yaml, file="flows/tier.yml")
    (problem,) = [p for p in info.value.problems if p.severity == "error"]
    assert (problem.file, problem.line) == ("flows/tier.yml", 6)
    assert hint in problem.message


def test_botsvc_validate_reports_a_malformed_condition_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "domain.yml").write_text(
        'version: "3.1"\n'
        "slots:\n  tier: {type: text, mappings: [{type: controlled}]}\n"
        "responses:\n"
        "  utter_tier:\n"
        "    - text: Hello\n"
        "      condition:\n"
        "        - type: slot\n"
        "          value: gold\n"
    )
    (tmp_path / "data" / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n  - intent: greet\n    examples: |\n      - hi\n      - hello\n'
    )
    assert main(["validate", "--project", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "domain.yml:8: error: response condition: `name` must name a slot" in out


# --- in a conversation -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_cancel_pattern_names_the_cancelled_flow_through_its_context() -> None:
    spec = load_flows_from_str(
        dedent(
            """\
            slots:
              amount: {type: float}
            responses:
              utter_ask_amount: [{text: "How much?"}]
              utter_cancelled:
                - text: "Stopped {{ context.canceled_name }} at {{ amount or 'the start' }}."
                  metadata: {template: jinja}
            flows:
              transfer_money:
                name: the transfer
                description: Send money.
                nlu_trigger: [{intent: transfer}]
                steps:
                  - collect: amount
              pattern_cancel_flow:
                description: A flow was cancelled.
                steps:
                  - action: utter_cancelled
                  - action: action_cancel_flow
            """
        )
    )
    engine = FlowEngine(spec, actions=None)
    ctx = TurnContext(conversation_id="t1", customer=Customer("c"))
    state = DialogueState()
    said = []
    for words, intent in (("send money", "transfer"), ("cancel", "cancel")):
        nlu = NluResult(text=words, intent=IntentScore(intent, 0.95), ranking=())
        result = await engine.handle(nlu, state, ctx)
        state = result.state
        said.append([m.text for m in result.messages])
    assert said[0] == ["How much?"]
    assert said[1][0] == "Stopped the transfer at the start."
