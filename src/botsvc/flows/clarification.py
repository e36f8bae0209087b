"""Reading the customer's pick after pattern_clarification offered flows by name.

"add a contact", "the second one", "the latter", "not the former": the reply names an option, says
its place, or rules all but one out. Anything else is a new message, understood afresh.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["chosen"]

_PLACES = {
    "first": 0, "former": 0, "1": 0, "1st": 0,
    "second": 1, "latter": 1, "2": 1, "two": 1, "2nd": 1,
    "third": 2, "3": 2, "three": 2, "3rd": 2,
}  # fmt: skip
_NOT = re.compile(r"\b(?:not|no|don't|dont|never)\b")
_WORD = re.compile(r"[a-z0-9']+")
_FILLER = frozenset({"a", "an", "the", "my", "your", "to", "of", "for", "i", "want", "one"})


def chosen(options: Sequence[tuple[str, str]], text: str) -> str | None:
    """The flow id among `options` ((flow id, name) in the order offered) the reply picks."""
    words = _WORD.findall(text.lower())
    if not words or not options:
        return None
    negated = _NOT.search(text.lower()) is not None
    place = next((_PLACES[w] for w in words if w in _PLACES), None)
    if "last" in words or "latter" in words:
        place = len(options) - 1
    if place is not None and place < len(options):
        if not negated:
            return options[place][0]
        rest = [o for i, o in enumerate(options) if i != place]
        return rest[0][0] if len(rest) == 1 else None
    said = set(words) - _FILLER
    named = [
        flow_id
        for flow_id, name in options
        if (own := set(_WORD.findall(name.lower())) - _FILLER) and own <= said
    ]
    if len(named) == 1 and not negated:
        return named[0]
    return None
