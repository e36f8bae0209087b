"""The one Store implementation, on SQLAlchemy 2 Core: SQLite (pysqlite on a thread of its own)
or PostgreSQL (asyncpg).

Each operation is one transaction written once as a plain function of a connection (`_run`):
SQLite runs it whole on the store's thread, PostgreSQL on the event loop through asyncpg.
SQLite runs every transaction as BEGIN IMMEDIATE (one writer at a time, WAL for readers), so a
claim is exclusive; PostgreSQL claims outbox rows with FOR UPDATE SKIP LOCKED. Conversations are
serialised by a lease column rather than a held transaction, so no transaction stays open while
a message is being understood or a webhook is being sent.

Longer than our other modules on purpose: it is the whole Store protocol in one place, so that
every statement, the two dialects' variants side by side and the one error wrapper (`_tx`) can
be read together.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets as random_secrets
import sqlite3
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    and_,
    case,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from botsvc.domain import Customer, DialogueState
from botsvc.errors import Busy, ConfigError, Conflict, NotFound, StoreError
from botsvc.store import (
    LEASE_S,
    Conversation,
    Feedback,
    Handoff,
    HandoffStatus,
    Idempotent,
    Listener,
    MessageRecord,
    OutboxBacklog,
    OutboxRow,
    OutboxStatus,
    Rating,
    TurnRecord,
    TurnWrite,
    UnansweredMessage,
)
from botsvc.store.browse import (
    BrowseFilter,
    ConversationSummary,
    HandoffFilter,
    HandoffSummary,
    browse_conversations,
    browse_handoffs,
)
from botsvc.store.figures import Figures, FigureWindow, compute_figures
from botsvc.store.notify import CHANNEL, NoListener, PgListener
from botsvc.store.retention import PurgeResult, customer_data, erase_customer, purge
from botsvc.store.schema import (
    ADDED_COLUMNS,
    conversations,
    feedback,
    flow_events,
    handoffs,
    idempotency,
    messages,
    metadata,
    outbox,
    ratings,
    secrets,
    turns,
)

_LOCK_POLL_S = 0.01
T = TypeVar("T")
Work = Callable[[Connection], T]


class SqlStore:
    def __init__(
        self, url: str, *, schema: str | None = None, sqlite_synchronous: str = "normal"
    ) -> None:
        self.schema = schema  # PostgreSQL only: the search_path (tests use one schema each)
        if sqlite_synchronous.lower() not in ("normal", "full"):
            raise ConfigError("sqlite_synchronous must be normal or full")
        # WAL + NORMAL: a commit survives a crash of the process (SIGKILL); FULL also survives
        # power loss, at an fsync per commit (about 10 ms a turn on this machine's disk)
        self.sqlite_synchronous = sqlite_synchronous.upper()
        try:
            self.url = make_url(url)
        except Exception as exc:
            raise ConfigError(f"invalid database URL {url!r}: {exc}") from exc
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if not self.is_sqlite and self.url.get_backend_name() != "postgresql":
            raise ConfigError(
                f"unsupported database {url!r}: use sqlite+aiosqlite or postgresql+asyncpg"
            )
        self._engine: AsyncEngine | None = None  # PostgreSQL
        self._sqlite: Engine | None = None
        # SQLite allows one writer. Each of this process's transactions runs whole on this one
        # thread: one hop from the event loop per transaction, so a transaction holding the
        # write lock is never stretched by the loop's other work, and the loop never waits on
        # the file (other processes still wait in busy_timeout, on this thread).
        self._thread: ThreadPoolExecutor | None = None
        self.origin = uuid.uuid4().hex[:12]  # names this process in its change notices

    # --- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        if self.is_sqlite:
            await self._open_sqlite()
            return
        connect_args = {"server_settings": {"search_path": self.schema}} if self.schema else {}
        engine = create_async_engine(
            self.url,
            pool_size=10,
            max_overflow=10,
            pool_pre_ping=True,
            connect_args=connect_args,
        )
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_create_or_upgrade)
        except (SQLAlchemyError, OSError) as exc:
            await engine.dispose()
            raise ConfigError(f"cannot open database {self.url.render_as_string()}: {exc}") from exc
        self._engine = engine

    async def _open_sqlite(self) -> None:
        if sqlite3.sqlite_version_info < (3, 35):
            raise ConfigError(f"SQLite >= 3.35 is needed, found {sqlite3.sqlite_version}")
        if self.url.database and self.url.database != ":memory:":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            self.url.set(drivername="sqlite"),  # pysqlite, on our own thread
            connect_args={"timeout": 30, "check_same_thread": False},
        )
        _sqlite_immediate_transactions(engine, synchronous=self.sqlite_synchronous)
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        try:
            await asyncio.get_running_loop().run_in_executor(
                thread, _in_transaction, engine, _create_or_upgrade
            )
        except (SQLAlchemyError, OSError) as exc:
            engine.dispose()
            thread.shutdown()
            raise ConfigError(f"cannot open database {self.url.render_as_string()}: {exc}") from exc
        self._sqlite, self._thread = engine, thread

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
        if self._sqlite is not None and self._thread is not None:
            engine, thread = self._sqlite, self._thread
            self._sqlite = self._thread = None
            await asyncio.get_running_loop().run_in_executor(thread, engine.dispose)
            thread.shutdown()

    @property
    def _insert(self) -> Any:
        """The dialect's INSERT, for ON CONFLICT DO NOTHING."""
        return sqlite_insert if self.is_sqlite else pg_insert

    async def _run(self, work: Work[T]) -> T:
        """One transaction: `work` runs its statements on a plain connection and commits, or
        raises and rolls back. SQLite: whole, on the store thread; PostgreSQL: on the event
        loop (asyncpg), statement by statement."""
        try:
            if self._sqlite is not None and self._thread is not None:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._thread, _in_transaction, self._sqlite, work)
            if self._engine is None:
                raise StoreError("store is not open")
            async with self._engine.begin() as conn:
                return await conn.run_sync(work)
        except (Conflict, NotFound):
            raise
        except SQLAlchemyError as exc:
            raise StoreError(str(exc)) from exc

    # --- conversations -----------------------------------------------------------------------

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
        deadline = time.monotonic() + wait_s
        delay = _LOCK_POLL_S

        def attempt(conn: Connection) -> tuple[Any, Any]:
            now = time.time()
            row = self._take_lease(conn, conversation_id, owner, customer, channel, now, lease_s)
            if row is not None:
                return row, None
            held = conn.execute(
                select(conversations.c.lock_until).where(conversations.c.id == conversation_id)
            ).first()
            return None, held

        while True:
            row, held = await self._run(attempt)
            if row is not None:
                return _conversation(row)
            if held is None:
                raise NotFound(f"conversation {conversation_id!r} not found")
            if time.monotonic() >= deadline:
                now = time.time()
                raise Busy(
                    f"conversation {conversation_id!r} is busy with another message",
                    retry_after_s=max(1.0, float(held[0] or now) - now),
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _take_lease(
        self,
        conn: Connection,
        conversation_id: str,
        owner: str,
        customer: Customer | None,
        channel: str,
        now: float,
        lease_s: float,
    ) -> Any:
        """One statement: the conversation with its lease taken (created if new and `customer`
        is given), or None while another owner's lease runs."""
        free = or_(conversations.c.lock_until.is_(None), conversations.c.lock_until < now)
        if customer is None:
            stmt: Any = (
                update(conversations)
                .where(conversations.c.id == conversation_id, free)
                .values(lock_owner=owner, lock_until=now + lease_s)
            )
        else:
            stmt = self._insert(conversations).values(
                id=conversation_id,
                customer_id=customer.id,
                customer=_customer_json(customer),
                channel=channel,
                status="bot",
                state=DialogueState().model_dump(mode="json"),
                created_at=now,
                updated_at=now,
                lock_owner=owner,
                lock_until=now + lease_s,
            )
            stmt = stmt.on_conflict_do_update(  # values, not `excluded` (built anew each time)
                index_elements=["id"],
                set_={"lock_owner": owner, "lock_until": now + lease_s},
                where=free,
            )
        return conn.execute(stmt.returning(*conversations.c)).mappings().first()

    async def unlock_conversation(self, conversation_id: str, *, owner: str) -> None:
        stmt = (
            update(conversations)
            .where(conversations.c.id == conversation_id, conversations.c.lock_owner == owner)
            .values(lock_owner=None, lock_until=None)
        )
        await self._run(lambda conn: conn.execute(stmt))

    async def save_turn(self, write: TurnWrite) -> list[MessageRecord]:
        return await self._run(lambda conn: self._save_turn(conn, write))

    def _save_turn(self, conn: Connection, write: TurnWrite) -> list[MessageRecord]:
        now = time.time()
        released = conn.execute(
            update(conversations)
            .where(
                conversations.c.id == write.conversation_id,
                conversations.c.lock_owner == write.lock_owner,
            )
            .values(
                state=write.state.model_dump(mode="json"),
                status=write.status,
                handoff_id=write.handoff_id,
                lock_owner=None,
                lock_until=None,
                updated_at=now,
                **_figure_columns(write),
            )
        )
        if released.rowcount != 1:
            raise Conflict(f"conversation {write.conversation_id!r}: lease lost, turn not saved")
        if write.turn is not None:
            t = write.turn
            conn.execute(
                insert(turns).values(
                    id=t.id,
                    conversation_id=t.conversation_id,
                    text=t.text,
                    handled_by=t.handled_by,
                    trace=t.trace,
                    created_at=t.created_at,
                    intent=t.intent,
                    confidence=t.confidence,
                    flow_id=t.flow_id,
                    step_id=t.step_id,
                    gap=t.gap,
                )
            )
            if write.flow_events:
                conn.execute(
                    insert(flow_events),
                    [
                        {
                            "conversation_id": t.conversation_id,
                            "turn_id": t.id,
                            "flow_id": ev.flow_id,
                            "event": ev.event,
                            "created_at": t.created_at,
                        }
                        for ev in write.flow_events
                    ],
                )
        if write.new_handoff is not None:
            conn.execute(insert(handoffs).values(**_handoff_values(write.new_handoff)))
        if write.changed_handoff is not None:
            values = _handoff_values(write.changed_handoff)
            conn.execute(update(handoffs).where(handoffs.c.id == values.pop("id")).values(**values))
        turn_id = write.turn.id if write.turn else None
        rows = [
            {
                "conversation_id": write.conversation_id,
                "turn_id": turn_id,
                "role": m.role,
                "text": m.text,
                "data": m.data,
                "created_at": now,
            }
            for m in write.messages
        ]
        seqs = (
            conn.execute(
                insert(messages).returning(messages.c.seq, sort_by_parameter_order=True), rows
            )
            .scalars()
            .all()
            if rows
            else []
        )
        saved = [
            MessageRecord(
                seq=seq,
                conversation_id=write.conversation_id,
                turn_id=turn_id,
                role=m.role,
                text=m.text,
                data=m.data,
                created_at=now,
            )
            for seq, m in zip(seqs, write.messages, strict=True)
        ]
        if write.outbox:
            conn.execute(
                insert(outbox),
                [
                    {
                        "id": ev.id,
                        "event": ev.event,
                        "conversation_id": ev.conversation_id,
                        "payload": ev.payload,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for ev in write.outbox
                ],
            )
        if write.idempotent is not None:
            i = write.idempotent
            conn.execute(
                self._insert(idempotency)
                .values(
                    conversation_id=write.conversation_id,
                    key=i.key,
                    request_hash=i.request_hash,
                    result=i.result,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["conversation_id", "key"])
            )
        if saved and not self.is_sqlite:
            # delivered to the other replicas' listeners when this transaction commits
            conn.execute(select(func.pg_notify(CHANNEL, f"{self.origin} {write.conversation_id}")))
        return saved

    async def get_conversation(self, conversation_id: str) -> Conversation:
        query = select(conversations).where(conversations.c.id == conversation_id)
        row = await self._run(lambda conn: conn.execute(query).mappings().first())
        if row is None:
            raise NotFound(f"conversation {conversation_id!r} not found")
        return _conversation(row)

    async def messages(
        self, conversation_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[MessageRecord]:
        query = (
            select(messages)
            .where(messages.c.conversation_id == conversation_id, messages.c.seq > after)
            .order_by(messages.c.seq)
            .limit(limit)
        )
        return await self._run(lambda conn: [_message(r) for r in conn.execute(query).mappings()])

    async def newest_messages(
        self, conversation_id: str, *, limit: int
    ) -> tuple[list[MessageRecord], int]:
        of_conv = messages.c.conversation_id == conversation_id
        newest = select(messages).where(of_conv).order_by(messages.c.seq.desc()).limit(limit)
        count = select(func.count()).where(of_conv)

        def work(conn: Connection) -> tuple[list[MessageRecord], int]:
            rows = [_message(r) for r in conn.execute(newest).mappings()]
            total = int(conn.scalar(count) or 0)
            return rows[::-1], total - len(rows)

        return await self._run(work)

    async def last_messages(self, conversation_ids: list[str]) -> dict[str, MessageRecord]:
        if not conversation_ids:
            return {}
        newest = (
            select(messages.c.conversation_id, func.max(messages.c.seq).label("seq"))
            .where(messages.c.conversation_id.in_(conversation_ids))
            .group_by(messages.c.conversation_id)
            .subquery()
        )
        query = select(messages).join(newest, messages.c.seq == newest.c.seq)
        rows = await self._run(lambda conn: conn.execute(query).mappings().all())
        return {r["conversation_id"]: _message(r) for r in rows}

    async def turns(self, conversation_id: str) -> list[TurnRecord]:
        query = (
            select(turns)
            .where(turns.c.conversation_id == conversation_id)
            .order_by(turns.c.created_at)
        )
        rows = await self._run(lambda conn: conn.execute(query).mappings().all())
        return [
            TurnRecord(
                id=r["id"],
                conversation_id=r["conversation_id"],
                text=r["text"],
                handled_by=r["handled_by"],
                trace=r["trace"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    async def customer_conversations(
        self, customer_id: str, *, exclude: str, limit: int = 10
    ) -> list[Conversation]:
        query = (
            select(conversations)
            .where(conversations.c.customer_id == customer_id, conversations.c.id != exclude)
            .order_by(conversations.c.updated_at.desc())
            .limit(limit)
        )
        rows = await self._run(lambda conn: conn.execute(query).mappings().all())
        return [_conversation(r) for r in rows]

    # --- handoffs ----------------------------------------------------------------------------

    async def get_handoff(self, handoff_id: str) -> Handoff:
        query = select(handoffs).where(handoffs.c.id == handoff_id)
        row = await self._run(lambda conn: conn.execute(query).mappings().first())
        if row is None:
            raise NotFound(f"handoff {handoff_id!r} not found")
        return _handoff(row)

    async def list_handoffs(self, *, status: HandoffStatus | None = None) -> list[Handoff]:
        query = select(handoffs).order_by(handoffs.c.created_at)
        if status is not None:
            query = query.where(handoffs.c.status == status)
        rows = await self._run(lambda conn: conn.execute(query).mappings().all())
        return [_handoff(r) for r in rows]

    async def record_feedback(self, fb: Feedback) -> None:
        def work(conn: Connection) -> None:
            known = conn.scalar(
                select(turns.c.id).where(
                    turns.c.id == fb.turn_id, turns.c.conversation_id == fb.conversation_id
                )
            )
            if known is None:
                raise NotFound(f"turn {fb.turn_id!r} not found in {fb.conversation_id!r}")
            # delete + insert in one transaction: the same statements on both dialects
            conn.execute(delete(feedback).where(feedback.c.turn_id == fb.turn_id))
            conn.execute(
                insert(feedback).values(
                    turn_id=fb.turn_id,
                    conversation_id=fb.conversation_id,
                    helpful=fb.helpful,
                    comment=fb.comment,
                    created_at=fb.created_at,
                )
            )

        await self._run(work)

    async def feedback(self, conversation_id: str) -> list[Feedback]:
        query = (
            select(feedback)
            .where(feedback.c.conversation_id == conversation_id)
            .order_by(feedback.c.created_at)
        )
        rows = await self._run(lambda conn: conn.execute(query).mappings().all())
        return [
            Feedback(
                turn_id=r["turn_id"],
                conversation_id=r["conversation_id"],
                helpful=bool(r["helpful"]),
                comment=r["comment"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    async def record_rating(
        self, conversation_id: str, *, score: int, comment: str | None, at: float
    ) -> Rating:
        def work(conn: Connection) -> Rating:
            known = conn.scalar(
                select(conversations.c.id).where(conversations.c.id == conversation_id)
            )
            if known is None:
                raise NotFound(f"conversation {conversation_id!r} not found")
            handoff_id = conn.scalar(
                select(handoffs.c.id)
                .where(handoffs.c.conversation_id == conversation_id)
                .order_by(handoffs.c.created_at.desc())
                .limit(1)
            )
            rating = Rating(
                conversation_id=conversation_id,
                handoff_id=handoff_id,
                score=score,
                comment=comment,
                created_at=at,
            )
            same = ratings.c.conversation_id == conversation_id
            conn.execute(
                delete(ratings).where(
                    same,
                    ratings.c.handoff_id == handoff_id
                    if handoff_id is not None
                    else ratings.c.handoff_id.is_(None),
                )
            )
            conn.execute(insert(ratings).values(**dataclasses.asdict(rating)))
            return rating

        return await self._run(work)

    async def ratings(self, conversation_id: str) -> list[Rating]:
        query = (
            select(*(ratings.c[f.name] for f in dataclasses.fields(Rating)))
            .where(ratings.c.conversation_id == conversation_id)
            .order_by(ratings.c.id)
        )
        rows = await self._run(lambda conn: conn.execute(query).mappings().all())
        return [Rating(**r) for r in rows]

    async def last_seq(self, conversation_id: str) -> int:
        query = select(func.max(messages.c.seq)).where(
            messages.c.conversation_id == conversation_id
        )
        seq = await self._run(lambda conn: conn.scalar(query))
        return int(seq or 0)

    async def secret(self, name: str) -> str:
        def work(conn: Connection) -> Any:
            conn.execute(
                self._insert(secrets)
                .values(name=name, value=random_secrets.token_urlsafe(32))
                .on_conflict_do_nothing(index_elements=["name"])
            )
            return conn.scalar(select(secrets.c.value).where(secrets.c.name == name))

        return str(await self._run(work))

    def listen(self, on_change: Callable[[str], None]) -> Listener:
        if self.is_sqlite:
            return NoListener()
        dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return PgListener(dsn, origin=self.origin, on_change=on_change)

    async def update_handoff(self, handoff: Handoff) -> None:
        values = _handoff_values(handoff)
        stmt = update(handoffs).where(handoffs.c.id == values.pop("id")).values(**values)
        await self._run(lambda conn: conn.execute(stmt))

    # --- outbox ------------------------------------------------------------------------------

    async def claim_outbox(
        self, *, owner: str, now: float, lease_s: float, limit: int = 10
    ) -> list[OutboxRow]:
        earlier = outbox.alias("earlier")
        blocked = exists().where(
            earlier.c.conversation_id == outbox.c.conversation_id,
            earlier.c.seq < outbox.c.seq,
            earlier.c.status != "delivered",
        )
        due = or_(
            and_(outbox.c.status.in_(("pending", "retry")), outbox.c.next_attempt_at <= now),
            and_(outbox.c.status == "in_flight", outbox.c.lease_until < now),
        )
        query = select(outbox.c.seq).where(due, ~blocked).order_by(outbox.c.seq).limit(limit)
        if not self.is_sqlite:  # SQLite's BEGIN IMMEDIATE already excludes other claimers
            query = query.with_for_update(skip_locked=True, of=outbox)

        def work(conn: Connection) -> list[Any]:
            seqs = list(conn.execute(query).scalars())
            if not seqs:
                return []
            claim = (
                update(outbox)
                .where(outbox.c.seq.in_(seqs))
                .values(
                    status="in_flight",
                    lease_owner=owner,
                    lease_until=now + lease_s,
                    attempts=outbox.c.attempts + 1,
                )
                .returning(*outbox.c)
            )
            return list(conn.execute(claim).mappings().all())

        rows = await self._run(work)
        return sorted((_outbox_row(r) for r in rows), key=lambda r: r.seq)

    async def mark_delivered(self, row_id: str, *, owner: str, now: float) -> None:
        stmt = (
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.lease_owner == owner)
            .values(
                status="delivered",
                delivered_at=now,
                lease_owner=None,
                lease_until=None,
                last_error=None,
            )
        )
        await self._run(lambda conn: conn.execute(stmt))

    async def mark_failed(
        self, row_id: str, *, owner: str, error: str, retry_at: float | None
    ) -> None:
        values: dict[str, Any] = {
            "lease_owner": None,
            "lease_until": None,
            "last_error": error[:2000],
        }
        if retry_at is None:
            values["status"] = "dead"
        else:
            values.update(status="retry", next_attempt_at=retry_at)
        stmt = (
            update(outbox)
            .where(outbox.c.id == row_id, outbox.c.lease_owner == owner)
            .values(**values)
        )
        await self._run(lambda conn: conn.execute(stmt))

    async def list_outbox(
        self, *, status: OutboxStatus | None = None, limit: int = 100
    ) -> list[OutboxRow]:
        query = select(outbox).order_by(outbox.c.seq.desc()).limit(limit)
        if status is not None:
            query = query.where(outbox.c.status == status)
        rows = await self._run(lambda conn: conn.execute(query).mappings().all())
        return [_outbox_row(r) for r in rows]

    async def requeue(self, row_ids: list[str] | None, *, now: float) -> int:
        query = update(outbox).where(outbox.c.status == "dead")
        if row_ids is not None:
            query = query.where(outbox.c.id.in_(row_ids))
        stmt = query.values(status="pending", attempts=0, next_attempt_at=now)
        return await self._run(lambda conn: int(conn.execute(stmt).rowcount))

    async def unanswered(
        self, *, since: float, until: float, limit: int = 5000
    ) -> list[UnansweredMessage]:
        in_window = and_(turns.c.created_at >= since, turns.c.created_at < until)
        cols = (turns.c.id, turns.c.conversation_id, turns.c.text, turns.c.created_at)
        gaps = select(*cols, turns.c.gap.label("reason")).where(in_window, turns.c.gap.is_not(None))
        unhelpful = (
            select(*cols, literal("not_helpful").label("reason"))
            .join(feedback, feedback.c.turn_id == turns.c.id)
            .where(in_window, feedback.c.helpful.is_(False))
        )
        both = union_all(gaps, unhelpful).subquery()
        query = select(both).order_by(both.c.created_at.desc()).limit(limit)
        rows = await self._run(lambda conn: conn.execute(query).all())
        return [
            UnansweredMessage(
                turn_id=r.id,
                conversation_id=r.conversation_id,
                text=r.text,
                reason=r.reason,
                created_at=r.created_at,
            )
            for r in rows
        ]

    async def purge(self, *, idle_before: float, anonymise: bool) -> PurgeResult:
        return await self._run(
            lambda conn: purge(conn, idle_before=idle_before, anonymise=anonymise)
        )

    async def customer_data(self, customer_id: str) -> dict[str, Any]:
        return await self._run(lambda conn: customer_data(conn, customer_id))

    async def erase_customer(self, customer_id: str) -> int:
        return await self._run(lambda conn: erase_customer(conn, customer_id))

    async def idempotent(
        self, conversation_id: str, key: str, *, since: float
    ) -> Idempotent | None:
        query = select(idempotency).where(
            idempotency.c.conversation_id == conversation_id,
            idempotency.c.key == key,
            idempotency.c.created_at >= since,
        )
        row = await self._run(lambda conn: conn.execute(query).mappings().first())
        if row is None:
            return None
        return Idempotent(key=row["key"], request_hash=row["request_hash"], result=row["result"])

    async def handoffs_of(self, conversation_id: str) -> list[Handoff]:
        query = (
            select(handoffs)
            .where(handoffs.c.conversation_id == conversation_id)
            .order_by(handoffs.c.created_at)
        )
        rows = await self._run(lambda conn: conn.execute(query).mappings().all())
        return [_handoff(r) for r in rows]

    async def browse_handoffs(self, f: HandoffFilter) -> list[HandoffSummary]:
        return await self._run(lambda conn: browse_handoffs(conn, f))

    async def browse(self, f: BrowseFilter) -> list[ConversationSummary]:
        return await self._run(lambda conn: browse_conversations(conn, f))

    async def figures(self, window: FigureWindow) -> Figures:
        return await self._run(lambda conn: compute_figures(conn, window))

    async def count_outbox(self) -> dict[str, int]:
        return (await self.outbox_backlog()).counts

    async def outbox_backlog(self) -> OutboxBacklog:
        counts = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        oldest = select(func.min(outbox.c.created_at)).where(
            outbox.c.status.in_(("pending", "retry", "in_flight"))
        )

        def work(conn: Connection) -> OutboxBacklog:
            by_status = {str(s): int(n) for s, n in conn.execute(counts).all()}
            at = conn.scalar(oldest)
            return OutboxBacklog(
                counts=by_status, oldest_undelivered_at=None if at is None else float(at)
            )

        return await self._run(work)


def _figure_columns(write: TurnWrite) -> dict[str, Any]:
    """A conversation's `engaged` and `topic`, set by its first turn that has them."""
    t = write.turn
    if t is None or t.intent is None:
        return {}
    started = next((ev.flow_id for ev in write.flow_events if ev.event == "started"), None)
    topic = started or f"intent:{t.intent}"
    c = conversations.c
    return {
        "engaged": True,
        # a flow started later still names the topic when only an intent did before
        "topic": case((c.topic.is_(None) | c.topic.startswith("intent:"), topic), else_=c.topic)
        if started
        else func.coalesce(c.topic, topic),
    }


def _create_or_upgrade(conn: Connection) -> None:
    """The tables, and on a database made by an older release the columns and indexes added
    since (`schema.ADDED_COLUMNS`); nothing is ever dropped or changed."""
    metadata.create_all(conn)
    present = inspect(conn)
    for table_name, names in ADDED_COLUMNS.items():
        have = {c["name"] for c in present.get_columns(table_name)}
        table = metadata.tables[table_name]
        for name in names:
            if name not in have:
                column = table.c[name]
                kind = column.type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f'ALTER TABLE {table_name} ADD COLUMN "{name}" {kind}')
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _in_transaction(engine: Engine, work: Work[T]) -> T:
    with engine.begin() as conn:
        return work(conn)


def _sqlite_immediate_transactions(engine: Engine, *, synchronous: str) -> None:
    """pysqlite's own BEGIN is deferred; take the write lock at BEGIN so claims are exclusive."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _message(r: Any) -> MessageRecord:
    return MessageRecord(
        seq=r["seq"],
        conversation_id=r["conversation_id"],
        turn_id=r["turn_id"],
        role=r["role"],
        text=r["text"],
        data=r["data"],
        created_at=r["created_at"],
    )


def _customer_json(c: Customer) -> dict[str, Any]:
    return {"id": c.id, "name": c.name, "email": c.email, "metadata": dict(c.metadata)}


def _conversation(row: Any) -> Conversation:
    cust = row["customer"]
    return Conversation(
        id=row["id"],
        customer=Customer(
            id=cust["id"],
            name=cust.get("name"),
            email=cust.get("email"),
            metadata=cust.get("metadata") or {},
        ),
        channel=row["channel"],
        status=row["status"],
        state=DialogueState.model_validate(row["state"]),
        handoff_id=row["handoff_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


_HANDOFF_FIELDS = tuple(f.name for f in dataclasses.fields(Handoff))


def _handoff_values(h: Handoff) -> dict[str, Any]:
    return dataclasses.asdict(h)


def _handoff(row: Any) -> Handoff:
    return Handoff(**{k: row[k] for k in _HANDOFF_FIELDS})


def _outbox_row(row: Any) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        seq=row["seq"],
        event=row["event"],
        conversation_id=row["conversation_id"],
        payload=row["payload"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        delivered_at=row["delivered_at"],
    )
