"""Start and stop a real rasa-sdk action server (by default tests/flows/data/shop_actions.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

DATA = Path(__file__).parent / "flows" / "data"


@dataclass
class ActionServer:
    """A real rasa-sdk action server in a subprocess."""

    process: subprocess.Popen[bytes]
    url: str  # the /webhook endpoint

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_action_server(module: str = "shop_actions", *, folder: Path = DATA) -> ActionServer:
    """`python -m rasa_sdk --actions <module> -p <free port>` run in `folder`, once healthy."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(folder), "SANIC_WORKERS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", module, "-p", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = ActionServer(process, f"http://127.0.0.1:{port}/webhook")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the action server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError("the action server did not become healthy within 30 s")
