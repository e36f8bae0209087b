"""The customer's long-poll for new messages (agent replies, queue notices, "back with the bot").

Wakes at once on this process's writes (`announce`); other replicas' writes are seen by
re-reading the store once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from botsvc.store import MessageRecord, Store

__all__ = ["MessageFeed"]


class MessageFeed:
    def __init__(self, store: Store, *, recheck_s: float = 1.0) -> None:
        self.store, self.recheck_s = store, recheck_s
        self._new_messages = asyncio.Condition()

    async def announce(self) -> None:
        """This process stored messages: wake every waiting long-poll."""
        async with self._new_messages:
            self._new_messages.notify_all()

    async def wait(
        self, conversation_id: str, *, after: int, timeout_s: float
    ) -> list[MessageRecord]:
        """Returns as soon as there are messages after `after`, or [] at the timeout.
        NotFound for an unknown conversation."""
        await self.store.get_conversation(conversation_id)
        deadline = time.monotonic() + timeout_s
        while True:
            found = await self.store.messages(conversation_id, after=after)
            left = deadline - time.monotonic()
            if found or left <= 0:
                return found
            async with self._new_messages:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._new_messages.wait(), timeout=min(self.recheck_s, left)
                    )
