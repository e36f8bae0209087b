"""The example bot's conversation tests (tests/conversations/*.yml) pass through the real pipeline,
and a failing one makes `botsvc test` exit 1 with a readable diff."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from botsvc.cli import main


def test_example_bot_conversation_tests_pass(
    example_project: Path, action_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["test", "--project", str(example_project), "--action-endpoint", action_server])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = out.strip().splitlines()[-1]
    passed = int(summary.split()[0])
    assert passed >= 25 and summary.endswith(" 0 failed")


def test_a_failing_conversation_exits_1_with_a_diff(
    example_project: Path, action_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for part in ("intents", "flows", "kb", "kb_index", "models"):
        shutil.copytree(example_project / part, tmp_path / part)
    (tmp_path / "tests" / "conversations").mkdir(parents=True)
    (tmp_path / "tests" / "conversations" / "t.yml").write_text(
        "conversations:\n"
        "  - name: refund goes to the wrong place\n"
        "    turns:\n"
        "      - user: I want a refund for my order\n"
        "        handled_by: kb\n"
    )
    code = main(["test", "--project", str(tmp_path), "--action-endpoint", action_server])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED  refund goes to the wrong place" in out
    assert "- expected" in out or "expected" in out
    assert out.strip().endswith("0 passed, 1 failed")
