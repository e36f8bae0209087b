"""Checking one conversation-test turn against what the bot did (see convtests.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

__all__ = ["Mismatch", "TurnExpectation", "check_turn"]


@dataclass(frozen=True)
class TurnExpectation:
    user: str
    checks: Mapping[str, Any]  # only the expectations the test wrote (a null is an expectation)
    line: int | None = None


@dataclass(frozen=True)
class Mismatch:
    what: str
    expected: Any
    actual: Any


def check_turn(expect: TurnExpectation, outcome: Mapping[str, Any]) -> list[Mismatch]:
    """Compare one turn's outcome with what the test expects; empty when it passes."""
    out: list[Mismatch] = []
    texts = [str(m.get("text") or "") for m in outcome.get("messages") or ()]
    for key, expected in expect.checks.items():
        actual, ok = _CHECKS[key](expected, outcome, texts)
        if not ok:
            out.append(Mismatch(key, expected, actual))
    return out


def _bot(
    expected: str | list[str], outcome: Mapping[str, Any], texts: list[str]
) -> tuple[Any, bool]:
    wanted = [expected] if isinstance(expected, str) else expected
    said = "\n".join(texts).lower()
    pos = 0
    for piece in wanted:
        found = said.find(piece.lower(), pos)
        if found < 0:
            return texts, False
        pos = found + len(piece)
    return texts, True


def _bot_matches(expected: str, outcome: Mapping[str, Any], texts: list[str]) -> tuple[Any, bool]:
    return texts, re.search(expected, "\n".join(texts), re.IGNORECASE) is not None


def _bot_not(
    expected: str | list[str], outcome: Mapping[str, Any], texts: list[str]
) -> tuple[Any, bool]:
    unwanted = [expected] if isinstance(expected, str) else expected
    said = "\n".join(texts).lower()
    return texts, not any(u.lower() in said for u in unwanted)


def _buttons(expected: list[str], outcome: Mapping[str, Any], texts: list[str]) -> tuple[Any, bool]:
    titles = [b.get("title") for m in outcome.get("messages") or () for b in m.get("buttons") or ()]
    return titles, titles == expected


def _plain(key: str, sub: str | None = None) -> Any:
    def check(expected: Any, outcome: Mapping[str, Any], texts: list[str]) -> tuple[Any, bool]:
        actual = outcome.get(key)
        if sub is not None:
            actual = actual.get(sub) if isinstance(actual, Mapping) else None
        return actual, actual == expected

    return check


def _slots(
    expected: dict[str, Any], outcome: Mapping[str, Any], texts: list[str]
) -> tuple[Any, bool]:
    if "slots" not in outcome:
        return "(the outcome carries no slots)", False
    actual = outcome.get("slots") or {}
    shown = {k: actual.get(k) for k in expected}
    return shown, all(_same(actual.get(k), v) for k, v in expected.items())


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        return bool(actual == expected) and isinstance(actual, bool) == isinstance(expected, bool)
    return bool(actual == expected)


def _handoff(expected: Any, outcome: Mapping[str, Any], texts: list[str]) -> tuple[Any, bool]:
    actual = outcome.get("handoff")
    if expected is None or expected is False:
        return actual, actual is None
    if actual is None:
        return None, False
    if expected is True:
        return actual, True
    want = (
        {"reason": expected}
        if isinstance(expected, str)
        else (
            expected.model_dump(exclude_none=True) if isinstance(expected, BaseModel) else expected
        )
    )
    shown = {k: actual.get(k) for k in want}
    return shown, shown == want


def _sources(expected: list[str], outcome: Mapping[str, Any], texts: list[str]) -> tuple[Any, bool]:
    titles = [str(s.get("title") or "") for s in outcome.get("sources") or ()]
    return titles, all(any(e.lower() in t.lower() for t in titles) for e in expected)


Check = Callable[[Any, Mapping[str, Any], list[str]], tuple[Any, bool]]

_CHECKS: dict[str, Check] = {
    "bot": _bot,
    "bot_matches": _bot_matches,
    "bot_not": _bot_not,
    "buttons": _buttons,
    "handled_by": _plain("handled_by"),
    "intent": _plain("intent", "name"),
    "flow": _plain("flow", "id"),
    "step": _plain("flow", "step"),
    "slots": _slots,
    "handoff": _handoff,
    "sources": _sources,
}
