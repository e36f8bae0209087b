"""What agents do through the API: reply to the customer, and resolve (the bot takes back over)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from botsvc.errors import Conflict
from botsvc.helpdesk.payloads import ConversationResolved, iso
from botsvc.live import MessageFeed
from botsvc.store import Handoff, MessageRecord, NewMessage, OutboxEvent, Store, TurnWrite
from botsvc.store.lease import leased

__all__ = ["BACK_WITH_BOT_TEXT", "AgentDesk"]

BACK_WITH_BOT_TEXT = "The conversation is back with the assistant."


class AgentDesk:
    def __init__(
        self,
        *,
        store: Store,
        feed: MessageFeed,
        on_outbox: Callable[[], None] = lambda: None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.feed, self.on_outbox, self.now = store, feed, on_outbox, now

    async def reply(self, handoff_id: str, *, text: str, agent: dict[str, Any]) -> MessageRecord:
        """Stores an agent's message for the customer; the handoff's first reply is preceded by
        "<name> has joined the conversation." Conflict once the handoff is resolved."""
        handoff = await self._open_handoff(handoff_id, "the bot has the conversation")
        said: tuple[NewMessage, ...] = (NewMessage("agent", text, {"agent": agent}),)
        if handoff.agent_replied_at is None:
            name = agent.get("name") or "An agent"
            joined = NewMessage(
                "system",
                f"{name} has joined the conversation.",
                {"event": "agent_joined", "agent": agent},
            )
            said = (joined, *said)
        async with leased(self.store, handoff.conversation_id) as lease:
            conv = lease.conversation
            saved = await self.store.save_turn(
                TurnWrite(
                    conversation_id=conv.id,
                    lock_owner=lease.owner,
                    turn=None,
                    messages=said,
                    state=conv.state,
                    status=conv.status,
                    handoff_id=conv.handoff_id,
                    changed_handoff=replace(
                        handoff, agent_replied_at=handoff.agent_replied_at or self.now()
                    ),
                )
            )
        self.feed.publish(saved)
        return saved[-1]

    async def resolve(self, handoff_id: str, *, note: str | None) -> Handoff:
        """Closes the handoff and gives the conversation back to the bot, its flows cleared."""
        handoff = await self._open_handoff(handoff_id, "there is nothing to resolve")
        async with leased(self.store, handoff.conversation_id) as lease:
            conv = lease.conversation
            resolved = replace(handoff, status="resolved", resolved_at=self.now(), note=note)
            state = conv.state.model_copy(deep=True)
            state.stack, state.consecutive_fallbacks = [], 0
            event = ConversationResolved(
                handoff_id=handoff.id,
                conversation_id=conv.id,
                note=note,
                resolved_at=iso(resolved.resolved_at or self.now()),
            )
            # the note is the helpdesk's own: it goes in the webhook, never to the customer
            saved = await self.store.save_turn(
                TurnWrite(
                    conversation_id=conv.id,
                    lock_owner=lease.owner,
                    turn=None,
                    messages=(NewMessage("system", BACK_WITH_BOT_TEXT, {"event": "resolved"}),),
                    state=state,
                    status="bot",
                    handoff_id=None,
                    changed_handoff=resolved,
                    outbox=(
                        OutboxEvent(
                            uuid.uuid4().hex,
                            "conversation.resolved",
                            conv.id,
                            event.model_dump(mode="json"),
                        ),
                    ),
                )
            )
        self.feed.publish(saved)
        self.on_outbox()
        return resolved

    async def _open_handoff(self, handoff_id: str, when_closed: str) -> Handoff:
        handoff = await self.store.get_handoff(handoff_id)
        if handoff.status != "open":
            raise Conflict(f"handoff {handoff_id!r} is {handoff.status}; {when_closed}")
        return handoff
