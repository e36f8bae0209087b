"""Rasa forms, the NLU-based side of a Rasa Pro coexistence bot, run as flows: the activation
rule starts a flow from its intent that collects the form's `required_slots` in order and ends
with the submit rule's actions, and it marks the session as routed away from CALM.

The project is a tiny table-booking bot written by each test in Rasa's format: a form of three
slots (one asked by a form-specific response, one by the slot's, one mapped from an entity only
while the form is active), its activation and submit rules, a CALM flow beside it and a story.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from botsvc.cli import main
from botsvc.domain import (
    Customer,
    DialogueState,
    Entity,
    IntentScore,
    NluResult,
    TurnContext,
)
from botsvc.embedding import Embedder
from botsvc.errors import Problem, ProjectError
from botsvc.flows.engine import FlowEngine, FlowResult
from botsvc.project import ProjectFiles, check_project, prepare_project
from botsvc.spec.steps import ActionStep, CollectStep

DOMAIN = """\
version: "3.1"
intents: [greet, book_table, inform, ask_hours]
entities: [city]
slots:
  route_session_to_calm:
    type: bool
    mappings: [{type: custom}]
  table_city:
    type: text
    mappings:
      - type: from_entity
        entity: city
        conditions: [{active_loop: table_form}]
  table_people:
    type: float
    mappings: [{type: from_entity, entity: number}]
  table_occasion:
    type: text
    mappings:
      - type: from_text
        conditions: [{active_loop: table_form, requested_slot: table_occasion}]
forms:
  table_form:
    ignored_intents: [greet]
    required_slots: [table_city, table_people, table_occasion]
responses:
  utter_greet: [{text: "Hello!"}]
  utter_ask_table_form_table_city: [{text: "In which city?"}]
  utter_ask_table_people: [{text: "For how many people?"}]
  utter_ask_table_form_table_occasion: [{text: "What is the occasion?"}]
  utter_table_submit:
    - text: "Booking a table in {table_city} for {table_people}: {table_occasion}."
  utter_table_booked: [{text: "Your table is booked."}]
  utter_hours: [{text: "We open at noon."}]
"""

RULES = """\
version: "3.1"
rules:
  - rule: say hello
    steps:
      - intent: greet
      - action: utter_greet
  - rule: activate table form
    steps:
      - intent: book_table
      - action: table_form
      - active_loop: table_form
  - rule: submit table form
    condition:
      - active_loop: table_form
    steps:
      - action: table_form
      - active_loop: null
      - slot_was_set:
          - requested_slot: null
      - action: utter_table_submit
      - action: utter_table_booked
      - action: action_reset_routing
  - rule: hello only at the start
    conversation_start: true
    steps:
      - intent: greet
      - action: utter_greet
stories:
  - story: a story
    steps:
      - intent: greet
      - action: utter_greet
"""

FLOWS = """\
flows:
  opening_hours:
    description: Tell the opening hours.
    nlu_trigger: [{intent: ask_hours}]
    steps:
      - action: utter_hours
"""

NLU = """\
version: "3.1"
nlu:
  - intent: greet
    examples: |
      - hi
      - hello there
      - good morning
  - intent: book_table
    examples: |
      - book a table
      - I'd like to reserve a table
      - can I book a table for dinner
      - reserve a table please
  - intent: inform
    examples: |
      - in [Paris](city)
      - [Lyon](city)
      - we are [4](number)
  - intent: ask_hours
    examples: |
      - when do you open
      - what are your opening hours
      - are you open on sunday
"""

TEST_CASE = """\
test_cases:
  - test_case: user books a table
    steps:
      - user: book a table
        assertions:
          - slot_was_set:
              - name: route_session_to_calm
                value: false
          - bot_uttered:
              utter_name: utter_ask_table_form_table_city
      - user: /inform{"city":"Paris"}
        assertions:
          - slot_was_set:
              - name: table_city
                value: Paris
          - bot_uttered:
              utter_name: utter_ask_table_people
      - user: "4"
        assertions:
          - bot_uttered:
              utter_name: utter_ask_table_form_table_occasion
      - user: a birthday
        assertions:
          - bot_uttered:
              utter_name: utter_table_submit
          - bot_uttered:
              utter_name: utter_table_booked
"""


def write_project(root: Path, *, domain: str = DOMAIN, rules: str = RULES) -> Path:
    for file, text in {
        "domain/tables.yml": domain,
        "data/nlu.yml": NLU,
        "data/nlu-based/rules.yml": rules,
        "data/flows/hours.yml": FLOWS,
        "docs/tables.md": "# Tables\n\nWe keep tables for parties of up to eight people.\n",
    }.items():
        (root / file).parent.mkdir(parents=True, exist_ok=True)
        (root / file).write_text(text)
    return root


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def not_run(files: ProjectFiles) -> list[Problem]:
    return [p for p in files.warnings if "this Rasa rule is not run" in p.message]


@pytest.fixture
def files(tmp_path: Path) -> ProjectFiles:
    return check_project(write_project(tmp_path))


def test_validate_passes_and_warns_only_about_the_rules_still_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--project", str(write_project(tmp_path))]) == 0
    out = capsys.readouterr().out
    skipped = [line for line in out.splitlines() if "this Rasa rule is not run" in line]
    assert skipped == [
        f"data/nlu-based/rules.yml:{line_of(RULES, 'hello only at the start')}: warning: "
        "this Rasa rule is not run by botsvc (only an intent then actions, and forms' "
        "activation and submit rules, are)"
    ]
    assert "Rasa `stories` are not run by botsvc" in out


def test_the_form_is_a_flow_of_its_questions_in_order_then_the_submit_rules_actions(
    files: ProjectFiles,
) -> None:
    flow = files.spec.flows["rule_activate_table_form"]
    assert [t.intent for t in flow.triggers] == ["book_table"]
    steps = list(flow.steps.values())
    collects = [(s.slot, s.utter) for s in steps if isinstance(s, CollectStep)]
    assert collects == [
        ("table_city", "utter_ask_table_form_table_city"),  # the form's own question first
        ("table_people", "utter_ask_table_people"),  # else the slot's
        ("table_occasion", "utter_ask_table_form_table_occasion"),
    ]
    assert [s.action for s in steps if isinstance(s, ActionStep)] == [
        "utter_table_submit",
        "utter_table_booked",
        "action_reset_routing",
    ]
    assert all(isinstance(s, CollectStep) for s in steps[:3])
    assert "rule_submit_table_form" not in files.spec.flows  # part of the form's flow


def test_flows_from_rules_and_forms_are_marked_nlu_based(files: ProjectFiles) -> None:
    flows = files.spec.flows
    assert flows["rule_activate_table_form"].nlu_based
    assert flows["rule_say_hello"].nlu_based
    assert not flows["opening_hours"].nlu_based


def say(text: str, intent: str, *entities: tuple[str, Any]) -> NluResult:
    found = tuple(
        Entity(entity=name, value=value, start=0, end=len(text), extractor="test")
        for name, value in entities
    )
    return NluResult(text=text, intent=IntentScore(intent, 0.95), ranking=(), entities=found)


async def chat(files: ProjectFiles, *messages: NluResult) -> list[FlowResult]:
    engine = FlowEngine(files.spec, actions=None)  # responses and built-ins only: no server
    ctx = TurnContext(conversation_id="forms", customer=Customer("c"))
    state, out = DialogueState(), []
    for nlu in messages:
        result = await engine.handle(nlu, state, ctx)
        state = result.state
        out.append(result)
    return out


@pytest.mark.anyio
async def test_a_booking_asks_each_slot_in_order_and_ends_with_the_submit_responses(
    files: ProjectFiles,
) -> None:
    turns = await chat(
        files,
        say("book a table", "book_table"),
        say("Paris", "inform", ("city", "Paris")),  # mapped only while the form is active
        say("4", "inform"),  # a plain answer
        say("a birthday", "inform"),  # `from_text`
    )
    said = [[m.text for m in t.messages] for t in turns]
    assert said == [
        ["In which city?"],
        ["For how many people?"],
        ["What is the occasion?"],
        ["Booking a table in Paris for 4: a birthday.", "Your table is booked."],
    ]
    assert turns[0].state.slots["route_session_to_calm"] is False
    done = turns[-1].state
    assert done.stack == []
    # a form's slots stay after it, as in Rasa; action_reset_routing cleared the routing
    assert {k: done.slots.get(k) for k in ("table_city", "table_people", "table_occasion")} == {
        "table_city": "Paris",
        "table_people": 4.0,
        "table_occasion": "a birthday",
    }


@pytest.mark.anyio
async def test_entities_in_the_request_fill_the_forms_slots_before_they_are_asked(
    files: ProjectFiles,
) -> None:
    (first,) = await chat(files, say("a table in Lyon", "book_table", ("city", "Lyon")))
    assert [m.text for m in first.messages] == ["For how many people?"]
    assert first.state.slots["table_city"] == "Lyon"


@pytest.mark.anyio
async def test_a_calm_flow_takes_the_session_back(files: ProjectFiles) -> None:
    turns = await chat(files, say("hi", "greet"), say("when do you open", "ask_hours"))
    assert [t.state.slots["route_session_to_calm"] for t in turns] == [False, True]


def test_the_older_dict_of_required_slots_is_read_and_no_submit_rule_ends_after_the_questions(
    tmp_path: Path,
) -> None:
    domain = DOMAIN.replace(
        "    required_slots: [table_city, table_people, table_occasion]\n",
        "    required_slots:\n"
        "      table_people: [{type: from_entity, entity: number}]\n"
        "      table_city: [{type: from_entity, entity: city}]\n",
    )
    rules = RULES.split("  - rule: submit table form")[0]
    flow = check_project(write_project(tmp_path, domain=domain, rules=rules)).spec.flows[
        "rule_activate_table_form"
    ]
    kinds = [(type(s).__name__, getattr(s, "slot", None)) for s in flow.steps.values()]
    assert kinds == [("CollectStep", "table_people"), ("CollectStep", "table_city")]


def test_a_form_slot_asks_with_its_question_action_and_without_one_is_an_error(
    tmp_path: Path,
) -> None:
    domain = DOMAIN.replace("  utter_ask_table_people:", "  utter_people_unused:")
    with pytest.raises(ProjectError) as err:
        check_project(write_project(tmp_path / "without", domain=domain))
    assert any("utter_ask_table_form_table_people" in p.message for p in err.value.problems)
    # Rasa asks with `action_ask_<form>_<slot>` when there is no response for the question
    asked = domain.replace("forms:", "actions: [action_ask_table_form_table_people]\nforms:")
    files = check_project(write_project(tmp_path / "with", domain=asked))
    flow = files.spec.flows["rule_activate_table_form"]
    assert [getattr(s, "slot", None) for s in flow.steps.values()][:3] == [
        "table_city",
        "table_people",
        "table_occasion",
    ]
    assert "action_ask_table_form_table_people" in files.spec.action_names


def test_a_form_slot_the_domain_does_not_define_is_an_error(tmp_path: Path) -> None:
    domain = DOMAIN.replace(
        "[table_city, table_people, table_occasion]", "[table_city, table_size]"
    )
    domain += "  utter_ask_table_size: [{text: How many?}]\n"
    with pytest.raises(ProjectError) as info:
        check_project(write_project(tmp_path, domain=domain))
    assert any("table_size" in p.message for p in info.value.problems if p.severity == "error")


def test_a_rasa_e2e_test_of_the_form_passes_through_the_real_pipeline(
    tmp_path: Path, embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    project = write_project(tmp_path / "bot")
    prepare_project(project, embedder, progress=False)
    case = tmp_path / "booking.yml"
    case.write_text(TEST_CASE)
    code = main(["test", str(case), "--project", str(project)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.strip().splitlines()[-1] == "1 passed, 0 failed"
