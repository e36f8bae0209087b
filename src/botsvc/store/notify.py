"""Change notices between replicas: PostgreSQL LISTEN/NOTIFY on one channel.

`save_turn` sends `NOTIFY botsvc_messages, '<origin> <conversation id>'` inside its transaction,
so a notice goes out exactly when the messages are committed, and costs no extra round trip or
service beside the database the replicas already share. A listener holds one connection per
process; when it drops, the listener reconnects and reports a gap (`on_change("")`) so that
waiting clients re-read once instead of missing what was written meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

__all__ = ["CHANNEL", "NoListener", "PgListener"]

CHANNEL = "botsvc_messages"
log = logging.getLogger("botsvc.store")


class NoListener:
    """SQLite: one process per store file, so there is nobody else to hear."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class PgListener:
    def __init__(
        self,
        dsn: str,
        *,
        origin: str,
        on_change: Callable[[str], None],
        retry_s: float = 1.0,
    ) -> None:
        self.dsn, self.origin, self.on_change, self.retry_s = dsn, origin, on_change, retry_s
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    async def start(self) -> None:
        await self._connect()  # a database that refuses LISTEN fails the start, loudly
        self._task = asyncio.create_task(self._keep_connected())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=5)

    async def _connect(self) -> None:
        self._lost.clear()
        conn = await asyncpg.connect(self.dsn, timeout=10)
        conn.add_termination_listener(lambda _c: self._lost.set())
        await conn.add_listener(CHANNEL, self._notified)
        self._conn = conn

    async def _keep_connected(self) -> None:
        while True:
            await self._lost.wait()
            log.warning("lost the PostgreSQL change listener; reconnecting")
            while True:
                await asyncio.sleep(self.retry_s)
                try:
                    await self._connect()
                    break
                except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                    log.warning("change listener: cannot reconnect yet: %s", exc)
            self.on_change("")  # notices sent while away are gone: everyone re-reads once

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        origin, _, conversation_id = payload.partition(" ")
        if origin != self.origin and conversation_id:
            self.on_change(conversation_id)
