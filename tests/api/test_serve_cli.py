"""`botsvc serve -p PORT` as ops run it: the reply URLs handed to the helpdesk follow the
address served unless BOTSVC_PUBLIC_URL says otherwise, and an unsigned webhook is warned of."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from botsvc.embedding import Embedder
from tests.conftest import REPO, free_port
from tests.receiver import Receiver


@pytest.fixture
def served(
    example_project: Path, embedder: Embedder, receiver: Receiver, tmp_path: Path
) -> Iterator[tuple[int, Path]]:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BOTSVC_") or k == "BOTSVC_TEST_POSTGRES_URL"
    }
    env |= {
        "HF_HUB_OFFLINE": "1",
        "BOTSVC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "BOTSVC_HANDOFF_WEBHOOK_URL": receiver.url,
        "BOTSVC_LOG_FORMAT": "text",
    }
    log = tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "botsvc", "serve", "--project", str(REPO), "-p", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "not ready"
            time.sleep(0.2)
        yield port, log
    finally:
        proc.terminate()
        proc.wait(30)


def test_reply_urls_follow_the_port_and_unsigned_webhooks_are_warned_of(
    served: tuple[int, Path], receiver: Receiver
) -> None:
    port, log = served
    r = httpx.post(
        f"http://127.0.0.1:{port}/v1/conversations/s-1/messages",
        json={"text": "I want to talk to a human"},
        timeout=60,
    )
    assert r.status_code == 200 and r.json()["handled_by"] == "human"
    [got] = receiver.wait_for(1, event="handoff.created")
    assert got.json["reply_url"].startswith(f"http://127.0.0.1:{port}/v1/handoffs/")
    assert "BOTSVC_HANDOFF_SECRET is unset" in log.read_text()
