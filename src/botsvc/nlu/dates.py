"""Dates and times said in a message, as ISO-8601 strings relative to a given ``now``.

``find_dates`` returns ``(start, end, value)``: ``"2025-05-16"`` when only a day is said,
``"2025-05-16T19:00:00"`` when a time of day is said too (with the offset of ``now`` when ``now``
is timezone-aware). Ambiguous dates resolve to the future ("3 March" said in May is next March).

How: the English regexes below find the spans (weekday and month names, today/tomorrow/tonight,
"next ...", "in N days", "N weeks ago", ordinal days, clock times); each date part is resolved by
dateparser, clock times and parts of the day here. dateparser's own ``search_dates`` was measured
and not used: about 1 ms for a message without any date (bench/bench_entities.py), and it reads
"$45" as 2045, "may I" as May, "2 at 8" as 8 February, "the 12th" as 14 December and drops the
hour of "next Friday at 7". Finding spans first costs a few microseconds per message, and
dateparser (slow to import, ~0.1 s, and ~0.1 s more on its first parse) is loaded only when a
message has a date.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from botsvc.nlu.numberwords import SMALL_NUMBER_WORDS

Found = tuple[int, int, str]

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_ABBREVIATIONS = {
    "mon": "monday",
    "tue": "tuesday",
    "tues": "tuesday",
    "wed": "wednesday",
    "thu": "thursday",
    "thur": "thursday",
    "thurs": "thursday",
    "fri": "friday",
    "sat": "saturday",
    "sun": "sunday",
}
_MONTH = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])"
_ORD = r"(?:st|nd|rd|th)"
_YEAR = r"(?:,?\s+(?:19|20)\d\d)"
_TWO_DIGIT_YEAR = re.compile(r"[/.\-]\d\d$")
_QUANTITY = r"(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\d{1,3})"
_UNIT = r"(?P<unit>minute|min|hour|hr|day|week|month|year)s?"
_AP = r"(?P<ap>[ap]\.m\.|[ap]m(?!\w))"
_HOUR_WORDS = {w: i for i, w in enumerate(SMALL_NUMBER_WORDS) if 1 <= i <= 12}
# The gate: a message without one of these words or digit shapes has no date, and costs a
# tokenisation and a set lookup (a regex alternation of the same words costs ten times more).
_DATE_WORDS = """
    today tonight tonite tomorrow tomorow tmr tmrw yesterday noon midnight midday morning
    afternoon evening night ago o'clock oclock minute minutes min mins hour hours hr hrs day days
    week weeks month months year years
"""
_HINT_WORDS = frozenset(
    [*_WEEKDAYS, *_WEEKDAY_ABBREVIATIONS, *re.findall(r"[a-z]+", _MONTH), *_DATE_WORDS.split()]
)
_HINT_TOKENS = re.compile(r"[a-z']+")
_HINT_DIGITS = re.compile(r"\d[:/.\-]\d|\d\s*(?:[ap]\.?m\b|st\b|nd\b|rd\b|th\b)", re.IGNORECASE)
# What may follow "the 12th" for it to be a day: not "the 2nd option" nor "the 3rd time".
_DAY_TAIL = (
    r"(?=\s*(?:$|[^\w\s]|(?:at|on|in|and|or|please|then|morning|afternoon|evening|night)\b))"
)
_PREP = r"(?:(?P<prep>on|by|until|till|before|after|from|since)\s+)?"
_DAY_OFFSETS = {
    "today": 0,
    "tomorrow": 1,
    "yesterday": -1,
    "day after tomorrow": 2,
    "the day after tomorrow": 2,
    "day before yesterday": -2,
    "the day before yesterday": -2,
}
_ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d")
_PART_HOURS = {"morning": 9, "afternoon": 15, "evening": 18, "night": 20}


@dataclass(frozen=True)
class _Atom:
    """One piece of a date expression: kind is date, weekday, day, rel, clock, bare or part."""

    kind: str
    start: int
    end: int
    match: re.Match[str]


_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        ("date", r"(?<![\w-])(?:19|20)\d\d-[01]\d-[0-3]\d(?![\w-])"),
        ("date", r"(?<![\w/.\-])\d{1,2}/\d{1,2}/(?:\d{4}|\d\d)(?![\w/.\-])"),
        ("date", r"(?<![\w/.\-])\d{1,2}\.\d{1,2}\.(?:19|20)\d\d(?![\w/.\-])"),
        ("date", rf"\b(?:the\s+)?(?P<day>{_DAY}){_ORD}?\s+(?:of\s+)?{_MONTH}{_YEAR}?(?!\w)"),
        ("date", rf"\b{_MONTH}\s+(?:the\s+)?(?P<day>{_DAY}){_ORD}?{_YEAR}?(?![\w:])"),
        ("day", rf"\b{_PREP}(?P<span>(?P<the>the\s+)?(?P<day>{_DAY}){_ORD})\b{_DAY_TAIL}"),
        (
            "weekday",
            rf"\b{_PREP}(?P<span>(?:(?P<mod>next|this\s+coming|this|last|coming)\s+)?"
            rf"(?:{'|'.join(_WEEKDAYS)}|(?P<abbr>{'|'.join(_WEEKDAY_ABBREVIATIONS)})))(?!\w)",
        ),
        (
            "date",
            r"\b(?:(?:the\s+)?day\s+after\s+tomorrow|(?:the\s+)?day\s+before\s+yesterday"
            r"|today|tomorrow|tomorow|tmrw?|yesterday|(?:next|last)\s+(?:week|month|year))\b",
        ),
        ("rel", rf"\bin\s+{_QUANTITY}\s+{_UNIT}\b"),
        ("rel", rf"\b{_QUANTITY}\s+{_UNIT}\s+(?:ago|from\s+now)\b"),
        ("tonight", r"\bton(?:ight|ite)\b"),
        ("clock", rf"(?<![\w:.])(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?![\d:])(?:\s*{_AP})?"),
        ("clock", rf"(?<![\w:.])(?P<h>1[0-2]|0?[1-9])\s*{_AP}"),
        ("clock", rf"\b(?P<h>1[0-2]|0?[1-9]|{'|'.join(_HOUR_WORDS)})\s+o'?clock\b"),
        ("clock", r"\b(?P<noon>noon|midday|midnight)\b"),
        ("bare", r"(?:\b(?:at|around)\s+|@\s*)(?P<span>(?P<h>[01]?\d|2[0-3]))(?![\w:.,%$€£/-])"),
        (
            "part",
            r"\b(?P<this>this\s+)?(?:in\s+the\s+)?(?P<part>morning|afternoon|evening|night)\b",
        ),
    )
)
# Between two pieces of one expression: "Friday, 3 March", "tomorrow at 7", "7pm on Friday".
_GLUE = re.compile(r"\s*,?\s*(?:(?:at|on|@|around)\s*)?", re.IGNORECASE)


def find_dates(
    text: str,
    now: datetime,
    *,
    languages: tuple[str, ...] = ("en",),
    date_order: str | None = None,
) -> list[Found]:
    """Every date or time expression in ``text``, resolved relative to ``now``."""
    if not _might_have_a_date(text):
        return []
    found: list[Found] = []
    for group in _groups(_atoms(text), text):
        value = _resolve(group, now, languages, date_order)
        if value is not None:
            found.append((group[0].start, group[-1].end, value))
    return found


def _might_have_a_date(text: str) -> bool:
    if _HINT_DIGITS.search(text):
        return True
    return not _HINT_WORDS.isdisjoint(_HINT_TOKENS.findall(text.lower()))


def warm_up() -> None:
    """Imports dateparser and loads its English data, so the first customer does not wait."""
    find_dates("next Friday", datetime.now())


def _atoms(text: str) -> list[_Atom]:
    """The pieces found, the longest first where two overlap, in text order."""
    atoms: list[_Atom] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if _acceptable(kind, m):
                span = "span" if "span" in pattern.groupindex else 0
                atoms.append(_Atom(kind, m.start(span), m.end(span), m))
    kept: list[_Atom] = []
    for atom in sorted(atoms, key=lambda a: (a.start - a.end, a.start)):
        if all(atom.end <= k.start or atom.start >= k.end for k in kept):
            kept.append(atom)
    return sorted(kept, key=lambda a: a.start)


def _acceptable(kind: str, m: re.Match[str]) -> bool:
    """Checks a regex cannot say cheaply: "sat" is a weekday only after "on"/"next"/..."""
    groups = m.groupdict()
    if kind == "weekday" and groups.get("abbr"):
        return bool(groups.get("prep") or groups.get("mod"))
    if kind == "day":
        return bool(groups.get("prep") or groups.get("the"))
    if kind == "date" and re.search(r"\bmay\b", m.group(0)):
        # "may" is far more often the verb ("10 may be too many"): in lower case it is a month
        # only before its day ("may 3rd"); "3 May" needs the capital.
        return bool(re.match(r"may\s+(?:the\s+)?\d", m.group(0)))
    return True


def _groups(atoms: list[_Atom], text: str) -> Iterator[list[_Atom]]:
    """Neighbouring pieces that make one expression: at most one date, one clock, one part."""
    group: list[_Atom] = []
    for atom in atoms:
        if group and _joins(group, atom, text):
            group.append(atom)
            continue
        if group:
            yield group
        group = [atom]
    if group:
        yield group


def _joins(group: list[_Atom], atom: _Atom, text: str) -> bool:
    if not _GLUE.fullmatch(text, group[-1].end, atom.start):
        return False
    slots = [_slots(a) for a in group]
    taken = set().union(*slots)
    new = _slots(atom)
    if "date" in new and "date" in taken:
        # "Friday, 3 March" and "Friday the 12th": a weekday may precede the date it names.
        return group[-1].kind == "weekday" and len(group) == 1 and atom.kind in ("date", "day")
    return not (new & taken)


def _slots(atom: _Atom) -> set[str]:
    if atom.kind in ("date", "weekday", "day"):
        return {"date"}
    if atom.kind == "rel":
        return {"date", "clock", "part"}  # "in 2 hours" is complete; so is "in 3 days"
    if atom.kind == "tonight":
        return {"date", "part"}
    if atom.kind in ("clock", "bare"):
        return {"clock"}
    return {"part"}


def _resolve(
    group: list[_Atom], now: datetime, languages: tuple[str, ...], date_order: str | None
) -> str | None:
    if {a.kind for a in group} <= {"bare", "part"} and not _says_this(group):
        return None  # "at 5" or "morning" alone: a count or a word, not a time
    base = now.replace(tzinfo=None, second=0, microsecond=0)
    if group[0].kind == "rel":  # always alone: "in 2 hours" and "in 3 days" are complete
        return _relative(group[0], base, now, languages, date_order)
    day: date | None = None
    dated = [a for a in group if a.kind in ("date", "weekday", "day", "tonight")]
    if dated:
        # the last one: in "Friday, 3 March" the weekday only repeats what the date says
        day = _day(dated[-1], base, languages, date_order)
        if day is None:
            return None
    part = _part(group)
    clock = _clock(group, part)
    if clock is None and part is not None:
        clock = time(_PART_HOURS[part])
        day = day or base.date()
    if clock is None:
        return day.isoformat() if day is not None else None
    if day is None:
        # A time alone is the next one: "at 19:30" said at 21:00 is tomorrow's.
        day = base.date()
        if datetime.combine(day, clock) <= base:
            day += timedelta(days=1)
    return _iso(datetime.combine(day, clock), now)


def _relative(
    atom: _Atom, base: datetime, now: datetime, languages: tuple[str, ...], date_order: str | None
) -> str | None:
    moment = _dateparser(_normalise(atom.match.group(0)), base, languages, date_order)
    if moment is None:
        return None
    if atom.match.group("unit").lower() in ("minute", "min", "hour", "hr"):
        return _iso(moment.replace(second=0, microsecond=0), now)
    return moment.date().isoformat()


def _day(
    atom: _Atom, base: datetime, languages: tuple[str, ...], date_order: str | None
) -> date | None:
    if atom.kind == "day":
        return _next_day_of_month(int(atom.match.group("day")), base.date())
    if atom.kind == "tonight":
        return base.date()
    return _simple_day(_normalise(_text(atom)), base, languages, date_order)


def _says_this(group: list[_Atom]) -> bool:
    return any(a.kind == "part" and a.match.group("this") for a in group)


def _text(atom: _Atom) -> str:
    return atom.match.group("span") if "span" in atom.match.re.groupindex else atom.match.group(0)


def _normalise(phrase: str) -> str:
    """What dateparser reads best: full weekday names, "next" for "coming", one space."""
    words = re.sub(r"(?<=[a-z])\.|\s+", " ", phrase.lower()).split()
    words = [_WEEKDAY_ABBREVIATIONS.get(w, w) for w in words]
    spoken = " ".join(words).replace("this coming", "next").replace("coming", "next")
    return re.sub(r"\b(?:tmrw?|tomorow)\b", "tomorrow", spoken)


def _simple_day(
    phrase: str, base: datetime, languages: tuple[str, ...], date_order: str | None
) -> date | None:
    """The commonest phrases by arithmetic (dateparser costs ~0.8 ms a phrase), others by it."""
    if phrase in _DAY_OFFSETS:
        return base.date() + timedelta(days=_DAY_OFFSETS[phrase])
    if _ISO_DATE.fullmatch(phrase):
        try:
            return date.fromisoformat(phrase)
        except ValueError:
            return None
    moment = _dateparser(phrase, base, languages, date_order)
    if moment is not None and _TWO_DIGIT_YEAR.search(phrase) and moment.year > base.year + 50:
        moment = moment.replace(year=moment.year - 100)  # "01/10/20" is 2020, not 2120
    if moment is None or not 1900 <= moment.year <= base.year + 100:
        return None
    return moment.date()


def _next_day_of_month(day: int, today: date) -> date | None:
    """The 12th said on the 14th is next month's 12th (months without the day are skipped)."""
    year, month = today.year, today.month
    for _ in range(13):
        try:
            candidate = date(year, month, day)
        except ValueError:
            candidate = None
        if candidate is not None and candidate >= today:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _part(group: list[_Atom]) -> str | None:
    for atom in group:
        if atom.kind == "part":
            return atom.match.group("part").lower()
        if atom.kind == "tonight":
            return "night"
    return None


def _clock(group: list[_Atom], part: str | None) -> time | None:
    for atom in group:
        if atom.kind not in ("clock", "bare"):
            continue
        groups = atom.match.groupdict()
        if groups.get("noon"):
            return time(0) if groups["noon"].lower() == "midnight" else time(12)
        raw = groups["h"].lower()
        hour = _HOUR_WORDS.get(raw) or int(raw)
        minute = int(groups.get("m") or 0)
        return time(_hour(hour, groups.get("ap"), part, raw.startswith("0")), minute)
    return None


def _hour(hour: int, ap: str | None, part: str | None, padded: bool) -> int:
    """The 24-hour clock hour; without am/pm, 1 to 6 is read as afternoon (business hours)."""
    if ap:
        return hour % 12 + (12 if ap.lower().startswith("p") else 0)
    if part in ("afternoon", "evening", "night") and hour < 12:
        return hour + 12
    if 1 <= hour <= 6 and not padded and part != "morning":
        return hour + 12
    return hour


def _iso(moment: datetime, now: datetime) -> str:
    if now.tzinfo is not None:
        moment = moment.replace(tzinfo=now.tzinfo)
    return moment.isoformat(timespec="seconds")


def _dateparser(
    phrase: str, base: datetime, languages: tuple[str, ...], date_order: str | None
) -> datetime | None:
    # Imported here: dateparser takes ~0.1 s to import, and most messages have no date.
    import dateparser

    settings: dict[str, Any] = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": base,
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    if date_order is not None:
        settings["DATE_ORDER"] = date_order
    return dateparser.parse(phrase, languages=list(languages), settings=settings)
