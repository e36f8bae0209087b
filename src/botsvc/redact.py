"""Masking personal data in text: emails, phone numbers, card numbers, IBANs, configured patterns.

Logs are always redacted; stored transcripts, traces, webhooks and exports are when
`BOTSVC_REDACT` is on. The dialogue itself never is: the pipeline reads the message as typed,
and the slots a flow fills (the email a reset link goes to) keep their values in the
conversation's state, so redaction changes what is kept and sent, not what the bot does.

Card numbers must pass the Luhn check and IBANs the ISO 13616 mod-97 check, so order numbers,
amounts and dates stay readable; phone numbers are libphonenumber's valid numbers (nlu/phones.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botsvc.nlu.phones import find_phone_numbers

__all__ = ["Redactor"]

_EMAIL = re.compile(r"[\w.+%-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# 13 to 19 digits, perhaps in groups split by single spaces or dashes, starting as the card
# networks' numbers do (2 to 6: Mastercard, Amex, Diners, JCB, Visa, Maestro, Discover, UnionPay)
_CARD = re.compile(r"(?<![\w-])[2-6](?:[ -]?\d){12,18}(?![\w-])")
# written whole or in groups of four, as banks print them
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_MAX_TEXT = 100_000  # longer texts are cut before matching (bounded work per log line)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    s = text.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


@dataclass(frozen=True)
class Redactor:
    """`patterns`: (label, regex) pairs of the site's own (customer numbers, national ids)."""

    patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()
    phone_region: str | None = "US"

    @classmethod
    def with_patterns(cls, patterns: Sequence[str], phone_region: str | None = "US") -> Redactor:
        """From `BOTSVC_REDACT_PATTERNS`-style strings: `label=regex` or a bare regex."""
        compiled = []
        for spec in patterns:
            label, sep, regex = spec.partition("=")
            if not sep or not re.fullmatch(r"[a-z_]+", label):
                label, regex = "redacted", spec
            compiled.append((label, re.compile(regex)))
        return cls(tuple(compiled), phone_region)

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """What would be masked: (start, end, label), in order, without overlaps."""
        found: list[tuple[int, int, str]] = []
        found += [
            (m.start(), m.end(), "card")
            for m in _CARD.finditer(text)
            if luhn_ok(re.sub(r"\D", "", m.group(0)))
        ]
        found += [(m.start(), m.end(), "iban") for m in _IBAN.finditer(text) if iban_ok(m.group(0))]
        found += [(m.start(), m.end(), "email") for m in _EMAIL.finditer(text)]
        found += [(s, e, "phone") for s, e, _ in find_phone_numbers(text, self.phone_region)]
        for label, pattern in self.patterns:
            found += [(m.start(), m.end(), label) for m in pattern.finditer(text) if m.group(0)]
        kept: list[tuple[int, int, str]] = []
        for span in found:  # the first kind listed wins where two overlap
            if all(span[1] <= k[0] or span[0] >= k[1] for k in kept):
                kept.append(span)
        return sorted(kept)

    def text(self, text: str) -> str:
        text = text[:_MAX_TEXT]
        spans = self.spans(text)
        if not spans:
            return text
        out, at = [], 0
        for start, end, label in spans:
            out += [text[at:start], f"[{label.upper()}]"]
            at = end
        out.append(text[at:])
        return "".join(out)

    def value(self, value: Any, *, keep: frozenset[str] = frozenset()) -> Any:
        """Every string inside a JSON-like value masked; keys, numbers and shape kept, and the
        values under the keys in `keep` left as they are."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: v if k in keep else self.value(v, keep=keep) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v, keep=keep) for v in value]
        return value
