"""What the ops queries cost on a big store: the figures (7, 30 and 90 days, and 7 days of one
channel), the conversation browser (default page, and words + outcome) and the unanswered
messages, timed through the store's async API on SQLite and PostgreSQL filled with synthetic
but plausible data (1M turns over 90 days by default).

    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python bench/bench_figures.py           # both, 1M turns
    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_figures.py --turns 20000 --backend sqlite
    HF_HUB_OFFLINE=1 nice -n 10 .venv/bin/python bench/bench_figures.py \\
        --extra-index "CREATE INDEX ix_x ON turns (created_at, handled_by, intent, confidence)"

The store creates the tables and indexes (SQLite in a temp dir, PostgreSQL in a fresh schema of
--pg-url, dropped afterwards unless --keep). The fill goes around the store in batches of 10k
rows: SQLAlchemy Core executemany on a sync pysqlite engine; asyncpg COPY for PostgreSQL, then
VACUUM ANALYZE (what autovacuum does in time). --extra-index statements run after the fill, to
try an index. Each query: one warm-up, then the best of 3 (wall clock).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shlex
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

import asyncpg  # noqa: E402
from sqlalchemy import create_engine, event, func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from botsvc.domain import DialogueState  # noqa: E402
from botsvc.store import BrowseFilter, FigureWindow, Store, open_store  # noqa: E402
from botsvc.store.schema import (  # noqa: E402
    conversations,
    feedback,
    flow_events,
    handoffs,
    ratings,
    turns,
)

DAY_S = 86400
DAYS = 90
BATCH = 10_000
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TABLES = (conversations, turns, handoffs, flow_events, ratings, feedback)  # insert (FK) order
AUTO_COLUMNS = {"flow_events": "seq", "ratings": "id"}  # left to the database

# intent -> customer texts ({n}: an order number); the flows are started by some of them
INTENT_TEXTS: dict[str, tuple[str, ...]] = {
    "greet": ("hi", "hello there", "good morning"),
    "goodbye": ("bye", "thanks, bye"),
    "thank_you": ("thank you", "great, thanks!"),
    "affirm": ("yes", "yes please", "correct"),
    "deny": ("no", "no thanks", "that's wrong"),
    "inform": ("it's {n}", "order {n}", "{n}"),
    "check_order_status": ("where is my order {n}?", "status of order {n}"),
    "cancel_order": ("cancel order {n}", "I want to cancel my order"),
    "request_refund": ("I want a refund for order {n}", "refund please", "how do refunds work?"),
    "return_item": ("how do I return an item?", "I'd like to return order {n}"),
    "change_address": ("change my delivery address", "wrong address on order {n}"),
    "track_package": ("track my package", "tracking number for {n}?"),
    "payment_failed": ("my payment failed", "card declined on checkout"),
    "update_payment_method": ("update my card", "change payment method"),
    "reset_password": ("I forgot my password", "reset password"),
    "account_locked": ("my account is locked", "can't log in"),
    "change_email": ("change my email address",),
    "delete_account": ("delete my account", "close my account please"),
    "opening_hours": ("when are you open?", "opening hours"),
    "shipping_costs": ("how much is shipping?", "shipping costs to Canada"),
    "delivery_time": ("how long does delivery take?", "when will {n} arrive"),
    "product_availability": ("is the blue one in stock?", "when is it back in stock"),
    "discount_code": ("my discount code doesn't work", "any promo codes?"),
    "warranty_claim": ("warranty claim for my blender", "is this covered by warranty"),
    "damaged_item": ("order {n} arrived damaged, I want a refund", "the box was broken"),
    "missing_item": ("an item is missing from {n}", "only got half my order"),
    "invoice_request": ("send me the invoice for {n}", "I need a VAT invoice"),
    "subscription_cancel": ("cancel my subscription", "stop my monthly box"),
    "talk_to_human": ("talk to a human", "agent please", "real person!"),
    "complaint": ("still no refund after two weeks!", "this is unacceptable"),
}
FALLBACK_TEXTS = ("asdf", "what about the thing", "can you sing", "blorp 42", "purple monkey")
INTENT_WEIGHTS = {"greet": 6, "check_order_status": 8, "request_refund": 5, "track_package": 6}
FLOWS: dict[str, tuple[str, ...]] = {  # started by the intent of the same key
    "check_order_status": ("ask_order_number", "lookup_order", "show_status"),
    "cancel_order": ("ask_order_number", "confirm_cancel", "cancel", "done"),
    "request_refund": ("ask_order_number", "ask_reason", "confirm_refund", "refund", "done"),
    "return_item": ("ask_order_number", "choose_items", "print_label", "done"),
    "change_address": ("ask_order_number", "ask_address", "confirm_address", "done"),
    "reset_password": ("ask_email", "send_link", "done"),
    "subscription_cancel": ("offer_pause", "confirm_cancel", "done"),
    "damaged_item": ("ask_order_number", "ask_photo", "offer_replacement", "done"),
}
FLOW_INTENTS = ("inform", "affirm", "deny", "inform", "affirm")
REASONS = (
    ("customer_requested", 40),
    ("low_confidence", 20),
    ("flow_handoff", 15),
    ("negative_sentiment", 10),
    ("too_many_rejections", 8),
    ("action_failed", 7),
)
PRIORITIES = (("normal", 70), ("high", 18), ("low", 7), ("urgent", 5))
CHANNELS = (("web", 55), ("rest", 25), ("socketio", 20))


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([k for k, _ in weighted], [w for _, w in weighted])[0]


# --- synthetic data -----------------------------------------------------------------------------


def _starts(rng: random.Random, n_conv: int, t0: float, end: float) -> list[tuple[float, str, str]]:
    """(created_at, customer_id, channel) for each conversation, by start time. 20% anonymous;
    of the known customers ~70% come once and ~30% come back 1-4 times, a few days apart."""
    out: list[tuple[float, str, str]] = []
    n_anon = n_conv // 5
    for _ in range(n_anon):
        out.append(
            (rng.uniform(t0, end), f"anonymous:{rng.getrandbits(64):016x}", _pick(rng, CHANNELS))
        )
    k = 0
    while len(out) < n_conv:
        k += 1
        customer, channel = f"cust-{k:07d}", _pick(rng, CHANNELS)
        visits = 1 if rng.random() < 0.7 else rng.randint(2, 5)
        at = rng.uniform(t0, end)
        for _ in range(min(visits, n_conv - len(out))):
            out.append((at, customer, channel if rng.random() < 0.85 else _pick(rng, CHANNELS)))
            at += rng.expovariate(1 / (4 * DAY_S))
            if at >= end:
                at = rng.uniform(t0, end)
    out.sort()
    return out


def generate(n_turns: int, n_conv: int, end: float, seed: int) -> Iterator[tuple[str, dict]]:
    """(table name, row) in an order the foreign keys accept once batches are flushed in TABLES
    order. The same arguments give the same rows."""
    rng = random.Random(seed)
    t0 = end - DAYS * DAY_S
    starts = _starts(rng, n_conv, t0, end - 3600)
    counts = [1] * n_conv
    for i in rng.choices(range(n_conv), k=n_turns - n_conv):
        counts[i] += 1
    intents = list(INTENT_TEXTS)
    weights = [INTENT_WEIGHTS.get(i, 2) for i in intents]
    state = DialogueState().model_dump(mode="json")
    last_topic: dict[str, str] = {}

    def hexid() -> str:
        return f"{rng.getrandbits(128):032x}"

    def text_of(intent: str) -> str:
        return rng.choice(INTENT_TEXTS[intent]).format(n=rng.randint(100000, 999999))

    for (start, customer, channel), n in zip(starts, counts, strict=True):
        cid = f"{channel}:{hexid()}"
        handoff_at = n - 1 - min(n - 1, int(rng.expovariate(1.0))) if rng.random() < 0.1 else None
        bot_n = n if handoff_at is None else handoff_at + 1  # turns the bot reads
        topic = last_topic.get(customer) if rng.random() < 0.4 else None
        topic = topic or rng.choices(intents, weights)[0]
        if not customer.startswith("anonymous:"):
            last_topic[customer] = topic
        flow = topic if topic in FLOWS and rng.random() < 0.75 else None
        if flow is None and rng.random() < 0.25:  # some flows start later on
            flow = rng.choice(list(FLOWS))
        flow_start = 0 if flow == topic else rng.randrange(bot_n) if flow else 0
        steps = FLOWS.get(flow or "", ())
        flow_end = min(bot_n, flow_start + len(steps))  # turns flow_start..flow_end-1 in it
        if flow is None:
            fate = None
        elif handoff_at is not None and handoff_at < flow_end:
            fate = "handed_off"
        else:
            r = rng.random()
            fate = "completed" if r < 0.72 else "cancelled" if r < 0.84 else None  # None: dropped
        reason = None
        if handoff_at is not None:
            reason = "flow_handoff" if fate == "handed_off" else _pick(rng, REASONS)
            if reason == "flow_handoff" and fate != "handed_off":
                reason = "customer_requested"
        at = start
        out: list[tuple[str, dict]] = []  # the conversation's other rows, after its own
        open_handoff = None
        for j in range(n):
            tid = hexid()
            row: dict[str, Any] = {
                "id": tid,
                "conversation_id": cid,
                "trace": {},
                "created_at": at,
                "intent": None,
                "confidence": None,
                "flow_id": None,
                "step_id": None,
                "gap": None,
            }
            if j > (handoff_at if handoff_at is not None else n):  # a person answers these
                text = rng.choice(("ok", "thanks", "it's order {n}", "still waiting"))
                row.update(text=text.format(n=rng.randint(100000, 999999)), handled_by="human")
            elif flow and flow_start <= j < flow_end:
                intent = topic if j == 0 and flow == topic else rng.choice(FLOW_INTENTS)
                if j == flow_start and flow != topic:
                    intent = flow
                step = steps[j - flow_start]
                last_in_flow = j == flow_end - 1
                row.update(
                    text=text_of(intent),
                    handled_by="flow",
                    intent=intent,
                    confidence=round(rng.triangular(0.55, 1.0, 0.95), 3),
                    flow_id=None if last_in_flow and fate in ("completed", "cancelled") else flow,
                    step_id=None if last_in_flow and fate in ("completed", "cancelled") else step,
                )
                if j == flow_start:
                    out.append(("flow_events", _event(cid, tid, flow, "started", at)))
                if last_in_flow and fate in ("completed", "cancelled"):
                    out.append(("flow_events", _event(cid, tid, flow, fate, at)))
            else:
                r = rng.random()
                if r < 0.12:  # ~8% of the bot's turns overall
                    row.update(
                        text=rng.choice(FALLBACK_TEXTS),
                        handled_by="fallback",
                        intent="nlu_fallback",
                        confidence=round(rng.uniform(0.1, 0.5), 3),
                        gap="fallback" if rng.random() < 0.8 else "kb_declined",
                    )
                else:
                    intent = topic if j == 0 else rng.choices(intents, weights)[0]
                    small = intent in ("greet", "goodbye", "thank_you", "affirm", "deny")
                    row.update(
                        text=text_of(intent),
                        handled_by="flow" if small else "kb",
                        intent=intent,
                        confidence=round(rng.triangular(0.4, 1.0, 0.9), 3),
                    )
            if j == handoff_at:
                row["handled_by"] = "human"
                if reason == "low_confidence":
                    row.update(confidence=round(rng.uniform(0.2, 0.45), 3), gap="low_confidence")
                if reason == "customer_requested" and row["flow_id"] is None:
                    row.update(intent="talk_to_human", text=text_of("talk_to_human"))
                if fate == "handed_off":
                    out.append(("flow_events", _event(cid, tid, flow or "", "handed_off", at)))
            out.append(("turns", row))
            if row["handled_by"] == "kb" and rng.random() < 0.05:
                out.append(("feedback", _feedback(rng, row)))
            turn_at = at
            at += rng.uniform(5, 90) if j < bot_n - 1 else rng.uniform(60, 900)
            if j != handoff_at:
                continue
            hid = hexid()
            replied = turn_at + rng.expovariate(1 / 600) if rng.random() < 0.88 else None
            resolved = None
            if replied is not None and rng.random() < 0.8:
                resolved = replied + rng.expovariate(1 / 3600)
            open_handoff = hid if resolved is None else None
            handoff = {
                "id": hid,
                "conversation_id": cid,
                "status": "resolved" if resolved else "open",
                "reason": reason,
                "priority": _pick(rng, PRIORITIES),
                "created_at": turn_at + rng.uniform(0.05, 2.0),
                "resolved_at": resolved,
                "note": None,
                "agent_replied_at": replied,
                "queue_notified_at": turn_at + 1.0,
            }
            out.append(("handoffs", handoff))
            if rng.random() < 0.15:
                rating = {
                    "conversation_id": cid,
                    "handoff_id": hid,
                    "score": rng.choices((1, 2, 3, 4, 5), (8, 7, 15, 30, 40))[0],
                    "comment": None if rng.random() < 0.7 else "agent was quick",
                    "created_at": (resolved or turn_at) + rng.uniform(10, 600),
                }
                out.append(("ratings", rating))
        yield (
            "conversations",
            {
                "id": cid,
                "customer_id": customer,
                "customer": {"id": customer, "name": None, "email": None, "metadata": {}},
                "channel": channel,
                "status": "human" if open_handoff else "bot",
                "state": state,
                "handoff_id": open_handoff,
                "lock_owner": None,
                "lock_until": None,
                "created_at": start,
                "updated_at": at,
                **_figure_columns(out),
            },
        )
        yield from out


def _figure_columns(out: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """`engaged` and `topic`, as the store's turns set them on their conversation."""
    read = [r for t, r in out if t == "turns" and r["intent"] is not None]
    started = [r["flow_id"] for t, r in out if t == "flow_events" and r["event"] == "started"]
    if not read:
        return {"engaged": None, "topic": None}
    return {"engaged": True, "topic": started[0] if started else f"intent:{read[0]['intent']}"}


def _event(cid: str, tid: str, flow: str, kind: str, at: float) -> dict[str, Any]:
    return {
        "conversation_id": cid,
        "turn_id": tid,
        "flow_id": flow,
        "event": kind,
        "created_at": at,
    }


def _feedback(rng: random.Random, turn: dict[str, Any]) -> dict[str, Any]:
    helpful = rng.random() < 0.7
    return {
        "turn_id": turn["id"],
        "conversation_id": turn["conversation_id"],
        "helpful": helpful,
        "comment": None if helpful or rng.random() < 0.6 else "didn't answer my question",
        "created_at": turn["created_at"] + rng.uniform(5, 120),
    }


def batches(rows: Iterator[tuple[str, dict]]) -> Iterator[dict[str, list[dict]]]:
    """Rows grouped by table, handed out whenever one table reaches BATCH rows. A conversation's
    row comes before its other rows, so inserting each group in TABLES order suits the FKs."""
    pending: dict[str, list[dict]] = {t.name: [] for t in TABLES}
    for name, row in rows:
        pending[name].append(row)
        if len(pending[name]) >= BATCH:
            yield pending
            pending = {t.name: [] for t in TABLES}
    yield pending


# --- filling --------------------------------------------------------------------------------------


def fill_sqlite(path: Path, rows: Iterator[tuple[str, dict]]) -> None:
    """SQLAlchemy Core executemany on a sync pysqlite engine, one transaction per group."""
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous=OFF")

    for group in batches(rows):
        with engine.begin() as conn:
            for table in TABLES:
                if group[table.name]:
                    conn.execute(table.insert(), group[table.name])
    engine.dispose()


async def fill_postgres(conn: asyncpg.Connection, schema: str, rows: Iterator) -> None:
    """asyncpg COPY (binary) of each group, in one transaction per group; then VACUUM ANALYZE."""
    columns = {
        t.name: [c.name for c in t.columns if c.name != AUTO_COLUMNS.get(t.name)] for t in TABLES
    }
    as_json = {
        t.name: {c.name for c in t.columns if c.type.__class__.__name__ == "JSON"} for t in TABLES
    }
    for group in batches(rows):
        async with conn.transaction():
            for table in TABLES:
                if not group[table.name]:
                    continue
                names, js = columns[table.name], as_json[table.name]
                records = [
                    tuple(json.dumps(r[c]) if c in js else r[c] for c in names)
                    for r in group[table.name]
                ]
                await conn.copy_records_to_table(
                    table.name, records=records, columns=names, schema_name=schema
                )
    for table in TABLES:  # what autovacuum does in time: stats, and the visibility map
        await conn.execute(f'VACUUM ANALYZE "{schema}"."{table.name}"')


# --- timing ---------------------------------------------------------------------------------------


async def best_of(n: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """One warm-up, then the best of `n`: (ms, the last result)."""
    result = await call()
    best = float("inf")
    for _ in range(n):
        started = time.perf_counter()
        result = await call()
        best = min(best, time.perf_counter() - started)
    return best * 1000, result


def queries(store: Store, end: float) -> dict[str, Callable[[], Awaitable[Any]]]:
    def since(days: int) -> float:
        return end - days * DAY_S

    week = {"since": since(7), "until": end}
    return {
        "figures 7 days": lambda: store.figures(FigureWindow(**week)),
        "figures 30 days": lambda: store.figures(FigureWindow(since=since(30), until=end)),
        "figures 90 days": lambda: store.figures(FigureWindow(since=since(DAYS), until=end)),
        "figures 7 days, channel=web": lambda: store.figures(FigureWindow(**week, channel="web")),
        "browse 7 days (default, limit 50)": lambda: store.browse(BrowseFilter(**week)),
        "browse 7 days, text=refund, escalated": lambda: store.browse(
            BrowseFilter(**week, text="refund", outcome="escalated")
        ),
        "unanswered 7 days (limit 5000)": lambda: store.unanswered(**week, limit=5000),
    }


def describe(result: Any) -> str:
    """A line on what the query returned, to see the data is plausible."""
    if isinstance(result, list):
        return f"{len(result)} rows"
    f = result
    return (
        f"{f.conversations} conv, containment {f.containment_rate}, fallback {f.fallback_rate},"
        f" fcr {f.fcr_rate}, csat {f.csat['average']}, {len(f.funnel)} flows"
    )


async def count_rows(store: Store) -> dict[str, int]:
    def work(conn: Any) -> dict[str, int]:
        return {t.name: conn.scalar(select(func.count()).select_from(t)) for t in TABLES}

    return await store._run(work)  # type: ignore[attr-defined]


async def run_backend(backend: str, args: argparse.Namespace, end: float) -> None:
    n_conv = args.conversations or max(1, args.turns // 4)
    rows = generate(args.turns, n_conv, end, args.seed)
    tmp = None
    pg_conn = None
    schema = f"bench_figures_{os.getpid()}"
    if backend == "sqlite":
        tmp = tempfile.mkdtemp(prefix="bench_figures_")
        path = Path(tmp) / "bench.db"
        store = open_store(f"sqlite+aiosqlite:///{path}")
        where = str(path)
    else:
        url = make_url(args.pg_url)
        pg_conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
        await pg_conn.execute(f'CREATE SCHEMA "{schema}"')
        store = open_store(args.pg_url, schema=schema)
        where = f"{url.render_as_string()} schema {schema}"
    await store.open()
    try:
        started = time.perf_counter()
        if backend == "sqlite":
            fill_sqlite(path, rows)
        else:
            assert pg_conn is not None
            await fill_postgres(pg_conn, schema, rows)
        fill_s = time.perf_counter() - started
        for statement in args.extra_index:
            if pg_conn is not None:
                await pg_conn.execute(f'SET search_path TO "{schema}"; {statement}')
            else:
                await store._run(lambda conn, s=statement: conn.exec_driver_sql(s))  # type: ignore[attr-defined]
        counts = await count_rows(store)
        print(f"\n## {backend}: {where}\n")
        print("rows: " + ", ".join(f"{name} {n:,}" for name, n in counts.items()))
        print(f"fill (generate + insert{', VACUUM ANALYZE' if pg_conn else ''}): {fill_s:.1f} s")
        for statement in args.extra_index:
            print(f"extra index: {statement}")
        print("\n| query | best of 3 (ms) | result |\n|---|---:|---|")
        for name, call in queries(store, end).items():
            ms, result = await best_of(3, call)
            print(f"| {name} | {ms:,.1f} | {describe(result)} |", flush=True)
    finally:
        await store.close()
        if pg_conn is not None:
            if not args.keep:
                await pg_conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await pg_conn.close()
        if tmp is not None and not args.keep:
            for p in Path(tmp).iterdir():
                p.unlink()
            os.rmdir(tmp)
        if args.keep:
            print(f"\nkept: {where}")


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"nproc {os.cpu_count()}, CPU {cpu}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--conversations", type=int, default=0, help="default: turns / 4")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--extra-index",
        action="append",
        default=[],
        help="SQL run after the fill and before timing (e.g. a CREATE INDEX to try)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database for EXPLAIN")
    args = parser.parse_args()
    print("command: " + shlex.join([sys.executable, *sys.argv]))
    print("machine: " + machine())
    end = float(int(time.time()))
    for backend in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
        asyncio.run(run_backend(backend, args, end))


if __name__ == "__main__":
    main()
