"""`botsvc shell`, driven through the CLI with piped input, the real model and action server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from botsvc.cli import app, main
from botsvc.domain import Button
from botsvc.shell import choose_button
from tests.conftest import REPO


def _turns(output: str) -> dict[str, str]:
    """What the shell printed after each line typed, keyed by that line."""
    blocks = output.split("you> ")[1:]
    return {b.split("\n", 1)[0]: b.split("\n", 1)[-1] for b in blocks}


def test_a_conversation_in_the_shell_reads_as_a_customer_sees_it(
    example_project: Path, action_server: str
) -> None:
    lines = [
        "hi",
        "where is my order?",
        "NW-482913",
        "I want to change my plan",
        "1",
        "/quit",
        "is this still read?",
    ]
    result = CliRunner().invoke(
        app,
        ["shell", "--project", str(example_project), "--debug"]
        + ["--action-endpoint", action_server],
        input="\n".join(lines) + "\n",
    )
    assert result.exit_code == 0, result.output
    turns = _turns(result.output)
    assert turns["hi"].startswith("bot> H") and "intent greet" in turns["hi"]
    assert "order number" in turns["where is my order?"]
    assert "intent check_order_status" in turns["where is my order?"]
    assert "flow check_order_status/" in turns["where is my order?"]
    assert "order NW-482913 is on its way" in turns["NW-482913"]
    assert "entities order_id=NW-482913" in turns["NW-482913"]
    assert "  [1] Free (free)\n" in turns["I want to change my plan"]
    assert "  [4] Enterprise (enterprise)\n" in turns["I want to change my plan"]
    assert turns["1"].startswith("bot> To move to Free")
    assert "handled_by flow" in turns["1"] and " ms" in turns["1"]
    assert "is this still read?" not in result.output  # /quit ended it


def test_restart_starts_a_new_conversation_and_a_handoff_is_shown(example_project: Path) -> None:
    lines = ["I want to talk to a human", "hello?", "/restart", "hi"]
    result = CliRunner().invoke(
        app,
        ["shell", "--project", str(example_project), "--sender", "cust-7"],
        input="\n".join(lines) + "\n",  # ends without /quit: end of input ends the shell
    )
    assert result.exit_code == 0, result.output
    assert "\nconversation cust-7: " in "\n" + result.stdout
    turns = _turns(result.output)
    assert "handed to a person: customer_request" in turns["I want to talk to a human"]
    assert "your message was forwarded" in turns["hello?"]
    assert turns["/restart"].startswith("new conversation shell-")
    assert turns["hi"].startswith("bot> H")
    assert "intent" not in result.output  # no debug lines without --debug


def test_shell_refuses_an_invalid_project_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(REPO / "intents", tmp_path / "intents")
    shutil.copytree(REPO / "flows", tmp_path / "flows")
    orders = tmp_path / "flows" / "orders.yml"
    orders.write_text(orders.read_text().replace("collect: order_id", "collect: order_number", 1))
    assert main(["shell", "--project", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "refusing to chat" in err and "flows/orders.yml:" in err


def test_a_number_picks_a_button_of_the_last_turn_and_anything_else_is_sent_as_typed() -> None:
    buttons = [Button("Yes", "/affirm"), Button("No", "/deny")]
    assert choose_button("2", buttons) == "/deny"
    assert choose_button("3", buttons) == "3"
    assert choose_button("1", []) == "1"
    assert choose_button("yes", buttons) == "yes"
