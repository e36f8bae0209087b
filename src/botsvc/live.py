"""Live messages for waiting clients (long-poll, Server-Sent Events, socket.io), pushed not polled.

This process's writes are handed to the subscribers of their conversation as they are saved,
with no store read. Another replica's write arrives as a change notice from the store
(PostgreSQL LISTEN/NOTIFY); only the subscribers of that conversation then read it, once. An
idle subscriber costs nothing but its memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator, Sequence

from botsvc.store import MessageRecord, Store

__all__ = ["MessageFeed", "Subscription"]


class Subscription:
    """One client's view of one conversation: messages after a cursor, in order, once each."""

    def __init__(self, store: Store, conversation_id: str, *, after: int) -> None:
        self.store, self.conversation_id, self.after = store, conversation_id, after
        self._pending: dict[int, MessageRecord] = {}
        self._stale = True  # messages may be in the store that were never handed over
        self._wake = asyncio.Event()

    def deliver(self, records: Sequence[MessageRecord]) -> None:
        for r in records:
            if r.seq > self.after:
                self._pending[r.seq] = r
        self._wake.set()

    def skip_to(self, seq: int) -> None:
        """From now on: only messages after `seq` (read after subscribing, so none is missed)."""
        self.after = max(self.after, seq)
        self._pending = {k: v for k, v in self._pending.items() if k > self.after}
        self._stale = False

    def mark_stale(self) -> None:
        self._stale = True
        self._wake.set()

    async def next(self, timeout_s: float) -> list[MessageRecord]:
        """The messages after the cursor (and moves it past them), or [] after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._wake.clear()
            if self._stale:
                self._stale = False
                self.deliver(await self.store.messages(self.conversation_id, after=self.after))
            if self._pending:
                batch = [self._pending[s] for s in sorted(self._pending)]
                self._pending.clear()
                self.after = batch[-1].seq
                return batch
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=left)


class MessageFeed:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._subscribers: dict[str, set[Subscription]] = {}

    def publish(self, records: Sequence[MessageRecord]) -> None:
        """This process saved these messages: hand them to their conversations' subscribers."""
        for conversation_id in {r.conversation_id for r in records}:
            mine = [r for r in records if r.conversation_id == conversation_id]
            for sub in self._subscribers.get(conversation_id, ()):
                sub.deliver(mine)

    def changed(self, conversation_id: str) -> None:
        """Another process wrote to this conversation ("": to any, some notices were lost)."""
        if not conversation_id:
            for subs in self._subscribers.values():
                for sub in subs:
                    sub.mark_stale()
            return
        for sub in self._subscribers.get(conversation_id, ()):
            sub.mark_stale()

    @contextlib.contextmanager
    def subscribe(self, conversation_id: str, *, after: int) -> Iterator[Subscription]:
        sub = Subscription(self.store, conversation_id, after=after)
        self._subscribers.setdefault(conversation_id, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subscribers[conversation_id]
            subs.discard(sub)
            if not subs:
                del self._subscribers[conversation_id]

    @property
    def watching(self) -> int:
        """How many subscriptions are open (a gauge for /metrics and benchmarks)."""
        return sum(len(s) for s in self._subscribers.values())

    async def wait(
        self, conversation_id: str, *, after: int, timeout_s: float
    ) -> list[MessageRecord]:
        """A long-poll: the messages after `after` as soon as there are any, or [] at the
        timeout. NotFound for an unknown conversation."""
        await self.store.get_conversation(conversation_id)
        with self.subscribe(conversation_id, after=after) as sub:
            return await sub.next(timeout_s)
