"""`botsvc init`: a new user's first bot validates, trains, builds its KB and passes its own
conversation tests; an occupied folder is refused, not overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from botsvc.cli import main
from botsvc.embedding import Embedder
from botsvc.project import prepare_project


def test_a_new_bot_works_out_of_the_box(
    tmp_path: Path, embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> None:
    bot = tmp_path / "mybot"
    assert main(["init", str(bot)]) == 0
    assert main(["validate", "--project", str(bot)]) == 0
    prepare_project(bot, embedder, progress=False)  # what `botsvc train` and `kb build` do
    capsys.readouterr()
    assert main(["test", "--project", str(bot)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "3 passed, 0 failed"


def test_init_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "basics.yml").write_text("mine\n")
    assert main(["init", str(tmp_path)]) != 0
    assert (tmp_path / "flows" / "basics.yml").read_text() == "mine\n"
    assert "already has" in capsys.readouterr().err
