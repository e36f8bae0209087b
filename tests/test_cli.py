"""The CLI, in-process and once as a real subprocess."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from botsvc.cli import main
from tests.conftest import REPO


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "intents", tmp_path / "intents")
    shutil.copytree(REPO / "flows", tmp_path / "flows")
    orders = tmp_path / "flows" / "orders.yml"
    orders.write_text(orders.read_text().replace("collect: order_id", "collect: order_number", 1))
    (tmp_path / "intents" / "extra.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hi [x]{"entity": }\n'
    )
    return tmp_path


def test_validate_accepts_the_example_bot(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--project", str(REPO)]) == 0
    assert capsys.readouterr().out.startswith("OK: 17 intents")


def test_validate_warns_when_the_kb_floor_is_above_the_calibrated_threshold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(REPO / "intents", tmp_path / "intents")
    shutil.copytree(REPO / "flows", tmp_path / "flows")
    rules = tmp_path / "flows" / "escalation.yml"
    rules.write_text(
        rules.read_text().replace(
            "low_confidence: {intent_min_confidence: 0.5}",
            "low_confidence: {kb_min_score: 0.4, intent_min_confidence: 0.5}",
        )
    )
    (tmp_path / "kb_index").mkdir()
    (tmp_path / "kb_index" / "manifest.json").write_text('{"answer": {"threshold": 0.32}}')
    assert main(["validate", "--project", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "flows/escalation.yml: warning: escalation.low_confidence.kb_min_score 0.4" in out
    assert "threshold 0.320" in out


def test_validate_prints_every_problem_with_file_and_line(
    broken: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--project", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "flows/orders.yml:" in out and "order_number" in out
    assert "\nintents/extra.yml:5: error:" in "\n" + out  # the line of the bad example


def test_serve_refuses_an_invalid_project(broken: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--project", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "refusing to serve" in err and "flows/orders.yml:" in err


def test_usage_error_exits_2() -> None:
    assert main(["kb", "search"]) == 2
    assert main(["no-such-command"]) == 2


def test_python_m_botsvc_validate_in_a_subprocess() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "botsvc", "validate", "--project", str(REPO)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "OK:" in done.stdout


def test_kb_search_prints_ranked_hits(
    example_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "kb",
                "search",
                "how long does a refund take",
                "--project",
                str(example_project),
                "-k",
                "3",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0].lstrip().startswith("1.") and "refund" in out[0].lower()
    assert out[-1].startswith("answer (threshold")


def test_outbox_list_and_retry_on_an_empty_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(REPO / "intents", tmp_path / "intents")
    assert main(["outbox", "list", "--project", str(tmp_path)]) == 0
    assert "0 row(s)" in capsys.readouterr().out
    assert main(["outbox", "retry", "--project", str(tmp_path)]) == 0
    assert "requeued 0 row(s)" in capsys.readouterr().out


def test_dispatch_runs_as_a_separate_worker(tmp_path: Path, receiver) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import os

    from botsvc.store import open_store
    from tests.helpdesk.test_delivery import enqueue_events

    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"

    async def enqueue() -> None:
        store = open_store(url)
        await store.open()
        await enqueue_events(store, "c1", ("d-1", "handoff.created"))
        await store.close()

    asyncio.run(enqueue())
    env = {
        **os.environ,
        "BOTSVC_DATABASE_URL": url,
        "BOTSVC_HANDOFF_WEBHOOK_URL": receiver.url,
        "BOTSVC_HANDOFF_SECRET": "s",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "botsvc", "dispatch", "--project", str(tmp_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        [got] = receiver.wait_for(1, event="handoff.created", timeout_s=30)
        assert got.headers["x-botsvc-delivery"] == "d-1"
    finally:
        proc.terminate()
        proc.wait(10)


def test_eval_intents_reports_accuracy_and_out_of_scope(
    example_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    test = tmp_path / "intents_test.csv"
    test.write_text(
        "text,label\nwhere is my parcel NW-482913,check_order_status\n"
        "I want my money back for my order,request_refund\n"
        "what is the capital of peru,out_of_scope\n"
    )
    assert (
        main(["eval", "intents", "--test", str(test), "--project", str(example_project), "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] == 1.0 and report["oos_recall"] == 1.0 and report["oos_rows"] == 1


def test_eval_kb_compares_the_retrievers(
    example_project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        '{"query": "is delivery free", "relevant_ids": ["faq-002"]}\n'
        '{"query": "how do I buy a gift card", '
        '"relevant_ids": ["orders/gift-cards.md#buying-a-gift-card"]}\n'
    )
    assert main(["eval", "kb", "--queries", str(queries), "--project", str(example_project)]) == 0
    out = capsys.readouterr().out
    assert all(leg in out for leg in ("dense", "lexical", "hybrid"))
