"""Server-Sent Events of a conversation's messages, for the chat widget (and any EventSource)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from botsvc.api.render import message_out
from botsvc.live import MessageFeed

__all__ = ["message_events"]

HEARTBEAT_S = 15.0  # a comment line this often keeps proxies from closing an idle stream
RETRY_MS = 2000  # how long a browser waits before it reconnects


async def message_events(
    feed: MessageFeed, conversation_id: str, *, after: int
) -> AsyncIterator[str]:
    """`retry`, then one `message` event per stored message after `after`, as they come; the
    generator ends when the client goes away (Starlette cancels it)."""
    yield f"retry: {RETRY_MS}\n\n"
    with feed.subscribe(conversation_id, after=after) as sub:
        while True:
            batch = await sub.next(HEARTBEAT_S)
            if not batch:
                yield ": keep-alive\n\n"
            for m in batch:
                data = message_out(m).model_dump_json(exclude_none=True)
                yield f"event: message\nid: {m.seq}\ndata: {data}\n\n"
