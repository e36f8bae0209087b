"""Data retention and the customer's rights (GDPR access and erasure), as store transactions.

- `purge`: conversations idle for longer than the retention age are deleted, or anonymised:
  texts, traces, slots and the customer's identity go, while the counts the figures read (turn
  intents and outcomes, handoffs, ratings, flow events) stay, so last quarter's figures survive.
- `customer_data`: everything stored about one customer id, as JSON.
- `erase_customer`: every conversation of that customer, deleted.

A conversation whose webhooks are not all delivered (or dead) is not purged yet: the helpdesk
must get what it was promised first. Erasure is the customer's right and does not wait: their
pending webhooks are dropped with their data. Other customers' conversations are untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.engine import Connection

from botsvc.domain import DialogueState
from botsvc.store.schema import (
    conversations,
    feedback,
    flow_events,
    handoffs,
    idempotency,
    messages,
    outbox,
    ratings,
    turns,
)

__all__ = ["PurgeResult", "customer_data", "erase_customer", "purge"]

REMOVED = "[removed]"
_BATCH = 500  # conversations per statement, so that one purge never holds the store for long


@dataclass(frozen=True, kw_only=True)
class PurgeResult:
    deleted: int
    anonymised: int
    waiting: int  # old enough, but with webhooks still to deliver


def _pending(conv_id: Any) -> Any:
    return exists().where(
        outbox.c.conversation_id == conv_id, outbox.c.status.in_(("pending", "retry", "in_flight"))
    )


def purge(conn: Connection, *, idle_before: float, anonymise: bool) -> PurgeResult:
    c = conversations
    old = c.c.updated_at < idle_before
    waiting = conn.scalar(select(func.count()).where(old, _pending(c.c.id))) or 0
    done = 0
    query = select(c.c.id).where(old, ~_pending(c.c.id), c.c.lock_owner.is_(None))
    if anonymise:
        query = query.where(~c.c.customer_id.startswith("anonymous:removed"))
    ids = list(conn.execute(query).scalars())
    for start in range(0, len(ids), _BATCH):
        batch = ids[start : start + _BATCH]
        if anonymise:
            _anonymise(conn, batch)
        else:
            _delete(conn, batch)
        done += len(batch)
    return PurgeResult(
        deleted=0 if anonymise else done, anonymised=done if anonymise else 0, waiting=int(waiting)
    )


def _delete(conn: Connection, ids: list[str]) -> None:
    """The conversations and every row of theirs, children first (foreign keys)."""
    of_turns = select(turns.c.id).where(turns.c.conversation_id.in_(ids))
    conn.execute(delete(feedback).where(feedback.c.turn_id.in_(of_turns)))
    for table in (feedback, messages, flow_events, ratings, handoffs, turns, outbox, idempotency):
        conn.execute(delete(table).where(table.c.conversation_id.in_(ids)))
    conn.execute(delete(conversations).where(conversations.c.id.in_(ids)))


def _anonymise(conn: Connection, ids: list[str]) -> None:
    for conv_id in ids:
        anon = f"anonymous:removed:{conv_id}"
        conn.execute(
            update(conversations)
            .where(conversations.c.id == conv_id)
            .values(
                customer_id=anon,
                customer={"id": anon, "name": None, "email": None, "metadata": {}},
                state=DialogueState().model_dump(mode="json"),
            )
        )
    conn.execute(
        update(messages).where(messages.c.conversation_id.in_(ids)).values(text=REMOVED, data={})
    )
    conn.execute(
        update(turns).where(turns.c.conversation_id.in_(ids)).values(text=REMOVED, trace={})
    )
    conn.execute(update(ratings).where(ratings.c.conversation_id.in_(ids)).values(comment=None))
    conn.execute(update(feedback).where(feedback.c.conversation_id.in_(ids)).values(comment=None))
    conn.execute(update(handoffs).where(handoffs.c.conversation_id.in_(ids)).values(note=None))
    conn.execute(
        delete(outbox).where(
            outbox.c.conversation_id.in_(ids), outbox.c.status.in_(("delivered", "dead"))
        )
    )
    conn.execute(delete(idempotency).where(idempotency.c.conversation_id.in_(ids)))


def _rows(conn: Connection, table: Any, ids: list[str]) -> list[dict[str, Any]]:
    query = select(table).where(table.c.conversation_id.in_(ids))
    return [dict(r) for r in conn.execute(query).mappings()]


def customer_data(conn: Connection, customer_id: str) -> dict[str, Any]:
    convs = [
        dict(r)
        for r in conn.execute(
            select(conversations)
            .where(conversations.c.customer_id == customer_id)
            .order_by(conversations.c.created_at)
        ).mappings()
    ]
    ids = [c["id"] for c in convs]
    for c in convs:
        c.pop("lock_owner", None)
        c.pop("lock_until", None)
    return {
        "customer_id": customer_id,
        "conversations": convs,
        "messages": _rows(conn, messages, ids),
        "turns": _rows(conn, turns, ids),
        "handoffs": _rows(conn, handoffs, ids),
        "ratings": _rows(conn, ratings, ids),
        "feedback": _rows(conn, feedback, ids),
    }


def erase_customer(conn: Connection, customer_id: str) -> int:
    ids = list(
        conn.execute(
            select(conversations.c.id).where(conversations.c.customer_id == customer_id)
        ).scalars()
    )
    for start in range(0, len(ids), _BATCH):
        _delete(conn, ids[start : start + _BATCH])
    return len(ids)
