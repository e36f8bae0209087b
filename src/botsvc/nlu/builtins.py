"""Built-in entities every bot gets without training data: email, amount of money and number.

Values: ``email`` is the address as written; ``amount_of_money`` is
``{"amount": 20.0, "currency": "USD"}`` (currency ``None`` when only "bucks"-like words say
money without naming one); ``number`` is an ``int`` or ``float``. Digits inside codes such as
``NW-123456`` or dates such as ``2024-05-01`` are not numbers.
"""

from __future__ import annotations

import re
from typing import Any

from botsvc.domain import Entity

EXTRACTOR = "builtin"

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
)
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
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
_WORDS = {
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
    "bucks": "USD",
    "cents": None,
}
_SYM = "|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True))
_WORD = "|".join(sorted(_WORDS, key=len, reverse=True))
_AMOUNT = re.compile(
    rf"(?P<pre>{_SYM}|\b(?:{_WORD})\b\.?)\s?(?P<n1>{_NUM})(?![\w-])"
    rf"|(?<![\w.\-/])(?P<n2>{_NUM})\s?(?P<post>{_SYM}|(?:{_WORD})\b)",
    re.IGNORECASE,
)
_NUMBER = re.compile(rf"(?<![\w.\-/])(?:-(?=\d))?(?:{_NUM})(?![\w\-/]|\.\d)")
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "hundred": 100, "dozen": 12})
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)


def extract_builtins(text: str) -> list[Entity]:
    """Every email, amount and number in ``text`` (overlaps are resolved by the caller)."""
    found = [_entity("email", m.group(0), m.start(), m.end()) for m in _EMAIL.finditer(text)]
    for m in _AMOUNT.finditer(text):
        number = m.group("n1") or m.group("n2")
        unit = (m.group("pre") or m.group("post") or "").lower().rstrip(".")
        currency = _SYMBOLS.get(unit, _WORDS.get(unit))
        amount = _to_number(number)
        if unit == "cents":
            amount = round(float(amount) / 100, 2)
        value = {"amount": float(amount), "currency": currency}
        found.append(_entity("amount_of_money", value, m.start(), m.end()))
    for m in _NUMBER.finditer(text):
        found.append(_entity("number", _to_number(m.group(0)), m.start(), m.end()))
    for m in _NUMBER_WORD.finditer(text):
        found.append(_entity("number", _NUMBER_WORDS[m.group(0).lower()], m.start(), m.end()))
    return found


def _to_number(raw: str) -> int | float:
    clean = raw.replace(",", "")
    return float(clean) if "." in clean else int(clean)


def _entity(name: str, value: Any, start: int, end: int) -> Entity:
    return Entity(entity=name, value=value, start=start, end=end, extractor=EXTRACTOR)
