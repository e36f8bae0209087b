"""The store: conversation state, transcript, handoffs and the outbox, behind one small interface.

`open_store(url)` returns the one SQLAlchemy implementation (SQLite or PostgreSQL by URL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from botsvc.domain import Customer, DialogueState, Priority, Role

# how long one message may hold its conversation: a turn's actions time out well before
LEASE_S = 30.0

ConversationStatus = Literal["bot", "human"]
HandoffStatus = Literal["open", "resolved"]
OutboxStatus = Literal["pending", "in_flight", "retry", "delivered", "dead"]


@dataclass(frozen=True, kw_only=True)
class Conversation:
    id: str
    customer: Customer
    channel: str
    status: ConversationStatus
    state: DialogueState
    handoff_id: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True, kw_only=True)
class MessageRecord:
    seq: int  # increases across the whole store: the cursor for `events?after=`
    conversation_id: str
    turn_id: str | None
    role: Role
    text: str
    data: dict[str, Any]
    created_at: float


@dataclass(frozen=True, kw_only=True)
class TurnRecord:
    id: str
    conversation_id: str
    text: str
    handled_by: str
    trace: dict[str, Any]
    created_at: float
    # for the figures: the intent the bot read (None: forwarded to a human unread), and the
    # flow and step active after the turn
    intent: str | None = None
    confidence: float | None = None
    flow_id: str | None = None
    step_id: str | None = None
    gap: str | None = None  # why it went unanswered: fallback, kb_declined, low_confidence


@dataclass(frozen=True, kw_only=True)
class UnansweredMessage:
    """A customer's message the bot could not answer, or whose answer was "not helpful"."""

    turn_id: str
    conversation_id: str
    text: str
    reason: str  # fallback, kb_declined, low_confidence, not_helpful
    created_at: float


FlowEventKind = Literal["started", "completed", "cancelled", "handed_off"]


@dataclass(frozen=True)
class FlowEvent:
    flow_id: str
    event: FlowEventKind


@dataclass(frozen=True, kw_only=True)
class Feedback:
    """The customer's "was this helpful?" on one turn's answer."""

    turn_id: str
    conversation_id: str
    helpful: bool
    comment: str | None
    created_at: float


@dataclass(frozen=True, kw_only=True)
class Rating:
    """The customer's CSAT rating of a conversation, 1 (bad) to 5 (great)."""

    conversation_id: str
    handoff_id: str | None
    score: int
    comment: str | None
    created_at: float


@dataclass(frozen=True, kw_only=True)
class Handoff:
    id: str
    conversation_id: str
    status: HandoffStatus
    reason: str
    priority: Priority
    created_at: float
    resolved_at: float | None = None
    note: str | None = None
    agent_replied_at: float | None = None
    queue_notified_at: float | None = None


@dataclass(frozen=True)
class OutboxEvent:
    """An event to deliver; `id` is the delivery id, the same on every attempt."""

    id: str
    event: str
    conversation_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class OutboxRow:
    id: str
    seq: int
    event: str
    conversation_id: str
    payload: dict[str, Any]
    status: OutboxStatus
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    delivered_at: float | None


@dataclass(frozen=True)
class NewMessage:
    role: Role
    text: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Idempotent:
    key: str
    request_hash: str
    result: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class TurnWrite:
    """Everything one turn changes, written in one transaction by `Store.save_turn`."""

    conversation_id: str
    lock_owner: str
    turn: TurnRecord | None
    messages: tuple[NewMessage, ...]
    state: DialogueState
    status: ConversationStatus
    handoff_id: str | None
    new_handoff: Handoff | None = None
    changed_handoff: Handoff | None = None  # an existing handoff's new values (reply, resolve)
    outbox: tuple[OutboxEvent, ...] = ()
    flow_events: tuple[FlowEvent, ...] = ()
    idempotent: Idempotent | None = None  # the answer to keep under the client's key


@dataclass(frozen=True, kw_only=True)
class OutboxBacklog:
    counts: dict[str, int]  # status -> rows
    oldest_undelivered_at: float | None  # pending, retry or in_flight; None when there is none


class Listener(Protocol):
    """What `Store.listen` returns: started and stopped with the service."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Store(Protocol):
    """Conversation state and outbox. Every method is one transaction unless it says otherwise."""

    async def open(self) -> None:
        """Creates the schema if missing. Raises ConfigError for an unusable database."""

    async def close(self) -> None: ...

    async def lock_conversation(
        self,
        conversation_id: str,
        *,
        owner: str,
        customer: Customer | None,
        channel: str,
        lease_s: float = LEASE_S,
        wait_s: float = LEASE_S + 1,
    ) -> Conversation:
        """Takes the conversation's lease for `owner` (creating the conversation when `customer`
        is given), waiting up to `wait_s`: by default past the lease of a replica that died
        holding it. Raises Busy if still held, NotFound if unknown and no customer was given.
        One message per conversation is processed at a time across replicas."""

    async def unlock_conversation(self, conversation_id: str, *, owner: str) -> None: ...

    async def save_turn(self, write: TurnWrite) -> list[MessageRecord]:
        """Writes the turn, its messages, state, handoff and outbox rows and releases the lease,
        atomically. Raises Conflict if the lease was lost (nothing is written)."""

    async def get_conversation(self, conversation_id: str) -> Conversation:
        """Raises NotFound."""

    async def messages(
        self, conversation_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[MessageRecord]: ...

    async def newest_messages(
        self, conversation_id: str, *, limit: int
    ) -> tuple[list[MessageRecord], int]:
        """The newest `limit` messages, oldest first, and how many earlier ones there are."""

    async def last_messages(self, conversation_ids: list[str]) -> dict[str, MessageRecord]:
        """The newest message of each of these conversations (those with none are left out)."""

    async def turns(self, conversation_id: str) -> list[TurnRecord]: ...

    async def record_feedback(self, fb: Feedback) -> None:
        """Keeps the latest feedback on a turn; NotFound unless the turn is in the conversation."""
        ...

    async def feedback(self, conversation_id: str) -> list[Feedback]: ...

    async def record_rating(
        self, conversation_id: str, *, score: int, comment: str | None, at: float
    ) -> Rating:
        """Rates the conversation's latest handoff, or the conversation when it had none; a
        later rating of the same handoff replaces the earlier. NotFound if unknown."""
        ...

    async def ratings(self, conversation_id: str) -> list[Rating]: ...

    async def last_seq(self, conversation_id: str) -> int:
        """The newest message's seq in the conversation; 0 when it has none."""
        ...

    async def secret(self, name: str) -> str:
        """A random secret made once per store under `name`, the same for every replica."""
        ...

    def listen(self, on_change: Callable[[str], None]) -> Listener:
        """Calls `on_change(conversation_id)` when another process stores messages in that
        conversation, and `on_change("")` after a gap in which some may have been missed. One
        process per store (SQLite): nothing to hear."""
        ...

    async def customer_conversations(
        self, customer_id: str, *, exclude: str, limit: int = 10
    ) -> list[Conversation]: ...

    async def get_handoff(self, handoff_id: str) -> Handoff:
        """Raises NotFound."""

    async def list_handoffs(self, *, status: HandoffStatus | None = None) -> list[Handoff]: ...

    async def update_handoff(self, handoff: Handoff) -> None: ...

    async def claim_outbox(
        self, *, owner: str, now: float, lease_s: float, limit: int = 10
    ) -> list[OutboxRow]:
        """Claims due rows (pending, retry whose time has come, in_flight whose lease ran out),
        oldest first, skipping a row while an earlier row of its conversation is undelivered."""

    async def mark_delivered(self, row_id: str, *, owner: str, now: float) -> None: ...

    async def mark_failed(
        self, row_id: str, *, owner: str, error: str, retry_at: float | None
    ) -> None:
        """`retry_at` None: the row is dead."""

    async def list_outbox(
        self, *, status: OutboxStatus | None = None, limit: int = 100
    ) -> list[OutboxRow]: ...

    async def requeue(self, row_ids: list[str] | None, *, now: float) -> int:
        """Puts dead rows (these, or all when None) back to pending; returns how many."""

    async def outbox_backlog(self) -> OutboxBacklog:
        """Rows by status, and when the oldest row still to be delivered was written."""

    async def unanswered(
        self, *, since: float, until: float, limit: int = 5000
    ) -> list[UnansweredMessage]:
        """The newest `limit` messages of the window that went unanswered or were rated not
        helpful, newest first."""

    async def purge(self, *, idle_before: float, anonymise: bool) -> PurgeResult:
        """Conversations idle since before `idle_before` deleted or anonymised, except those
        with webhooks still to deliver (store/retention.py)."""

    async def customer_data(self, customer_id: str) -> dict[str, Any]:
        """Everything stored about a customer (GDPR access), JSON-ready."""

    async def erase_customer(self, customer_id: str) -> int:
        """Every conversation of a customer deleted (GDPR erasure); returns how many."""

    async def idempotent(
        self, conversation_id: str, key: str, *, since: float
    ) -> Idempotent | None:
        """The answer kept under `key` in this conversation since `since`, if any."""

    async def handoffs_of(self, conversation_id: str) -> list[Handoff]:
        """Every handoff of a conversation, oldest first."""

    async def browse_handoffs(self, f: HandoffFilter) -> list[HandoffSummary]:
        """Handoffs `f` asks for, newest first (store/browse.py)."""

    async def browse(self, f: BrowseFilter) -> list[ConversationSummary]:
        """The conversations `f` asks for, newest first (store/browse.py)."""

    async def figures(self, window: FigureWindow) -> Figures:
        """Containment, escalation, FCR, CSAT, fallbacks, intents and the flows' funnel for a
        window (store/figures.py), in one read transaction."""


from botsvc.store.browse import (  # noqa: E402  (tables only)
    BrowseFilter,
    ConversationSummary,
    HandoffFilter,
    HandoffSummary,
)
from botsvc.store.figures import Figures, FigureWindow  # noqa: E402  (uses the tables only)
from botsvc.store.retention import PurgeResult  # noqa: E402  (uses the tables only)


def open_store(url: str, *, schema: str | None = None, sqlite_synchronous: str = "normal") -> Store:
    from botsvc.store.sql import SqlStore

    return SqlStore(url, schema=schema, sqlite_synchronous=sqlite_synchronous)


__all__ = [
    "LEASE_S",
    "BrowseFilter",
    "ConversationSummary",
    "Conversation",
    "ConversationStatus",
    "FigureWindow",
    "Figures",
    "FlowEvent",
    "FlowEventKind",
    "Handoff",
    "HandoffFilter",
    "HandoffStatus",
    "HandoffSummary",
    "Idempotent",
    "MessageRecord",
    "NewMessage",
    "OutboxBacklog",
    "OutboxEvent",
    "OutboxRow",
    "OutboxStatus",
    "PurgeResult",
    "Rating",
    "Listener",
    "Store",
    "TurnRecord",
    "TurnWrite",
    "UnansweredMessage",
    "open_store",
]
