"""Rasa's end-to-end test format through `botsvc test`, on the example bot and its real action
server: assertions, `bot`/`utter` steps, fixtures, metadata and stubbed custom actions."""

from __future__ import annotations

from pathlib import Path

import pytest

from botsvc.cli import main
from botsvc.convtests.format import load_conversation_tests_from_str
from botsvc.errors import ProjectError

E2E = Path(__file__).resolve().parents[1] / "e2e"


def test_the_example_bots_rasa_e2e_tests_pass(
    example_project: Path, action_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["test", str(E2E), "--project", str(example_project), "--action-endpoint", action_server]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.strip().splitlines()[-1] == "4 passed, 0 failed"


def test_a_failing_assertion_names_what_the_bot_did(
    example_project: Path, action_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test = tmp_path / "wrong.yml"
    test.write_text(
        "test_cases:\n"
        "  - test_case: shipped is not delivered\n"
        "    steps:\n"
        "      - user: where is my order NW-482913?\n"
        "        assertions:\n"
        "          - bot_uttered: {utter_name: utter_order_delivered}\n"
        "          - slot_was_set: [{name: order_status, value: delivered}]\n"
        "          - generative_response_is_relevant: {threshold: 0.9}\n"
    )
    code = main(
        ["test", str(test), "--project", str(example_project), "--action-endpoint", action_server]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert out.strip().splitlines()[-1] == "0 passed, 1 failed"
    assert "bot_uttered" in out and "utter_order_shipped" in out  # what it said instead
    assert "slot_was_set" in out and "'order_status': 'shipped'" in out
    assert "needs an LLM" in out


def test_mistakes_in_a_rasa_test_file_are_reported_with_lines() -> None:
    text = (
        "test_cases:\n"
        "  - test_case: typo\n"
        "    fixtures: [missing]\n"
        "    steps:\n"
        "      - bot: hello first\n"
        "      - user: hi\n"
        "        assertions:\n"
        "          - bot_utered: {utter_name: utter_greet}\n"
    )
    with pytest.raises(ProjectError) as err:
        load_conversation_tests_from_str(text, file="t.yml")
    found = {(p.line, p.message) for p in err.value.problems}
    assert (3, "no fixture named 'missing'") in found
    assert (5, "the first step must be a `user` step") in found
    assert (8, "unknown assertion bot_utered") in found


def test_slots_a_turn_set_count_fills_resets_and_action_changes() -> None:
    from botsvc.convtests.runner import _slots_set

    events = [
        {"event": "slot_filled", "slot": "order_id", "value": "NW-1"},
        {"event": "flow_completed", "flow": "f", "reset_slots": ["order_id", "email"]},
        {"event": "flow_cancelled", "flow": "g", "reset_slots": ["recipient", "never_set"]},
    ]
    before = {"recipient": "Joe", "email": "a@b.co", "plan": "pro"}
    after = {"status": "shipped"}  # an action's SlotSet; plan was cleared
    assert _slots_set(events, before, after) == {
        "order_id": ["NW-1", None],  # filled, then reset at the flow's end: both count
        "email": [None],
        "recipient": [None],
        "never_set": [None],  # Rasa resets every slot the flow collects, set or not
        "status": ["shipped"],
        "plan": [None],
    }
