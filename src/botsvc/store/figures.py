"""The figures ops run a bot by, computed in SQL that SQLite and PostgreSQL both run.

Two kinds of count, as Zendesk and Intercom report them:
- conversation figures take the conversations *started* in the window (the cohort), with
  everything that happened in them since: containment, escalation, handoff times, CSAT, FCR;
- message figures take the turns *written* in the window: fallback rate, intents, helpfulness,
  the flows' funnel.
Definitions are in the README ("Figures"). Each query reads an index on `created_at` (or the
conversation), so a window costs what it holds, not what the store holds.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, and_, case, cast, distinct, exists, func, literal, or_, select
from sqlalchemy.engine import Connection

from botsvc.store.schema import conversations, feedback, flow_events, handoffs, ratings, turns

__all__ = ["Figures", "FigureWindow", "compute_figures"]

DAY_S = 86400
ANONYMOUS = "anonymous:"  # customer ids the service made up: nobody to recognise next time


@dataclass(frozen=True, kw_only=True)
class FigureWindow:
    since: float
    until: float
    channel: str | None = None
    fcr_window_s: float = 7 * DAY_S  # a new conversation on the same topic within this: not FCR


@dataclass(frozen=True, kw_only=True)
class Durations:
    """Seconds: how many, median, 90th percentile."""

    count: int
    median_s: float | None
    p90_s: float | None

    @classmethod
    def of(cls, values: list[float]) -> Durations:
        if not values:
            return cls(count=0, median_s=None, p90_s=None)
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        return cls(count=len(values), median_s=round(statistics.median(ordered), 1), p90_s=p90)


@dataclass(frozen=True, kw_only=True)
class FlowFunnel:
    flow_id: str
    started: int
    completed: int
    cancelled: int
    handed_off: int
    dropped: dict[str, int]  # step -> conversations that stopped there (none of the above)


@dataclass(frozen=True, kw_only=True)
class Figures:
    since: float
    until: float
    channel: str | None
    conversations: int
    by_channel: dict[str, int]
    engaged: int  # conversations with at least one message the bot read
    containment_rate: float | None  # engaged and never handed to a human
    escalation_rate: float | None  # engaged and handed to a human
    handoffs_by_reason: dict[str, int]
    handoffs_by_priority: dict[str, int]
    time_to_handoff: Durations
    time_to_first_agent_reply: Durations
    resolution_time: Durations
    fcr_rate: float | None
    fcr_conversations: int  # known customers' conversations with a topic, the FCR denominator
    csat: dict[str, Any]
    bot_turns: int
    fallback_rate: float | None
    helpful: dict[str, Any]
    intents: list[dict[str, Any]]
    funnel: list[FlowFunnel]
    daily: list[dict[str, Any]] = field(default_factory=list)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def compute_figures(conn: Connection, w: FigureWindow) -> Figures:
    c = conversations
    cohort = and_(c.c.created_at >= w.since, c.c.created_at < w.until)
    if w.channel is not None:
        cohort = and_(cohort, c.c.channel == w.channel)
    read = and_(turns.c.conversation_id == c.c.id, turns.c.intent.is_not(None))
    handed = exists().where(handoffs.c.conversation_id == c.c.id)

    by_channel = {
        str(ch): int(n)
        for ch, n in conn.execute(
            select(c.c.channel, func.count()).where(cohort).group_by(c.c.channel)
        )
    }
    # `engaged` is kept on the conversation by its turns; older rows are asked of their turns
    engaged_now = or_(c.c.engaged.is_(True), and_(c.c.engaged.is_(None), exists().where(read)))
    engaged, escalated = conn.execute(
        select(func.count(), func.coalesce(func.sum(case((handed, 1), else_=0)), 0)).where(
            cohort, engaged_now
        )
    ).one()
    h = conn.execute(
        select(
            handoffs.c.reason,
            handoffs.c.priority,
            handoffs.c.created_at,
            handoffs.c.agent_replied_at,
            handoffs.c.resolved_at,
            c.c.created_at,
        )
        .join(c, c.c.id == handoffs.c.conversation_id)
        .where(cohort)
    ).all()
    reasons: dict[str, int] = defaultdict(int)
    priorities: dict[str, int] = defaultdict(int)
    for reason, priority, *_ in h:
        reasons[reason] += 1
        priorities[priority] += 1
    rated, avg_score, satisfied = conn.execute(
        select(
            func.count(distinct(ratings.c.conversation_id)),
            func.avg(ratings.c.score),
            func.coalesce(func.sum(case((ratings.c.score >= 4, 1), else_=0)), 0),
        )
        .join(c, c.c.id == ratings.c.conversation_id)
        .where(cohort)
    ).one()
    responses = conn.execute(
        select(func.count())
        .select_from(ratings.join(c, c.c.id == ratings.c.conversation_id))
        .where(cohort)
    ).scalar_one()
    conversations_n = sum(by_channel.values())
    fcr, fcr_n = _first_contact_resolution(conn, w, cohort)
    bot_turns, fallbacks = _turn_counts(conn, w)
    return Figures(
        since=w.since,
        until=w.until,
        channel=w.channel,
        conversations=conversations_n,
        by_channel=by_channel,
        engaged=int(engaged),
        containment_rate=_rate(int(engaged) - int(escalated), int(engaged)),
        escalation_rate=_rate(int(escalated), int(engaged)),
        handoffs_by_reason=dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        handoffs_by_priority=dict(priorities),
        time_to_handoff=Durations.of([r[2] - r[5] for r in h]),
        time_to_first_agent_reply=Durations.of([r[3] - r[2] for r in h if r[3] is not None]),
        resolution_time=Durations.of([r[4] - r[2] for r in h if r[4] is not None]),
        fcr_rate=_rate(fcr, fcr_n),
        fcr_conversations=fcr_n,
        csat={
            "responses": int(responses),
            "average": round(float(avg_score), 2) if avg_score is not None else None,
            "satisfied_rate": _rate(int(satisfied), int(responses)),  # 4 or 5 of 5
            "response_rate": _rate(int(rated), conversations_n),
        },
        bot_turns=bot_turns,
        fallback_rate=_rate(fallbacks, bot_turns),
        helpful=_helpful(conn, w),
        intents=_intents(conn, w),
        funnel=_funnel(conn, w),
        daily=_daily(conn, w, cohort),
    )


def _in_window(column: Any, w: FigureWindow) -> Any:
    return and_(column >= w.since, column < w.until)


def _turns_where(w: FigureWindow) -> Any:
    """Turns written in the window (of the channel's conversations, when one is asked)."""
    where = _in_window(turns.c.created_at, w)
    if w.channel is not None:
        where = and_(
            where,
            exists().where(
                conversations.c.id == turns.c.conversation_id, conversations.c.channel == w.channel
            ),
        )
    return where


def _turn_counts(conn: Connection, w: FigureWindow) -> tuple[int, int]:
    total, fallbacks = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((turns.c.handled_by == "fallback", 1), else_=0)), 0),
        ).where(_turns_where(w), turns.c.intent.is_not(None))
    ).one()
    return int(total), int(fallbacks)


def _intents(conn: Connection, w: FigureWindow) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(turns.c.intent, func.count(), func.avg(turns.c.confidence))
        .where(_turns_where(w), turns.c.intent.is_not(None))
        .group_by(turns.c.intent)
        .order_by(func.count().desc())
    ).all()
    return [
        {"intent": i, "turns": int(n), "average_confidence": round(float(a or 0.0), 3)}
        for i, n, a in rows
    ]


def _helpful(conn: Connection, w: FigureWindow) -> dict[str, Any]:
    kb = and_(_turns_where(w), turns.c.handled_by == "kb")
    answers = conn.execute(select(func.count()).where(kb)).scalar_one()
    said, helpful = conn.execute(
        select(func.count(), func.coalesce(func.sum(case((feedback.c.helpful, 1), else_=0)), 0))
        .select_from(feedback.join(turns, turns.c.id == feedback.c.turn_id))
        .where(kb)
    ).one()
    return {
        "kb_answers": int(answers),
        "responses": int(said),
        "helpful_rate": _rate(int(helpful), int(said)),
        "response_rate": _rate(int(said), int(answers)),
    }


def _first_contact_resolution(conn: Connection, w: FigureWindow, cohort: Any) -> tuple[int, int]:
    """A known customer's conversation is resolved at first contact unless the same customer
    starts another on the same topic within `fcr_window_s`. Its topic: the first flow started
    in it, else the intent of its first message the bot read."""
    c = conversations
    first_flow = (
        select(flow_events.c.flow_id)
        .where(flow_events.c.conversation_id == c.c.id, flow_events.c.event == "started")
        .order_by(flow_events.c.seq)
        .limit(1)
        .scalar_subquery()
    )
    first_intent = (
        select(turns.c.intent)
        .where(turns.c.conversation_id == c.c.id, turns.c.intent.is_not(None))
        .order_by(turns.c.created_at)
        .limit(1)
        .scalar_subquery()
    )
    known = ~c.c.customer_id.startswith(ANONYMOUS)
    later = and_(c.c.created_at >= w.since, c.c.created_at < w.until + w.fcr_window_s)
    if w.channel is not None:
        later = and_(later, c.c.channel == w.channel)
    rows = conn.execute(
        select(
            c.c.id,
            c.c.customer_id,
            c.c.created_at,
            # kept on the conversation by its turns; older rows are asked of their turns
            func.coalesce(c.c.topic, first_flow, literal("intent:") + first_intent),
            cohort,
        ).where(later, known)
    ).all()
    by_topic: dict[tuple[str, str], list[float]] = defaultdict(list)
    for _, customer, at, topic, _ in rows:
        if topic is not None:
            by_topic[(customer, topic)].append(at)
    resolved = total = 0
    for _, customer, at, topic, in_cohort in rows:
        if topic is None or not in_cohort:
            continue
        total += 1
        again = any(at < other <= at + w.fcr_window_s for other in by_topic[(customer, topic)])
        resolved += not again
    return resolved, total


def _funnel(conn: Connection, w: FigureWindow) -> list[FlowFunnel]:
    fe = flow_events
    where = _in_window(fe.c.created_at, w)
    if w.channel is not None:
        where = and_(
            where,
            exists().where(
                conversations.c.id == fe.c.conversation_id, conversations.c.channel == w.channel
            ),
        )
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for flow_id, event, n in conn.execute(
        select(fe.c.flow_id, fe.c.event, func.count())
        .where(where)
        .group_by(fe.c.flow_id, fe.c.event)
    ):
        counts[flow_id][event] = int(n)
    # started in the window and not completed, cancelled or handed off since: the step of the
    # conversation's last turn in that flow is where the customer stopped
    after = fe.alias("after")
    open_runs = (
        select(fe.c.conversation_id, fe.c.flow_id)
        .where(
            where,
            fe.c.event == "started",
            ~exists().where(
                after.c.conversation_id == fe.c.conversation_id,
                after.c.flow_id == fe.c.flow_id,
                after.c.seq > fe.c.seq,
                after.c.event != "started",
            ),
        )
        .distinct()
        .subquery()
    )
    last: dict[tuple[str, str], tuple[float, str | None]] = {}
    for conv, flow_id, step, at in conn.execute(
        select(turns.c.conversation_id, turns.c.flow_id, turns.c.step_id, turns.c.created_at).join(
            open_runs,
            and_(
                turns.c.conversation_id == open_runs.c.conversation_id,
                turns.c.flow_id == open_runs.c.flow_id,
            ),
        )
    ):
        if (conv, flow_id) not in last or at >= last[(conv, flow_id)][0]:
            last[(conv, flow_id)] = (at, step)
    dropped: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (_, flow_id), (_, step) in last.items():
        dropped[flow_id][step or "?"] += 1
    return [
        FlowFunnel(
            flow_id=flow_id,
            started=e["started"],
            completed=e["completed"],
            cancelled=e["cancelled"],
            handed_off=e["handed_off"],
            dropped=dict(sorted(dropped[flow_id].items(), key=lambda kv: -kv[1])),
        )
        for flow_id, e in sorted(counts.items(), key=lambda kv: -kv[1]["started"])
    ]


def _day(column: Any, conn: Connection) -> Any:
    """The UTC day number of a time: SQLite's CAST truncates, PostgreSQL's rounds (so floor)."""
    if conn.dialect.name == "sqlite":
        return cast(column / DAY_S, Integer)
    return cast(func.floor(column / DAY_S), Integer)


def _daily(conn: Connection, w: FigureWindow, cohort: Any) -> list[dict[str, Any]]:
    """Per UTC day: conversations started, turns the bot read, fallbacks, handoffs created."""
    days: dict[int, dict[str, int]] = defaultdict(
        lambda: {"conversations": 0, "turns": 0, "fallbacks": 0, "handoffs": 0}
    )
    c = conversations
    day = _day(c.c.created_at, conn)
    for d, n in conn.execute(select(day, func.count()).where(cohort).group_by(day)):
        days[int(d)]["conversations"] = int(n)
    tday = _day(turns.c.created_at, conn)
    for d, n, f in conn.execute(
        select(
            tday,
            func.count(),
            func.coalesce(func.sum(case((turns.c.handled_by == "fallback", 1), else_=0)), 0),
        )
        .where(_turns_where(w), turns.c.intent.is_not(None))
        .group_by(tday)
    ):
        days[int(d)].update(turns=int(n), fallbacks=int(f))
    hday = _day(handoffs.c.created_at, conn)
    hwhere = _in_window(handoffs.c.created_at, w)
    if w.channel is not None:
        hwhere = and_(
            hwhere,
            exists().where(c.c.id == handoffs.c.conversation_id, c.c.channel == w.channel),
        )
    for d, n in conn.execute(select(hday, func.count()).where(hwhere).group_by(hday)):
        days[int(d)]["handoffs"] = int(n)
    return [{"day": d * DAY_S, **v} for d, v in sorted(days.items())]
