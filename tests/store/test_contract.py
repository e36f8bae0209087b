"""One contract, run against a real SQLite file and a real PostgreSQL schema."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from botsvc.domain import Customer, DialogueState, FlowFrame
from botsvc.errors import Busy, Conflict, NotFound
from botsvc.store import Feedback, Handoff, NewMessage, OutboxEvent, Store, TurnRecord, TurnWrite

pytestmark = pytest.mark.anyio

ALICE = Customer(id="cust-1", name="Alice", email="alice@example.com", metadata={"plan": "plus"})


def _turn_write(
    conv: str,
    owner: str,
    *,
    text: str = "hi",
    outbox: tuple[OutboxEvent, ...] = (),
    handoff: Handoff | None = None,
) -> TurnWrite:
    turn_id = uuid.uuid4().hex
    state = DialogueState(
        slots={"order_id": "NW-123456"}, stack=[FlowFrame(flow_id="request_refund")]
    )
    return TurnWrite(
        conversation_id=conv,
        lock_owner=owner,
        turn=TurnRecord(
            id=turn_id,
            conversation_id=conv,
            text=text,
            handled_by="flow",
            trace={"nlu": {"intent": "greet"}},
            created_at=time.time(),
        ),
        messages=(NewMessage("customer", text), NewMessage("bot", "Hello!", {"buttons": []})),
        state=state,
        status="human" if handoff else "bot",
        handoff_id=handoff.id if handoff else None,
        new_handoff=handoff,
        outbox=outbox,
    )


async def test_first_message_creates_conversation_and_turn_is_saved(store: Store) -> None:
    conv = await store.lock_conversation("c1", owner="w1", customer=ALICE, channel="web")
    assert conv.customer == ALICE and conv.status == "bot" and conv.state == DialogueState()
    saved = await store.save_turn(_turn_write("c1", "w1", text="hello"))
    assert [m.role for m in saved] == ["customer", "bot"]

    again = await store.get_conversation("c1")
    assert again.state.slots == {"order_id": "NW-123456"}
    assert again.state.stack[0].flow_id == "request_refund"
    transcript = await store.messages("c1")
    assert [(m.role, m.text) for m in transcript] == [("customer", "hello"), ("bot", "Hello!")]
    assert (await store.messages("c1", after=transcript[0].seq))[0].text == "Hello!"
    turns = await store.turns("c1")
    assert turns[0].trace == {"nlu": {"intent": "greet"}}


async def test_unknown_conversation_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get_conversation("nope")
    with pytest.raises(NotFound):
        await store.lock_conversation("nope", owner="w", customer=None, channel="web")
    with pytest.raises(NotFound):
        await store.get_handoff("nope")


async def test_a_conversation_is_processed_by_one_owner_at_a_time(store: Store) -> None:
    await store.lock_conversation("c1", owner="w1", customer=ALICE, channel="web", lease_s=20)
    with pytest.raises(Busy) as busy:
        await store.lock_conversation("c1", owner="w2", customer=ALICE, channel="web", wait_s=0.2)
    assert 15 < busy.value.retry_after_s <= 20  # when the holder's lease runs out at the latest
    second = asyncio.create_task(
        store.lock_conversation("c1", owner="w2", customer=ALICE, channel="web", wait_s=5)
    )
    await asyncio.sleep(0.05)
    assert not second.done()
    await store.save_turn(_turn_write("c1", "w1"))
    conv = await asyncio.wait_for(second, 5)
    assert conv.state.slots == {"order_id": "NW-123456"}  # w2 sees w1's turn


async def test_an_expired_lease_is_taken_over_and_the_old_owner_cannot_save(store: Store) -> None:
    await store.lock_conversation("c1", owner="dead", customer=ALICE, channel="web", lease_s=0.5)
    # the next message waits the dead owner's lease out rather than failing
    await store.lock_conversation("c1", owner="alive", customer=ALICE, channel="web", wait_s=2)
    with pytest.raises(Conflict):
        await store.save_turn(_turn_write("c1", "dead"))
    assert await store.messages("c1") == []  # nothing of the lost turn was written


async def test_handoff_and_outbox_are_written_with_the_turn(store: Store) -> None:
    await store.lock_conversation("c1", owner="w1", customer=ALICE, channel="web")
    h = Handoff(
        id="h1",
        conversation_id="c1",
        status="open",
        reason="customer_request",
        priority="normal",
        created_at=time.time(),
    )
    ev = OutboxEvent(id="d1", event="handoff.created", conversation_id="c1", payload={"x": 1})
    await store.save_turn(_turn_write("c1", "w1", outbox=(ev,), handoff=h))
    assert (await store.get_handoff("h1")).reason == "customer_request"
    assert (await store.get_conversation("c1")).handoff_id == "h1"
    rows = await store.list_outbox()
    assert [(r.id, r.status, r.payload) for r in rows] == [("d1", "pending", {"x": 1})]
    await store.update_handoff(h.__class__(**{**h.__dict__, "status": "resolved", "note": "ok"}))
    assert [x.id for x in await store.list_handoffs(status="resolved")] == ["h1"]


async def _enqueue(store: Store, conv: str, events: list[str]) -> None:
    await store.lock_conversation(conv, owner="w", customer=ALICE, channel="web")
    evs = tuple(
        OutboxEvent(id=e, event="message.created", conversation_id=conv, payload={}) for e in events
    )
    await store.save_turn(_turn_write(conv, "w", outbox=evs))


async def test_outbox_keeps_order_within_a_conversation(store: Store) -> None:
    await _enqueue(store, "c1", ["a1", "a2"])
    await _enqueue(store, "c2", ["b1"])
    now = time.time()
    claimed = await store.claim_outbox(owner="x", now=now, lease_s=30, limit=10)
    assert [r.id for r in claimed] == ["a1", "b1"]  # a2 waits for a1
    await store.mark_delivered("b1", owner="x", now=now)
    await store.mark_failed("a1", owner="x", error="HTTP 500", retry_at=now + 60)
    assert await store.claim_outbox(owner="x", now=now + 1, lease_s=30) == []
    again = await store.claim_outbox(owner="x", now=now + 61, lease_s=30)
    assert [(r.id, r.attempts) for r in again] == [("a1", 2)]
    await store.mark_delivered("a1", owner="x", now=now + 61)
    assert [r.id for r in await store.claim_outbox(owner="x", now=now + 61, lease_s=30)] == ["a2"]


async def test_a_claim_whose_owner_died_is_picked_up_after_its_lease(store: Store) -> None:
    await _enqueue(store, "c1", ["a1"])
    now = time.time()
    assert len(await store.claim_outbox(owner="dead", now=now, lease_s=30)) == 1
    assert await store.claim_outbox(owner="new", now=now + 10, lease_s=30) == []
    rows = await store.claim_outbox(owner="new", now=now + 31, lease_s=30)
    assert [(r.id, r.attempts) for r in rows] == [("a1", 2)]
    await store.mark_delivered("a1", owner="dead", now=now + 32)  # the old owner's word is ignored
    assert (await store.list_outbox())[0].status == "in_flight"


async def test_dead_rows_are_listed_and_requeued(store: Store) -> None:
    await _enqueue(store, "c1", ["a1", "a2"])
    now = time.time()
    await store.claim_outbox(owner="x", now=now, lease_s=30)
    await store.mark_failed("a1", owner="x", error="HTTP 410", retry_at=None)
    dead = await store.list_outbox(status="dead")
    assert [(r.id, r.last_error) for r in dead] == [("a1", "HTTP 410")]
    assert await store.claim_outbox(owner="x", now=now + 999, lease_s=30) == []  # a2 stays behind
    assert await store.requeue(None, now=now) == 1
    assert [r.id for r in await store.claim_outbox(owner="x", now=now, lease_s=30)] == ["a1"]


async def test_two_workers_never_claim_the_same_row(store: Store) -> None:
    for i in range(20):
        await _enqueue(store, f"c{i}", [f"e{i}"])
    now = time.time()

    async def worker(name: str) -> list[str]:
        got: list[str] = []
        while batch := await store.claim_outbox(owner=name, now=now, lease_s=30, limit=3):
            got += [r.id for r in batch]
        return got

    a, b = await asyncio.gather(worker("a"), worker("b"))
    assert sorted(a + b) == sorted(f"e{i}" for i in range(20))
    assert not set(a) & set(b)


async def test_other_conversations_of_a_customer(store: Store) -> None:
    await _enqueue(store, "web-1", [])
    await store.lock_conversation("sms-1", owner="w", customer=ALICE, channel="sms")
    await store.unlock_conversation("sms-1", owner="w")
    others = await store.customer_conversations("cust-1", exclude="web-1")
    assert [(c.id, c.channel) for c in others] == [("sms-1", "sms")]


async def test_last_message_of_several_conversations(store: Store) -> None:
    for conv, texts in (("a", ["one", "two"]), ("b", ["three"])):
        for text in texts:
            await store.lock_conversation(conv, owner="w", customer=ALICE, channel="web")
            await store.save_turn(_turn_write(conv, "w", text=text))
    await store.lock_conversation("empty", owner="w", customer=ALICE, channel="web")
    last = await store.last_messages(["a", "b", "empty", "unknown"])
    assert {c: (m.role, m.text) for c, m in last.items()} == {
        "a": ("bot", "Hello!"),
        "b": ("bot", "Hello!"),
    }
    assert last["a"].seq == (await store.messages("a"))[-1].seq  # the second turn's reply
    assert await store.last_messages([]) == {}


async def test_feedback_on_a_turn_keeps_the_latest_and_needs_a_turn_of_that_conversation(
    store: Store,
) -> None:
    await store.lock_conversation("c-fb", owner="w1", customer=ALICE, channel="web")
    write = _turn_write("c-fb", "w1", text="are returns free?")
    await store.save_turn(write)
    turn_id = write.turn.id

    def fb(helpful: bool, comment: str | None, conv: str = "c-fb", turn: str = turn_id) -> Feedback:
        return Feedback(
            turn_id=turn, conversation_id=conv, helpful=helpful, comment=comment,
            created_at=time.time(),
        )  # fmt: skip

    await store.record_feedback(fb(False, "not what I asked"))
    await store.record_feedback(fb(True, None))  # changed their mind: the latest counts
    assert [(f.turn_id, f.helpful, f.comment) for f in await store.feedback("c-fb")] == [
        (turn_id, True, None)
    ]
    with pytest.raises(NotFound):
        await store.record_feedback(fb(True, None, turn="no-such-turn"))
    await store.lock_conversation("c-other", owner="w1", customer=ALICE, channel="web")
    with pytest.raises(NotFound):  # a turn id of another conversation
        await store.record_feedback(fb(True, None, conv="c-other"))
