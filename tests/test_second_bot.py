"""A second bot of another domain, written from the documentation alone, runs without code changes.

tests/data/travelbot/ is "RailGo", a train-ticket booking support bot: its own intents (Rasa NLU
YAML with roles, a regex, a lookup table and synonyms), flows (collect with rejections, custom
actions on its own rasa-sdk action server, if/else on slots, handoff), responses with tones and
buttons, escalation rules, a markdown knowledge base and conversation tests. The test copies it,
starts its action server and drives the real CLI in-process: validate, train, kb build, test.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from botsvc.cli import main
from tests.actionserver import start_action_server

TRAVELBOT = Path(__file__).resolve().parent / "data" / "travelbot"


@pytest.fixture(scope="module")
def travelbot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh copy (shared by this module's tests), so that models/ and kb_index/ are never
    written into the repository."""
    project = tmp_path_factory.mktemp("second_bot") / "travelbot"
    shutil.copytree(
        TRAVELBOT,
        project,
        ignore=shutil.ignore_patterns("__pycache__", "models", "kb_index", "var"),
    )
    return project


@pytest.fixture
def travel_actions(travelbot: Path) -> Iterator[str]:
    """RailGo's own rasa-sdk action server (travelbot/actions/), on a free port."""
    server = start_action_server("actions", folder=travelbot)
    try:
        actions = {
            a["name"]
            for a in httpx.get(server.url.replace("/webhook", "/actions"), timeout=5).json()
        }
        assert actions == {"action_quote_fare", "action_cancel_booking"}
        yield server.url
    finally:
        server.stop()


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


def _prepare(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(["validate", "--project", str(project)], capsys)
    assert code == 0, out
    assert "OK: 8 intents" in out and "4 flows" in out, out
    code, out = _run(["train", "--project", str(project)], capsys)
    assert code == 0, out
    code, out = _run(["kb", "build", "--project", str(project)], capsys)
    assert code == 0, out
    assert "9 chunks" in out, out  # 7 articles, two of them with a second heading
    assert (project / "kb_index").is_dir() and any((project / "models").iterdir())


def test_travelbot_runs_on_botsvc_unchanged(
    travelbot: Path, travel_actions: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _prepare(travelbot, capsys)
    code, out = _run(
        ["test", "--project", str(travelbot), "--action-endpoint", travel_actions], capsys
    )
    assert code == 0, out
    assert "11 passed, 0 failed" in out, out
    assert "0 failed" in out


ROLE_PROBE = """\
conversations:
  - name: role probe, destination only
    turns:
      - user: book me a train to Munich
        intent: book_ticket
        slots: {origin: null, destination: Munich}
        bot: "Where will you be leaving from?"
  - name: role probe, origin and destination in one message
    turns:
      - user: I need a ticket from Berlin to Munich
        intent: book_ticket
        slots: {origin: Berlin, destination: Munich}
        bot: "Which class"
"""


def test_slot_mappings_respect_entity_roles(
    travelbot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rasa's `from_entity` mapping with a `role` (the RailGo origin/destination slots).

    "to Munich" fills only the destination; "from Berlin to Munich" fills both slots at once.
    """
    _prepare(travelbot, capsys)  # a no-op when the test above already trained and built
    (travelbot / "tests" / "conversations" / "role_probe.yml").write_text(ROLE_PROBE)
    try:
        code, out = _run(["test", "--project", str(travelbot), "-k", "role probe"], capsys)
    finally:
        (travelbot / "tests" / "conversations" / "role_probe.yml").unlink()
    assert code == 0, out
    assert "2 passed, 0 failed" in out, out
