"""Rasa Pro's conversation patterns on a small Rasa Pro project of our own (tests/data/rasawallet):
clarification, chit-chat at a question, continue-interrupted, a question asked by a custom action
on a real rasa-sdk server, a categorical rejection, a DIET-scale trigger threshold,
pattern_search, corrections that reset a slot and repeating the last reply, each a Rasa e2e test
case run through `botsvc test` and the real pipeline."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from botsvc.cli import main
from botsvc.embedding import Embedder
from botsvc.project import prepare_project
from tests.actionserver import ActionServer, start_action_server

WALLET = Path(__file__).parents[1] / "data" / "rasawallet"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    root = tmp_path_factory.mktemp("wallet") / "bot"
    shutil.copytree(WALLET, root)
    prepare_project(root, embedder, progress=False)
    return root


@pytest.fixture(scope="module")
def actions(project: Path) -> Iterator[ActionServer]:
    server = start_action_server("wallet_actions", folder=project / "actions")
    yield server
    server.stop()


def run_cases(project: Path, actions: ActionServer, capsys: pytest.CaptureFixture[str]) -> str:
    code = main(
        ["test", str(project / "e2e_tests"), "--project", str(project)]
        + ["--action-endpoint", actions.url]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def test_every_pattern_case_passes(
    project: Path, actions: ActionServer, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_cases(project, actions, capsys)
    assert out.strip().splitlines()[-1] == "13 passed, 0 failed"


def test_a_case_that_expects_the_wrong_option_names_what_the_bot_did(
    project: Path, actions: ActionServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    case = tmp_path / "wrong.yml"
    case.write_text(
        "test_cases:\n"
        "  - test_case: the reply picks the other option\n"
        "    steps:\n"
        "      - user: add\n"
        "      - user: add a card\n"
        "        assertions:\n"
        "          - flow_started: add_contact\n"
    )
    code = main(["test", str(case), "--project", str(project), "--action-endpoint", actions.url])
    out = capsys.readouterr().out
    assert code == 1
    assert "'add_card'" in out  # the reply named the other option offered
    assert out.strip().splitlines()[-1] == "0 passed, 1 failed"
