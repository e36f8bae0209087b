"""Built-in entities every bot gets without training data (what Rasa Pro would ask its LLM for).

Values:

- ``email``: the address as written;
- ``amount_of_money``: ``{"amount": 20.0, "currency": "USD"}`` for "$20", "20 euros", "413$",
  "fifty dollars", "200 quid", "$1.5k"; currency ``None`` when the words say money without naming
  one ("40 bucks": dollars of the US, Canada, Australia...; "50 cents");
- ``number``: an ``int`` or ``float`` from digits ("1,500", "2.5", "1.5k", "3 million") or words
  ("forty two", "two hundred and fifty", "a dozen"). Ordinals are not numbers ("the third one",
  "the 2nd option"), nor are digits inside codes (``NW-123456``), dates, times or phone numbers;
- ``time``: an ISO-8601 date or date-time (dates.py); ``phone_number``: E.164 (phones.py);
  ``person``: a name after "to", "for" or "from", as written (names.py).

Every candidate is returned; the caller (``entities.resolve_overlaps``) lets an amount, a date or
a phone number win over the numbers inside it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botsvc.domain import Entity
from botsvc.nlu.dates import find_dates
from botsvc.nlu.names import find_person_names
from botsvc.nlu.numberwords import SMALL_NUMBER_WORDS
from botsvc.nlu.phones import find_phone_numbers

EXTRACTOR = "builtin"


@dataclass(frozen=True)
class BuiltinSettings:
    """What a bot may tune; the defaults suit an English-speaking shop in the US."""

    phone_region: str | None = "US"  # numbers without "+country"; None: only "+" numbers count
    date_languages: tuple[str, ...] = ("en",)  # what dateparser may read the date words as
    date_order: str | None = None  # "DMY" reads 03/04/2025 as 3 April; None: MDY in English


DEFAULT_SETTINGS = BuiltinSettings()

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SCALES = {"k": 1000, "thousand": 1000, "million": 10**6, "billion": 10**9}
_QTY = rf"(?:{_NUM})(?:k(?!\w)|\s+(?:thousand|million|billion)\b)?"
_QTY_PARTS = re.compile(rf"({_NUM})\s*(k|thousand|million|billion)?", re.IGNORECASE)
_SYMBOLS = {
    "$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "us$": "USD",
    "a$": "AUD",
    "c$": "CAD",
    "chf": "CHF",
}
_CURRENCY_WORDS: dict[str, str | None] = {
    "dollar": "USD",
    "dollars": "USD",
    "usd": "USD",
    "euro": "EUR",
    "euros": "EUR",
    "eur": "EUR",
    "pound": "GBP",
    "pounds": "GBP",
    "gbp": "GBP",
    "quid": "GBP",
    "yen": "JPY",
    "jpy": "JPY",
    "rupee": "INR",
    "rupees": "INR",
    "inr": "INR",
    "rs": "INR",
    "aud": "AUD",
    "cad": "CAD",
    "chf": "CHF",
    "bucks": None,
    "cents": None,
}
_SYM = "|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True))
_WORD = "|".join(sorted(_CURRENCY_WORDS, key=len, reverse=True))
_AMOUNT = re.compile(
    rf"(?P<pre>{_SYM}|\b(?:{_WORD})\b\.?)\s?(?P<n1>{_QTY})(?![\w-])"
    rf"|(?<![\w.\-/])(?P<n2>{_QTY})\s?(?P<post>{_SYM}|(?:{_WORD})\b)",
    re.IGNORECASE,
)
_CURRENCY_AFTER = re.compile(rf"\s+(?P<unit>{_WORD})\b", re.IGNORECASE)
_NUMBER = re.compile(rf"(?<![\w.\-/])(?:-(?=\d))?(?:{_QTY})(?![\w\-/]|\.\d)", re.IGNORECASE)

_UNITS = {w: i for i, w in enumerate(SMALL_NUMBER_WORDS)}
_TENS = {
    w: 10 * (i + 2)
    for i, w in enumerate(
        ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
    )
}
_MULTIPLIERS = {"hundred": 100, "dozen": 12, "thousand": 1000, "million": 10**6, "billion": 10**9}
_ALL_WORDS = "|".join(sorted([*_UNITS, *_TENS, *_MULTIPLIERS], key=len, reverse=True))
_NUMBER_WORD_SET = frozenset([*_UNITS, *_TENS, *_MULTIPLIERS])
_TOKENS = re.compile(r"[a-z]+")
# A run of number words; "a"/"an" only before a multiplier ("a dozen", "a hundred").
_WORD_RUN = re.compile(
    rf"\b(?:an?\s+(?=(?:dozen|hundred|thousand|million|billion)\b))?(?:{_ALL_WORDS})"
    rf"(?:(?:\s+and\s+|\s+|-)(?:{_ALL_WORDS}))*\b(?!-\w)",
    re.IGNORECASE,
)
# Inside one number, the kinds of word each kind may follow: "twenty one", not "one twenty".
_FOLLOWS = {
    "unit": {"tens", "hundred", "big"},
    "teen": {"hundred", "big"},
    "tens": {"hundred", "big"},
    "hundred": {"a", "unit", "teen", "tens"},
    "big": {"a", "unit", "teen", "tens", "hundred"},
    "dozen": {"a", "unit", "teen", "tens"},
}
# "one" is a pronoun after these ("the third one", "which one", "the red one", "no one").
_PRONOUN_ONE = re.compile(
    r"\b(?:the|this|that|which|each|every|any|another|no|other|my|your|his|her|our|their|a|an"
    r"|same|first|second|third|fourth|fifth|last|next|new|old)\s+(?:[a-z]+\s+)?$",
    re.IGNORECASE,
)
# "twenty first" is an ordinal, so "twenty" before it is no quantity.
_ORDINAL_AFTER = re.compile(
    r"[\s-]+(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)\b", re.IGNORECASE
)

Token = tuple[str, int, int]


def extract_builtins(
    text: str, *, now: datetime | None = None, settings: BuiltinSettings = DEFAULT_SETTINGS
) -> list[Entity]:
    """Every built-in entity in ``text`` (overlaps are resolved by the caller).

    ``now`` is what "tomorrow" is relative to (default: the current local time, with its offset).
    """
    found = [_entity("email", m.group(0), m.start(), m.end()) for m in _EMAIL.finditer(text)]
    found += _amounts(text)
    found += _numbers(text)
    moment = now if now is not None else datetime.now().astimezone()
    dates = find_dates(
        text, moment, languages=settings.date_languages, date_order=settings.date_order
    )
    found += [_entity("time", value, start, end) for start, end, value in dates]
    phones = find_phone_numbers(text, settings.phone_region)
    found += [_entity("phone_number", value, start, end) for start, end, value in phones]
    found += [_entity("person", name, start, end) for start, end, name in find_person_names(text)]
    return found


def _amounts(text: str) -> list[Entity]:
    found: list[Entity] = []
    for m in _AMOUNT.finditer(text):
        number = _to_number(m.group("n1") or m.group("n2"))
        unit = m.group("pre") or m.group("post") or ""
        found.append(_entity("amount_of_money", _money(number, unit), m.start(), m.end()))
    return found


def _numbers(text: str) -> list[Entity]:
    found = [
        _entity("number", _to_number(m.group(0)), m.start(), m.end())
        for m in _NUMBER.finditer(text)
    ]
    for start, end, value in _word_numbers(text):
        found.append(_entity("number", value, start, end))
        currency = _CURRENCY_AFTER.match(text, end)
        if currency is not None:  # "fifty dollars": the number words, then the currency
            money = _money(value, currency.group("unit"))
            found.append(_entity("amount_of_money", money, start, currency.end()))
    return found


def _money(number: int | float, unit: str) -> dict[str, Any]:
    unit = unit.lower().rstrip(".")
    currency = _SYMBOLS[unit] if unit in _SYMBOLS else _CURRENCY_WORDS.get(unit)
    amount = round(float(number) / 100, 2) if unit == "cents" else float(number)
    return {"amount": amount, "currency": currency}


def _to_number(raw: str) -> int | float:
    """``"1,500"`` → 1500, ``"2.5"`` → 2.5, ``"1.5k"`` → 1500, ``"3 million"`` → 3000000."""
    parts = _QTY_PARTS.search(raw)
    assert parts is not None  # every caller's regex matched a _QTY
    clean = parts.group(1).replace(",", "")
    value: int | float = float(clean) if "." in clean else int(clean)
    if parts.group(2):
        value *= _SCALES[parts.group(2).lower()]
    if isinstance(value, float) and value.is_integer() and parts.group(2):
        value = int(value)
    return -value if raw.lstrip().startswith("-") else value


def _word_numbers(text: str) -> Iterator[tuple[int, int, int]]:
    """Numbers said in words: ``(start, end, value)`` for each, pronoun "one"s left out."""
    # Most messages have no number word; a set lookup says so faster than the run regex.
    if _NUMBER_WORD_SET.isdisjoint(_TOKENS.findall(text.lower())):
        return
    for run in _WORD_RUN.finditer(text):
        tokens = [
            (m.group(0).lower(), run.start() + m.start(), run.start() + m.end())
            for m in re.finditer(r"[A-Za-z]+", run.group(0))
        ]
        for group in _split(tokens):
            words = [w for w, _, _ in group]
            start, end = group[0][1], group[-1][2]
            if words == ["one"] and _PRONOUN_ONE.search(text, 0, start):
                continue
            if _ORDINAL_AFTER.match(text, end):
                continue
            yield start, end, _value(words)


def _split(tokens: list[Token]) -> Iterator[list[Token]]:
    """A run of number words as separate numbers: "one or two" and "one and two" are two."""
    group: list[Token] = []
    for i, token in enumerate(tokens):
        if token[0] == "and":
            after = tokens[i + 1][0] if i + 1 < len(tokens) else ""
            # "two hundred and fifty" is one number; "one and two" are two.
            if group and _kind(group[-1][0]) in ("hundred", "big") and _kind(after) != "big":
                continue
            if group:
                yield group
            group = []
            continue
        if group and _kind(group[-1][0]) not in _FOLLOWS.get(_kind(token[0]), set()):
            yield group
            group = []
        group.append(token)
    if group:
        yield group


def _kind(word: str) -> str:
    if word in ("a", "an"):
        return "a"
    if word in _UNITS:
        return "unit" if 1 <= _UNITS[word] <= 9 else "teen"
    if word in _TENS:
        return "tens"
    if word in ("hundred", "dozen"):
        return word
    return "big" if word in _MULTIPLIERS else ""


def _value(words: list[str]) -> int:
    total, current = 0, 0
    for word in words:
        kind = _kind(word)
        if kind == "a":
            current = 1
        elif kind in ("unit", "teen"):
            current += _UNITS[word]
        elif kind == "tens":
            current += _TENS[word]
        elif kind == "big":
            total += (current or 1) * _MULTIPLIERS[word]
            current = 0
        else:  # hundred, dozen
            current = (current or 1) * _MULTIPLIERS[word]
    return total + current


def _entity(name: str, value: Any, start: int, end: int) -> Entity:
    return Entity(entity=name, value=value, start=start, end=end, extractor=EXTRACTOR)
