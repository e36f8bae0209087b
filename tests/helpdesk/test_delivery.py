"""The outbox dispatcher against a real local receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import time

import httpx
import pytest

from botsvc.domain import Customer, DialogueState
from botsvc.helpdesk.delivery import Dispatcher, backoff_delay, sign, verify
from botsvc.store import OutboxEvent, Store, TurnWrite
from tests.receiver import Receiver

pytestmark = pytest.mark.anyio
SECRET = "s3cret"


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


async def enqueue_events(store: Store, conv: str, *events: tuple[str, str]) -> None:
    await store.lock_conversation(conv, owner="w", customer=Customer(id="c"), channel="web")
    await store.save_turn(
        TurnWrite(
            conversation_id=conv,
            lock_owner="w",
            turn=None,
            messages=(),
            state=DialogueState(),
            status="human",
            handoff_id=None,
            outbox=tuple(OutboxEvent(i, e, conv, {"event": e, "n": i}) for i, e in events),
        )
    )


def _dispatcher(
    store: Store, http: httpx.AsyncClient, url: str, clock: Clock, **kw: object
) -> Dispatcher:
    options: dict[str, object] = {
        "max_attempts": 5,
        "backoff_base_s": 2.0,
        "backoff_cap_s": 60.0,
        "timeout_s": 2.0,
        "rng": random.Random(7),
    }
    options.update(kw)
    return Dispatcher(store=store, http=http, url=url, secret=SECRET, now=clock, **options)  # type: ignore[arg-type]


async def test_delivery_is_signed_and_verifiable(store: Store, receiver: Receiver) -> None:
    await enqueue_events(store, "c1", ("d1", "handoff.created"))
    clock = Clock()
    async with httpx.AsyncClient() as http:
        assert await _dispatcher(store, http, receiver.url, clock).run_once() == 1
    [got] = receiver.events()
    h = got.headers
    assert h["x-botsvc-event"] == "handoff.created" and h["x-botsvc-delivery"] == "d1"
    ts, sig = h["x-botsvc-timestamp"], h["x-botsvc-signature"]
    assert sig == sign(SECRET, ts, got.body, delivery_id="d1")
    assert verify(SECRET, ts, got.body, sig, delivery_id="d1", now=clock.t)
    assert not verify("wrong", ts, got.body, sig, delivery_id="d1", now=clock.t)
    # a replay an hour later is refused, and so is one that passes itself off as a new delivery
    assert not verify(SECRET, ts, got.body, sig, delivery_id="d1", now=clock.t + 3600)
    assert not verify(SECRET, ts, got.body, sig, delivery_id="d2", now=clock.t)
    assert got.json == {"event": "handoff.created", "n": "d1"}
    assert (await store.list_outbox())[0].status == "delivered"


async def test_server_errors_are_retried_with_backoff_and_the_same_delivery_id(
    store: Store, receiver: Receiver
) -> None:
    await enqueue_events(store, "c1", ("d1", "handoff.created"))
    receiver.statuses[:] = [500, 502]
    clock = Clock()
    async with httpx.AsyncClient() as http:
        d = _dispatcher(store, http, receiver.url, clock)
        await d.run_once()
        row = (await store.list_outbox())[0]
        assert row.status == "retry" and row.last_error == "webhook answered HTTP 500"
        first_wait = row.next_attempt_at - clock.t
        assert 1.0 <= first_wait <= 2.0  # base 2s, jitter in the upper half
        assert await d.run_once() == 0  # not due yet: nothing is sent early
        clock.t = row.next_attempt_at
        await d.run_once()
        row = (await store.list_outbox())[0]
        assert 2.0 <= row.next_attempt_at - clock.t <= 4.0  # doubled
        clock.t = row.next_attempt_at
        await d.run_once()
    assert [r.headers["x-botsvc-delivery"] for r in receiver.events()] == ["d1"] * 3
    assert [r.headers["x-botsvc-attempt"] for r in receiver.events()] == ["1", "2", "3"]
    assert (await store.list_outbox())[0].status == "delivered"


async def test_retry_after_is_honoured(store: Store, receiver: Receiver) -> None:
    await enqueue_events(store, "c1", ("d1", "handoff.created"))
    receiver.statuses[:] = [503]
    receiver.retry_after = "45"
    clock = Clock()
    async with httpx.AsyncClient() as http:
        await _dispatcher(store, http, receiver.url, clock).run_once()
    row = (await store.list_outbox())[0]
    assert row.next_attempt_at - clock.t >= 45


async def test_timeouts_and_refused_connections_are_retried_until_delivered(
    store: Store, receiver: Receiver
) -> None:
    await enqueue_events(store, "c1", ("d1", "handoff.created"))
    clock = Clock()
    async with httpx.AsyncClient() as http:
        d = _dispatcher(store, http, receiver.url, clock, timeout_s=0.3)
        receiver.delay_s = 2.0
        await d.run_once()
        row = (await store.list_outbox())[0]
        assert row.status == "retry" and "timeout" in (row.last_error or "")
        receiver.delay_s = 0.0
        receiver.stop()
        clock.t = row.next_attempt_at
        await d.run_once()
        row = (await store.list_outbox())[0]
        assert row.status == "retry" and "Connect" in (row.last_error or "")
        receiver.start()  # the helpdesk recovers, same port
        clock.t = row.next_attempt_at
        await d.run_once()
    assert (await store.list_outbox())[0].status == "delivered"
    assert {r.headers["x-botsvc-delivery"] for r in receiver.events()} == {"d1"}


async def test_last_attempt_goes_dead_and_a_requeue_delivers_it(
    store: Store, receiver: Receiver
) -> None:
    await enqueue_events(store, "c1", ("d1", "handoff.created"), ("d2", "message.created"))
    receiver.statuses[:] = [500] * 3
    clock = Clock()
    async with httpx.AsyncClient() as http:
        d = _dispatcher(store, http, receiver.url, clock, max_attempts=3)
        for _ in range(3):
            await d.run_once()
            clock.t += 61
        dead = await store.list_outbox(status="dead")
        assert [r.id for r in dead] == ["d1"]
        # the message.created behind it never overtook it
        assert {r.headers["x-botsvc-delivery"] for r in receiver.events()} == {"d1"}
        assert await store.requeue(None, now=clock.t) == 1
        await d.run_once()
        await d.run_once()
    assert [r.headers["x-botsvc-delivery"] for r in receiver.events()][-2:] == ["d1", "d2"]
    assert {r.status for r in await store.list_outbox()} == {"delivered"}


async def test_message_never_overtakes_its_handoff(store: Store, receiver: Receiver) -> None:
    await enqueue_events(
        store, "c1", ("h", "handoff.created"), ("m1", "message.created"), ("m2", "message.created")
    )
    await enqueue_events(store, "c2", ("x", "handoff.created"))
    # both first attempts fail (h and x go out side by side, in either order)
    receiver.statuses[:] = [500, 500]
    clock = Clock()
    async with httpx.AsyncClient() as http:
        d = _dispatcher(store, http, receiver.url, clock)
        for _ in range(6):
            await d.run_once()
            clock.t += 10
    order = [r.headers["x-botsvc-delivery"] for r in receiver.events()]
    c1 = [i for i in order if i in ("h", "m1", "m2")]
    assert c1 == ["h", "h", "m1", "m2"]


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, base_s=2, cap_s=60, rng=rng) for n in range(1, 10)]
    assert all(d <= 60 for d in delays) and delays[-1] >= 30
    assert delays[0] <= 2 < delays[3]
