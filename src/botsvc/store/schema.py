"""Tables (SQLAlchemy Core). Times are UNIX seconds (float) so both dialects compare them alike."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("customer_id", String(200), nullable=False, index=True),
    Column("customer", JSON, nullable=False),
    Column("channel", String(50), nullable=False),
    Column("status", String(10), nullable=False),
    Column("state", JSON, nullable=False),
    Column("handoff_id", String(64)),
    Column("lock_owner", String(64)),
    Column("lock_until", Float),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # for the figures, set once by the turns (store/figures.py): the bot read a message of it,
    # and its topic (the first flow it started, else "intent:" and its first message's intent)
    Column("engaged", Boolean),
    Column("topic", String(210)),
    Index("ix_conversations_created", "created_at"),
)

messages = Table(
    "messages",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(200), ForeignKey("conversations.id"), nullable=False),
    Column("turn_id", String(64)),
    Column("role", String(10), nullable=False),
    Column("text", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_messages_conversation_seq", "conversation_id", "seq"),
)

turns = Table(
    "turns",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("conversation_id", String(200), ForeignKey("conversations.id"), nullable=False),
    Column("text", Text, nullable=False),
    Column("handled_by", String(20), nullable=False),
    Column("trace", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
    # what the figures count, taken out of the trace when the turn is written (store/figures.py)
    Column("intent", String(200)),  # None: not read by the bot (forwarded to a human)
    Column("confidence", Float),
    Column("flow_id", String(200)),  # the flow active after the turn, and its step
    Column("step_id", String(200)),
    # why the bot did not answer it (fallback, kb_declined, low_confidence); None: it did
    Column("gap", String(20)),
    Index("ix_turns_conversation", "conversation_id", "created_at"),
    Index("ix_turns_created", "created_at"),
)

# Flows started, completed, cancelled and handed off, one row each: the funnel's counts.
flow_events = Table(
    "flow_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(200), ForeignKey("conversations.id"), nullable=False),
    Column("turn_id", String(64), nullable=False),
    Column("flow_id", String(200), nullable=False),
    Column("event", String(20), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_flow_events_created", "created_at"),
    Index("ix_flow_events_conversation", "conversation_id", "flow_id"),
)

# A turn's answer under the client's Idempotency-Key, written with the turn (replay.py).
idempotency = Table(
    "idempotency",
    metadata,
    Column("conversation_id", String(200), ForeignKey("conversations.id"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("result", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

# Columns added to tables after their first release: `create_all` makes new tables only, so
# a store opened on an older database adds these (store/sql.py `_upgrade`).
ADDED_COLUMNS = {
    "turns": ("intent", "confidence", "flow_id", "step_id", "gap"),
    "conversations": ("engaged", "topic"),
}

# "Was this helpful?" on a turn's answer: one row per turn, the customer's latest say.
feedback = Table(
    "feedback",
    metadata,
    Column("turn_id", String(64), ForeignKey("turns.id"), primary_key=True),
    Column("conversation_id", String(200), ForeignKey("conversations.id"), nullable=False),
    Column("helpful", Boolean, nullable=False),
    Column("comment", Text),
    Column("created_at", Float, nullable=False),
    Index("ix_feedback_created", "created_at"),
)

# CSAT: the customer's 1-5 rating of a conversation, once a person has helped (or any time).
ratings = Table(
    "ratings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(200), ForeignKey("conversations.id"), nullable=False),
    Column("handoff_id", String(64)),  # the handoff rated, when there was one
    Column("score", Integer, nullable=False),
    Column("comment", Text),
    Column("created_at", Float, nullable=False),
    Index("ix_ratings_conversation", "conversation_id"),
    Index("ix_ratings_created", "created_at"),
)

# Keys the service makes for itself once, shared by every replica on this store.
secrets = Table(
    "secrets",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("value", String(200), nullable=False),
)

handoffs = Table(
    "handoffs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("conversation_id", String(200), ForeignKey("conversations.id"), nullable=False),
    Column("status", String(10), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("priority", String(10), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("resolved_at", Float),
    Column("note", Text),
    Column("agent_replied_at", Float),
    Column("queue_notified_at", Float),
    Index("ix_handoffs_status", "status"),
    Index("ix_handoffs_created", "created_at"),
    Index("ix_handoffs_conversation", "conversation_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("event", String(50), nullable=False),
    Column("conversation_id", String(200), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_until", Float),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_conversation", "conversation_id", "seq"),
)
