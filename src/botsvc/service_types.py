"""What the chat service takes and gives: a customer's message, a turn's result (what the
routes render), and a conversation as it is read back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botsvc.domain import BotMessage, Customer, FlowPosition, IntentScore, KbHit, TurnTrace
from botsvc.store import Conversation, Handoff, MessageRecord, TurnRecord

__all__ = ["ConversationView", "HandoffRef", "IncomingMessage", "TurnResult"]


@dataclass(frozen=True, kw_only=True)
class IncomingMessage:
    text: str
    customer: Customer | None = None
    channel: str = "web"
    metadata: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None  # the client's, to retry without a second turn


@dataclass(frozen=True, kw_only=True)
class HandoffRef:
    id: str
    status: str
    reason: str
    priority: str

    @classmethod
    def of(cls, h: Handoff) -> HandoffRef:
        return cls(id=h.id, status=h.status, reason=h.reason, priority=h.priority)


@dataclass(frozen=True, kw_only=True)
class TurnResult:
    conversation_id: str
    turn_id: str
    messages: tuple[BotMessage, ...]
    handled_by: str
    intent: IntentScore | None
    flow: FlowPosition | None
    sources: tuple[KbHit, ...]
    handoff: HandoffRef | None
    handed_off_now: bool = False  # this turn created the handoff
    trace: TurnTrace | None = None  # what the bot understood and decided (None: forwarded)
    conversation_token: str | None = None  # given once, on the conversation's first turn
    # where the time went, by stage (lock, encode, nlu, decide, save, total): Server-Timing
    timings_ms: dict[str, float] = field(default_factory=dict)
    replayed: bool = False  # the answer kept for an Idempotency-Key, given again


@dataclass(frozen=True, kw_only=True)
class ConversationView:
    conversation: Conversation
    messages: list[MessageRecord]
    handoff: Handoff | None
    turns: list[TurnRecord]
    next_after: int | None = None  # more messages after this page: ask with ?after=
