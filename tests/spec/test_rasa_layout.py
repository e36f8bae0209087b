"""A Rasa Pro (CALM) project folder loads as it is: domain/, data/ (flows and nlu at any depth),
endpoints.yml and docs/, with Rasa's keys accepted and every problem at its file:line.

tests/data/rasapro/ is a small parcel-tracking bot written for these tests in Rasa Pro's layout:
two domain files, two flows (a collect of a categorical slot; a custom action), an override of
Rasa's pattern_cancel_flow, NLU data, a `rules:` file, endpoints.yml, config.yml and one
markdown page in docs/. Tests that need a broken project change a copy of it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from botsvc.cli import main
from botsvc.errors import Problem, ProjectError
from botsvc.project import ProjectFiles, check_project
from botsvc.spec.rasa_defaults import DEFAULTS_FILE
from botsvc.spec.rasa_layout import is_rasa_project
from botsvc.spec.steps import ActionStep, CollectStep, HandoffStep, LinkStep

RASAPRO = Path(__file__).resolve().parents[1] / "data" / "rasapro"
TRAVELBOT = Path(__file__).resolve().parents[1] / "data" / "travelbot"


@pytest.fixture(scope="module")
def files() -> ProjectFiles:
    return check_project(RASAPRO)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the Rasa Pro project, to be changed by the test."""
    target = tmp_path / "rasapro"
    shutil.copytree(RASAPRO, target)
    return target


def line_of(project: Path, file: str, needle: str) -> int:
    """The 1-based line of `file` that first contains `needle` (no line numbers hard-coded)."""
    for number, line in enumerate((project / file).read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} is not in {file}")


def problems_of(project: Path) -> list[Problem]:
    with pytest.raises(ProjectError) as info:
        check_project(project)
    return info.value.problems


def errors_of(project: Path) -> list[Problem]:
    return [p for p in problems_of(project) if p.severity == "error"]


def test_the_folder_is_read_as_a_rasa_pro_project_with_no_errors(files: ProjectFiles) -> None:
    assert is_rasa_project(RASAPRO)
    assert all(p.severity == "warning" for p in files.warnings)


def test_botsvcs_own_layout_is_not_taken_for_rasa(tmp_path: Path) -> None:
    # a botsvc bot keeping a Rasa domain and data beside intents/ and flows/ loads as before
    bot = tmp_path / "travelbot"
    shutil.copytree(TRAVELBOT, bot)
    (bot / "domain.yml").write_text('version: "3.1"\n')
    (bot / "data").mkdir()
    assert not is_rasa_project(bot)
    assert check_project(bot).spec.flows.keys() == check_project(TRAVELBOT).spec.flows.keys()


def test_slots_come_from_the_domain_files(files: ProjectFiles) -> None:
    slots = files.spec.slots
    assert set(slots) == {
        "order_number",
        "order_status",
        "tracking_events",
        "delivery_speed",
        "delivery_confirmed",
        "delivery_fee",
        "continue_interrupted_flow_confirmation",  # the slot of Rasa's default pattern
    }
    assert slots["delivery_speed"].type == "categorical"
    assert slots["delivery_speed"].values == ("standard", "express", "next_day")
    assert slots["delivery_fee"].type == "float"
    assert slots["delivery_fee"].initial_value == 0.0
    assert slots["tracking_events"].type == "list"
    assert slots["order_number"].entity == "order_number"
    assert (slots["delivery_speed"].file, slots["delivery_speed"].line) == (
        "domain/delivery.yml",
        line_of(RASAPRO, "domain/delivery.yml", "delivery_speed:"),
    )


def test_responses_come_from_the_domain_and_rasa_defaults_fill_the_gaps(
    files: ProjectFiles,
) -> None:
    responses = files.spec.responses
    ask = responses["utter_ask_delivery_speed"][0]
    assert ask.text == "How fast would you like it delivered?"
    assert [b.title for b in ask.buttons] == ["Standard", "Express"]
    assert len(responses["utter_order_status"]) == 2  # with its `condition` variant
    card = responses["utter_express_card"][0]  # no text: an image and a custom payload
    assert (card.text, card.image) == ("", "https://example.com/express.png")
    assert card.custom == {"card": "express"}
    # the project's own wording of a Rasa default wins; a default it does not define is added
    assert responses["utter_flow_cancelled_rasa"][0].text == "No problem, I have stopped there."
    assert responses["utter_can_do_something_else"][0].text


def test_flows_come_from_every_file_under_data(files: ProjectFiles) -> None:
    flows = files.spec.flows
    assert set(flows) == {
        "choose_delivery",
        "track_order",
        "pattern_cancel_flow",
        "pattern_human_handoff",
        "rule_say_hello",  # a Rasa rule of the simplest kind: an intent, then actions
        # Rasa's default patterns that the runtime starts by itself
        "pattern_chitchat",
        "pattern_clarification",
        "pattern_continue_interrupted",
    }
    hello = flows["rule_say_hello"]
    assert [t.intent for t in hello.triggers] == ["greet"]
    assert [s.action for s in hello.steps.values() if isinstance(s, ActionStep)] == ["utter_greet"]
    choose = flows["choose_delivery"]
    assert choose.file == "data/flows/delivery.yml"
    assert [(t.intent, t.confidence_threshold) for t in choose.triggers] == [
        ("choose_delivery", 0.5)
    ]
    assert choose.guard is not None
    first = choose.steps[choose.first_step]
    assert isinstance(first, CollectStep)
    assert (first.slot, first.utter) == ("delivery_speed", "utter_ask_delivery_speed")
    assert first.ask_before_filling and not first.reset_after_flow_ends
    track = flows["track_order"]
    assert any(
        isinstance(s, ActionStep) and s.action == "action_track_order" for s in track.steps.values()
    )
    assert "action_track_order" in files.spec.action_names


def test_a_pattern_the_project_defines_is_its_own_and_a_linked_default_hands_off(
    files: ProjectFiles,
) -> None:
    cancel = files.spec.flows["pattern_cancel_flow"]
    assert cancel.file == "data/flows/patterns.yml"
    handoff = files.spec.flows["pattern_human_handoff"]
    assert handoff.file == DEFAULTS_FILE
    assert [type(s) for s in handoff.steps.values()] == [HandoffStep]
    links = [s for s in files.spec.flows["track_order"].steps.values() if isinstance(s, LinkStep)]
    assert [s.flow for s in links] == ["pattern_human_handoff"]


def test_a_project_overriding_a_default_pattern_is_not_a_duplicate(project: Path) -> None:
    (project / "data" / "flows" / "handoff.yml").write_text(
        "flows:\n"
        "  pattern_human_handoff:\n"
        "    description: Our own way to a person.\n"
        "    steps:\n"
        "      - action: utter_greet\n"
        "      - handoff: {reason: customer_request, priority: high}\n"
    )
    flow = check_project(project).spec.flows["pattern_human_handoff"]
    assert flow.file == "data/flows/handoff.yml"


def test_intents_come_from_the_nlu_data(files: ProjectFiles) -> None:
    training = files.training
    assert training.intents == ["choose_delivery", "greet", "track_order"]
    example = next(e for e in training.examples if e.text == "where is order NW-100234?")
    assert (example.file, example.line) == (
        "data/nlu.yml",
        line_of(RASAPRO, "data/nlu.yml", "where is order"),
    )
    assert [e.entity for e in example.entities] == ["order_number"]
    assert training.synonyms["fast"] == "express"


def test_the_action_endpoint_comes_from_endpoints_yml(files: ProjectFiles) -> None:
    assert files.spec.action_endpoint == "http://localhost:5056/webhook"
    assert files.spec.source_of("actions") == "endpoints.yml"


def test_an_endpoint_the_flows_set_wins_over_endpoints_yml(project: Path) -> None:
    (project / "domain" / "server.yml").write_text(
        "actions:\n  endpoint: http://actions.internal:5055/webhook\n"
    )
    spec = check_project(project).spec
    assert spec.action_endpoint == "http://actions.internal:5055/webhook"
    assert spec.source_of("actions") == "domain/server.yml"


def test_an_action_endpoint_without_a_url_is_an_error_at_its_line(project: Path) -> None:
    (project / "endpoints.yml").write_text("nlg:\n  type: rephrase\naction_endpoint:\n  port: 1\n")
    assert [(p.file, p.line) for p in errors_of(project)] == [("endpoints.yml", 3)]


def test_docs_is_the_knowledge_base_unless_there_is_a_kb_folder(
    files: ProjectFiles, project: Path
) -> None:
    assert files.kb_dir == RASAPRO / "docs"
    (project / "kb").mkdir()
    assert check_project(project).kb_dir == project / "kb"


def test_warnings_name_the_file_and_line(files: ProjectFiles) -> None:
    def at(file: str, needle: str) -> tuple[str, int]:
        return file, line_of(RASAPRO, file, needle)

    expected = {
        at("data/rules.yml", "- rule: only at the start"),
    }
    assert expected <= {(p.file, p.line) for p in files.warnings}
    rules = next(p for p in files.warnings if p.file == "data/rules.yml")
    assert str(rules).startswith(f"data/rules.yml:{rules.line}: warning: this Rasa rule is not run")


def test_rasa_keys_botsvc_does_not_use_are_never_errors(files: ProjectFiles) -> None:
    # the domain's intents, entities, forms, config, session_config and e2e_actions are read
    # silently; `custom` and `image` are shown, not warned; slot validation and response
    # conditions are run
    messages = " ".join(p.message for p in files.warnings)
    for key in ("intents", "entities", "forms", "session_config", "e2e_actions"):
        assert f"{key!r}" not in messages
    assert "response key `custom`" not in messages and "`image`" not in messages
    assert "validation" not in messages and "`condition`" not in messages
    assert files.spec.slots["delivery_fee"].rejections


def test_a_collect_of_an_undefined_slot_is_an_error_at_its_file_and_line(project: Path) -> None:
    # the flow sits below an `nlu:` section of the same file: each reader gets its own part,
    # and the lines are still the file's
    broken = project / "data" / "flows" / "returns.yml"
    broken.write_text(
        'version: "3.1"\n'
        "nlu:\n"
        "  - intent: return_item\n"
        "    examples: |\n"
        "      - I want to send this back\n"
        "      - how do I return a parcel\n"
        "flows:\n"
        "  return_item:\n"
        "    description: The customer wants to send an item back.\n"
        "    nlu_trigger:\n"
        "      - intent: return_item\n"
        "    steps:\n"
        "      - collect: return_reason\n"
        "      - action: utter_greet\n"
    )
    errors = errors_of(project)
    assert [(p.file, p.line) for p in errors] == [("data/flows/returns.yml", 13)] * 2
    assert "collects slot 'return_reason'" in errors[0].message
    assert "utter_ask_return_reason" in errors[1].message


def test_a_next_to_a_missing_step_is_an_error(project: Path) -> None:
    path = project / "data" / "flows" / "delivery.yml"
    path.write_text(path.read_text().replace("- else: kept", "- else: keep"))
    errors = errors_of(project)
    line = line_of(project, "data/flows/delivery.yml", "- else: keep")
    goes = [p for p in errors if "'keep', which is not a step id" in p.message]
    assert [(p.file, p.line) for p in goes] == [("data/flows/delivery.yml", line)]
    assert {p.file for p in errors} == {"data/flows/delivery.yml"}  # and `kept` is unreachable


def test_a_link_to_a_rasa_pattern_botsvc_has_no_default_for_is_an_error(project: Path) -> None:
    path = project / "data" / "flows" / "tracking.yml"
    path.write_text(path.read_text().replace("pattern_human_handoff", "pattern_skip_question"))
    errors = errors_of(project)
    assert [p.file for p in errors] == ["data/flows/tracking.yml"]
    assert "flow 'pattern_skip_question', which is not defined" in errors[0].message


def test_a_project_without_nlu_data_is_refused(project: Path) -> None:
    (project / "data" / "nlu.yml").unlink()
    errors = errors_of(project)
    assert any(p.file == "data" and "no `nlu:` training data" in p.message for p in errors)


def test_a_single_domain_yml_works_too(tmp_path: Path) -> None:
    (tmp_path / "domain.yml").write_text(
        "slots:\n  city: {type: text, mappings: [{type: from_llm}]}\n"
        "responses:\n  utter_ask_city:\n    - text: Which city?\n"
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "bot.yml").write_text(
        "nlu:\n  - intent: weather\n    examples: |\n      - weather please\n"
        "  - intent: greet\n    examples: |\n      - hi\n"
        "flows:\n  weather:\n    description: Weather for a city.\n"
        "    nlu_trigger: [{intent: weather}]\n    steps:\n      - collect: city\n"
    )
    files = check_project(tmp_path)
    assert files.spec.slots["city"].file == "domain.yml"
    assert files.spec.flows["weather"].line == 9
    assert files.training.intents == ["greet", "weather"]


def test_kb_build_indexes_a_rasa_projects_docs(tmp_path: Path) -> None:
    project = tmp_path / "rasapro"
    shutil.copytree(RASAPRO, project)
    assert main(["kb", "build", "--project", str(project)]) == 0
    assert (project / "kb_index" / "manifest.json").is_file()
    assert "delivery-options" in (project / "kb_index" / "chunks.jsonl").read_text()
