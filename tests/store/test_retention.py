"""Retention and the customer's rights, on SQLite and PostgreSQL: old conversations anonymised
(figures kept) or deleted, never before their webhooks are out; one customer's data exported
and erased without touching anyone else's."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from botsvc.domain import Customer, DialogueState
from botsvc.errors import NotFound
from botsvc.store import (
    FigureWindow,
    NewMessage,
    OutboxEvent,
    Store,
    TurnRecord,
    TurnWrite,
)

pytestmark = pytest.mark.anyio


async def _conversation(store: Store, conv: str, customer: str, *, pending: bool = False) -> None:
    owner = uuid.uuid4().hex
    await store.lock_conversation(
        conv, owner=owner, customer=Customer(id=customer, email=f"{customer}@x.io"), channel="web"
    )
    event = OutboxEvent(uuid.uuid4().hex, "handoff.created", conv, {"text": "my email is a@x.io"})
    await store.save_turn(
        TurnWrite(
            conversation_id=conv,
            lock_owner=owner,
            turn=TurnRecord(
                id=uuid.uuid4().hex,
                conversation_id=conv,
                text="my email is a@x.io",
                handled_by="flow",
                trace={"nlu": {"entities": [{"value": "a@x.io"}]}},
                created_at=time.time(),
                intent="reset_password",
                confidence=0.9,
            ),
            messages=(NewMessage("customer", "my email is a@x.io"), NewMessage("bot", "Sent!")),
            state=DialogueState(slots={"email": "a@x.io"}),
            status="bot",
            handoff_id=None,
            outbox=(event,),
        )
    )
    if not pending:  # delivered (others' rows claimed with it go back to wait)
        for row in await store.claim_outbox(owner="d", now=time.time(), lease_s=30):
            if row.conversation_id == conv:
                await store.mark_delivered(row.id, owner="d", now=time.time())
            else:
                await store.mark_failed(row.id, owner="d", error="-", retry_at=time.time())


async def test_old_conversations_are_anonymised_but_still_counted(store: Store) -> None:
    await _conversation(store, "old", "u1")
    await _conversation(store, "old-pending", "u2", pending=True)
    await asyncio.sleep(0.05)
    cut = time.time()
    await _conversation(store, "new", "u3")

    result = await store.purge(idle_before=cut, anonymise=True)
    assert (result.anonymised, result.deleted, result.waiting) == (1, 0, 1)
    old = await store.get_conversation("old")
    assert old.customer.email is None and old.customer.id.startswith("anonymous:")
    assert old.state.slots == {}
    assert {m.text for m in await store.messages("old")} == {"[removed]"}
    [turn] = await store.turns("old")
    assert turn.text == "[removed]" and turn.trace == {}
    assert "a@x.io" in (await store.messages("old-pending"))[0].text  # its webhook is not out
    assert "a@x.io" in (await store.messages("new"))[0].text
    figures = await store.figures(FigureWindow(since=cut - 3600, until=time.time() + 1))
    assert {i["intent"]: i["turns"] for i in figures.intents} == {"reset_password": 3}
    again = await store.purge(idle_before=cut, anonymise=True)
    assert again.anonymised == 0  # done once


async def test_old_conversations_are_deleted_with_all_their_rows(store: Store) -> None:
    await _conversation(store, "old", "u1")
    await _conversation(store, "old-pending", "u2", pending=True)
    await asyncio.sleep(0.05)
    result = await store.purge(idle_before=time.time(), anonymise=False)
    assert (result.deleted, result.waiting) == (1, 1)
    with pytest.raises(NotFound):
        await store.get_conversation("old")
    assert await store.messages("old") == [] and await store.turns("old") == []
    outbox = await store.list_outbox()
    assert [r.conversation_id for r in outbox] == ["old-pending"]


async def test_a_customer_is_exported_then_erased_and_nobody_else(store: Store) -> None:
    await _conversation(store, "a1", "u1")
    await _conversation(store, "a2", "u1", pending=True)
    await _conversation(store, "b1", "u2", pending=True)
    data = await store.customer_data("u1")
    assert [c["id"] for c in data["conversations"]] == ["a1", "a2"]
    assert len(data["messages"]) == 4 and len(data["turns"]) == 2
    assert all("lock_owner" not in c for c in data["conversations"])

    assert await store.erase_customer("u1") == 2
    assert (await store.customer_data("u1"))["conversations"] == []
    assert [r.conversation_id for r in await store.list_outbox()] == ["b1"]
    assert len(await store.messages("b1")) == 2
