"""Holding a conversation's lease for one change: take it, and give it back if the change fails.

`Store.save_turn` releases the lease when it writes; if anything before it raises (or the task
is cancelled), the lease is released here so the next message need not wait for it to expire.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from botsvc.domain import Customer
from botsvc.store import Conversation, Store

__all__ = ["Lease", "leased"]


@dataclass(frozen=True)
class Lease:
    conversation: Conversation
    owner: str  # pass as `TurnWrite.lock_owner`


@asynccontextmanager
async def leased(
    store: Store, conversation_id: str, *, customer: Customer | None = None, channel: str = ""
) -> AsyncIterator[Lease]:
    """The conversation under this process's lease (created when `customer` is given); the
    block must end in `save_turn`, which releases it."""
    owner = uuid.uuid4().hex
    conv = await store.lock_conversation(
        conversation_id, owner=owner, customer=customer, channel=channel
    )
    try:
        yield Lease(conv, owner)
    except BaseException:
        await asyncio.shield(store.unlock_conversation(conversation_id, owner=owner))
        raise
