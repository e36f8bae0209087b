"""Phone numbers in a message, as E.164 strings ("+14155552671"), found by Google's libphonenumber.

Numbers written without a country code are read as numbers of ``region`` ("US" by default);
with ``region=None`` only numbers that start with "+" count. Digits inside codes such as
``NW-4155552671`` are not phone numbers, and libphonenumber's ``VALID`` leniency keeps out
digit runs that no numbering plan allows (order numbers, dates, amounts).
"""

from __future__ import annotations

import re

Found = tuple[int, int, str]

# Seven digits, perhaps split by spaces, dots, dashes or brackets: the least any number has.
_HINT = re.compile(r"\d(?:[\s().\-/]{0,3}\d){6}")
_CODE_BEFORE = re.compile(r"[A-Za-z]-$")
_CODE_AFTER = re.compile(r"^-?[A-Za-z]")


def find_phone_numbers(text: str, region: str | None = "US") -> list[Found]:
    """Every valid phone number in ``text`` with its E.164 form."""
    if not _HINT.search(text):
        return []
    # Imported here: the metadata is large, and most messages have no phone number.
    from phonenumbers import PhoneNumberFormat, PhoneNumberMatcher, format_number

    found: list[Found] = []
    for match in PhoneNumberMatcher(text, region):
        if _CODE_BEFORE.search(text, 0, match.start) or _CODE_AFTER.match(text[match.end :]):
            continue
        found.append((match.start, match.end, format_number(match.number, PhoneNumberFormat.E164)))
    return found
