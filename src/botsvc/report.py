"""`botsvc report`: the store's figures for a window, as tables for ops or as JSON."""

from __future__ import annotations

import dataclasses
import re
import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from botsvc.errors import ConfigError
from botsvc.store import Figures
from botsvc.unanswered import Cluster

__all__ = ["cluster_json", "figures_json", "parse_when", "print_clusters", "print_figures"]

_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str, *, now: float | None = None) -> float:
    """`7d`, `24h`, `30m` (that long ago), or an ISO date or time (UTC unless it says)."""
    now = time.time() if now is None else now
    m = _AGO.match(text.strip())
    if m:
        return now - float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"cannot read {text!r} as a time: use 7d, 24h, 30m or an ISO date (2026-12-01)"
        ) from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def figures_json(f: Figures) -> dict[str, Any]:
    return dataclasses.asdict(f)


def cluster_json(c: Cluster) -> dict[str, Any]:
    return {**dataclasses.asdict(c), "suggested_intent": c.suggested_intent}


def print_clusters(clusters: list[Cluster], console: Console | None = None, top: int = 10) -> None:
    out = console or Console()
    if not clusters:
        out.print("No unanswered questions came up more than once.")
        return
    t = Table(title="Unanswered questions, grouped (export: GET /admin/unanswered/ID/export)")
    for col in ("id", "messages", "trend", "top terms", "most central message", "why"):
        t.add_column(col)
    for c in clusters[:top]:
        t.add_row(
            c.id,
            str(c.size),
            f"{c.earlier} -> {c.recent}",
            ", ".join(c.terms),
            c.label,
            ", ".join(f"{k} {n}" for k, n in c.reasons.items()),
        )
    out.print(t)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _dur(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")


def print_figures(f: Figures, console: Console | None = None) -> None:
    out = console or Console()
    scope = f"{_day(f.since)} to {_day(f.until)}" + (f", channel {f.channel}" if f.channel else "")
    head = Table(title=f"Conversations {scope}", show_header=False)
    rows = [
        ("conversations", f"{f.conversations} " + str(f.by_channel or "")),
        ("engaged (the bot read a message)", str(f.engaged)),
        ("containment (no human needed)", _pct(f.containment_rate)),
        ("escalation (handed to a human)", _pct(f.escalation_rate)),
        ("first-contact resolution", f"{_pct(f.fcr_rate)} of {f.fcr_conversations}"),
        ("fallback rate (messages not understood)", f"{_pct(f.fallback_rate)} of {f.bot_turns}"),
        ("time to handoff, median / p90", _pair(f.time_to_handoff)),
        ("time to first agent reply, median / p90", _pair(f.time_to_first_agent_reply)),
        ("resolution time, median / p90", _pair(f.resolution_time)),
        (
            "CSAT (4 or 5 of 5)",
            f"{_pct(f.csat['satisfied_rate'])}, average {f.csat['average'] or '-'}, "
            f"{f.csat['responses']} ratings ({_pct(f.csat['response_rate'])} answered)",
        ),
        (
            "KB answers found helpful",
            f"{_pct(f.helpful['helpful_rate'])} of {f.helpful['responses']} "
            f"({_pct(f.helpful['response_rate'])} of {f.helpful['kb_answers']} answers rated)",
        ),
    ]
    for name, value in rows:
        head.add_row(name, value)
    out.print(head)
    _counts(out, "Handoffs by reason", "reason", f.handoffs_by_reason)
    if f.funnel:
        t = Table(title="Flows")
        for col in ("flow", "started", "completed", "cancelled", "handed off", "dropped at"):
            t.add_column(col)
        for fl in f.funnel:
            dropped = ", ".join(f"{step} {n}" for step, n in list(fl.dropped.items())[:3])
            t.add_row(
                fl.flow_id,
                str(fl.started),
                str(fl.completed),
                str(fl.cancelled),
                str(fl.handed_off),
                dropped or "-",
            )
        out.print(t)
    if f.intents:
        t = Table(title="Intents")
        for col in ("intent", "messages", "average confidence"):
            t.add_column(col)
        for i in f.intents[:15]:
            t.add_row(i["intent"], str(i["turns"]), f"{i['average_confidence']:.2f}")
        out.print(t)


def _pair(d: Any) -> str:
    return f"{_dur(d.median_s)} / {_dur(d.p90_s)} ({d.count})" if d.count else "-"


def _counts(out: Console, title: str, what: str, counts: dict[str, int]) -> None:
    if not counts:
        return
    t = Table(title=title)
    t.add_column(what)
    t.add_column("count")
    for k, n in counts.items():
        t.add_row(k, str(n))
    out.print(t)
