"""SIGKILL while a handoff is being delivered: after a restart it arrives, with the same delivery
id, and every message that got a 2xx is still in the store. The real service runs as a process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, free_port, postgres_database
from tests.receiver import Receiver

SERVER = {"Authorization": "Bearer server-key"}


def _serve(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "botsvc", "serve", "--project", str(REPO), "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"botsvc serve exited with {proc.returncode}")
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("botsvc serve did not become ready")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
        return
    with postgres_database("crash") as url:
        yield url


def test_sigkill_during_delivery_loses_nothing(
    example_project: Path, action_server: str, receiver: Receiver, database_url: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "BOTSVC_DATABASE_URL": database_url,
        "BOTSVC_HANDOFF_WEBHOOK_URL": receiver.url,
        "BOTSVC_HANDOFF_SECRET": "s",
        "BOTSVC_ACTION_ENDPOINT": action_server,
        "BOTSVC_DELIVERY_LEASE_S": "3",
        "BOTSVC_WEBHOOK_TIMEOUT_S": "60",
        "BOTSVC_DELIVERY_BACKOFF_BASE_S": "0.2",
        "HF_HUB_OFFLINE": "1",
        "BOTSVC_SERVER_KEYS": "server-key",  # a back end's client: no conversation tokens
    }
    base = f"http://127.0.0.1:{port}"
    receiver.delay_s = 60.0  # the helpdesk hangs: the delivery stays in flight
    proc = _serve(port, env)
    try:
        accepted = []
        for text in ["hello", "where is my order NW-482913", "I want to talk to a person"]:
            r = httpx.post(
                f"{base}/v1/conversations/crash-1/messages",
                json={"text": text},
                headers=SERVER,
                timeout=30,
            )
            assert r.status_code == 200
            accepted.append(text)
        handoff_id = r.json()["handoff"]["id"]
        [first] = receiver.wait_for(1, event="handoff.created")
        r = httpx.post(
            f"{base}/v1/conversations/crash-1/messages",
            json={"text": "are you there?"},
            headers=SERVER,
            timeout=30,
        )
        assert r.status_code == 200
        accepted.append("are you there?")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    receiver.delay_s = 0.0
    proc = _serve(port, env)
    try:
        again = receiver.wait_for(2, event="handoff.created", timeout_s=60)
        assert again[-1].headers["x-botsvc-delivery"] == first.headers["x-botsvc-delivery"]
        assert again[-1].json["handoff"]["id"] == handoff_id
        [msg] = receiver.wait_for(1, event="message.created", timeout_s=30)
        assert msg.json["message"]["text"] == "are you there?"
        conv = httpx.get(f"{base}/v1/conversations/crash-1", headers=SERVER, timeout=10).json()
        said = [m["text"] for m in conv["messages"] if m["role"] == "customer"]
        assert said == accepted
    finally:
        proc.terminate()
        proc.wait(20)
