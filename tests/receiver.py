"""A real local webhook receiver: uvicorn on 127.0.0.1 in a thread, recording every request.

Switches make it answer with given statuses, answer slowly, or stop listening altogether.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in turn, then 200
    retry_after: str | None = None
    delay_s: float = 0.0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        if not self.port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stops listening: further deliveries get connection refused."""
        if self._server is not None:
            self._server.should_exit = True
            assert self._thread is not None
            self._thread.join(10)
            self._server = None

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.statuses.clear()
            self.retry_after, self.delay_s = None, 0.0

    async def _hook(self, request: Request) -> JSONResponse:
        body = await request.body()
        with self._lock:
            self.received.append(Received(dict(request.headers), body, time.time()))
            status = self.statuses.pop(0) if self.statuses else 200
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        headers = {"Retry-After": self.retry_after} if self.retry_after and status >= 400 else {}
        return JSONResponse({"ok": status < 400}, status_code=status, headers=headers)

    def events(self, name: str | None = None) -> list[Received]:
        with self._lock:
            return [
                r for r in self.received if name is None or r.headers.get("x-botsvc-event") == name
            ]

    def wait_for(
        self, count: int, *, event: str | None = None, timeout_s: float = 20.0
    ) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = self.events(event)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(
            f"receiver got {len(self.events(event))} {event or 'events'}, wanted {count}"
        )
