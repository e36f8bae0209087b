"""The conversation browser's query: conversations of a window, filtered the ways ops look for
them (outcome, intent, flow, handoff reason, rating, words), newest first, one page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, exists, func, select
from sqlalchemy.engine import Connection

from botsvc.store.schema import conversations, flow_events, handoffs, ratings, turns

__all__ = [
    "BrowseFilter",
    "ConversationSummary",
    "HandoffFilter",
    "HandoffSummary",
    "browse_conversations",
    "browse_handoffs",
]

Outcome = Literal["contained", "escalated"]


@dataclass(frozen=True, kw_only=True)
class BrowseFilter:
    since: float
    until: float
    channel: str | None = None
    outcome: Outcome | None = None  # contained: never handed to a human; escalated: was
    intent: str | None = None  # any of its messages was read as this intent
    flow: str | None = None  # it started this flow
    reason: str | None = None  # it was handed off for this reason
    rating: int | None = None  # it was rated this (1-5)
    text: str | None = None  # a customer's message contains this (case-insensitive)
    before: float | None = None  # the page after the one that ended at this start time
    limit: int = 50


@dataclass(frozen=True, kw_only=True)
class ConversationSummary:
    id: str
    channel: str
    customer_id: str
    status: str
    created_at: float
    updated_at: float
    turns: int
    first_text: str | None
    handoff_reason: str | None  # the latest handoff's
    rating: int | None  # the latest rating


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def browse_conversations(conn: Connection, f: BrowseFilter) -> list[ConversationSummary]:
    c = conversations
    of_c = turns.c.conversation_id == c.c.id
    where: list[Any] = [c.c.created_at >= f.since, c.c.created_at < f.until]
    if f.before is not None:
        where.append(c.c.created_at < f.before)
    if f.channel:
        where.append(c.c.channel == f.channel)
    handed = exists().where(handoffs.c.conversation_id == c.c.id)
    if f.outcome == "escalated":
        where.append(handed)
    elif f.outcome == "contained":
        where.append(~handed)
    if f.intent:
        where.append(exists().where(of_c, turns.c.intent == f.intent))
    if f.flow:
        where.append(
            exists().where(flow_events.c.conversation_id == c.c.id, flow_events.c.flow_id == f.flow)
        )
    if f.reason:
        where.append(
            exists().where(handoffs.c.conversation_id == c.c.id, handoffs.c.reason == f.reason)
        )
    if f.rating is not None:
        where.append(
            exists().where(ratings.c.conversation_id == c.c.id, ratings.c.score == f.rating)
        )
    if f.text:
        pattern = f"%{_escape_like(f.text.lower())}%"
        where.append(exists().where(of_c, func.lower(turns.c.text).like(pattern, escape="\\")))
    count = select(func.count()).where(of_c).scalar_subquery()
    first = select(turns.c.text).where(of_c).order_by(turns.c.created_at).limit(1).scalar_subquery()
    reason = (
        select(handoffs.c.reason)
        .where(handoffs.c.conversation_id == c.c.id)
        .order_by(handoffs.c.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    score = (
        select(ratings.c.score)
        .where(ratings.c.conversation_id == c.c.id)
        .order_by(ratings.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = (
        select(
            c.c.id,
            c.c.channel,
            c.c.customer_id,
            c.c.status,
            c.c.created_at,
            c.c.updated_at,
            func.coalesce(count, 0).label("turns"),
            first.label("first_text"),
            reason.label("handoff_reason"),
            score.label("rating"),
        )
        .where(and_(*where))
        .order_by(c.c.created_at.desc(), c.c.id)
        .limit(_page(f.limit))
    )
    return [ConversationSummary(**r._mapping) for r in conn.execute(query)]


def _page(limit: int) -> int:
    return max(1, min(limit, 200))


@dataclass(frozen=True, kw_only=True)
class HandoffFilter:
    status: str | None = None
    reason: str | None = None
    priority: str | None = None
    channel: str | None = None
    customer_id: str | None = None
    conversation_id: str | None = None
    since: float | None = None  # created at or after
    until: float | None = None  # created before
    before: float | None = None  # the page after the one that ended at this creation time
    limit: int = 50


@dataclass(frozen=True, kw_only=True)
class HandoffSummary:
    id: str
    conversation_id: str
    customer_id: str
    channel: str
    status: str
    reason: str
    priority: str
    created_at: float
    first_agent_reply_at: float | None
    resolved_at: float | None


def browse_handoffs(conn: Connection, f: HandoffFilter) -> list[HandoffSummary]:
    """Handoffs for a helpdesk's queue view, newest first, one page at a time."""
    h, c = handoffs, conversations
    where: list[Any] = []
    for column, value in (
        (h.c.status, f.status),
        (h.c.reason, f.reason),
        (h.c.priority, f.priority),
        (c.c.channel, f.channel),
        (c.c.customer_id, f.customer_id),
        (h.c.conversation_id, f.conversation_id),
    ):
        if value is not None:
            where.append(column == value)
    if f.since is not None:
        where.append(h.c.created_at >= f.since)
    if f.until is not None:
        where.append(h.c.created_at < f.until)
    if f.before is not None:
        where.append(h.c.created_at < f.before)
    query = (
        select(
            h.c.id,
            h.c.conversation_id,
            c.c.customer_id,
            c.c.channel,
            h.c.status,
            h.c.reason,
            h.c.priority,
            h.c.created_at,
            h.c.agent_replied_at.label("first_agent_reply_at"),
            h.c.resolved_at,
        )
        .join(c, c.c.id == h.c.conversation_id)
        .where(*where)
        .order_by(h.c.created_at.desc(), h.c.id)
        .limit(_page(f.limit))
    )
    return [HandoffSummary(**r._mapping) for r in conn.execute(query)]
