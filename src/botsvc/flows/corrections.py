"""A customer correcting an answer given earlier in the flow: "sorry, I meant Joe", "make it 200".

Found only when the message says it corrects (a cue such as "sorry", "actually", "I meant",
"instead") and names a new value for a slot the running flow has already filled: from an entity
that fills that slot, or, for a text slot, the words after "I meant" / "make it" given to the
slot filled last. The value for the slot being asked is an answer, never a correction. A message
that names a filled slot to change ("I want to change the recipient") or disowns its value ("I
didn't mean John") resets it, to be asked again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from botsvc.domain import NluResult
from botsvc.flows.slotfill import from_entity
from botsvc.spec.model import FlowSpec
from botsvc.spec.steps import CollectStep, Flow

__all__ = ["find_correction"]

_CUE = re.compile(
    r"^\s*(?:no|sorry|actually|oops|wait|hm+|ah)\b|\b(?:i meant|i mean|instead|make it|"
    r"change (?:it|that) to|it should be|correction)\b",
    re.IGNORECASE,
)
_BY_NAME = re.compile(
    r"\b(?:change|update|edit|correct|fix|redo)\s+(?:the|my)\s+(?P<what>[\w ]{2,40}?)\s*[.!?]*$",
    re.IGNORECASE,
)
_BY_VALUE = re.compile(
    r"\b(?:didn'?t|did not|don'?t|do not)\s+mean\s+(?P<what>.+)$"
    r"|^\s*(?:no,?\s+)?not\s+(?P<not>.+)$",
    re.IGNORECASE,
)
_TAIL = re.compile(
    r"\b(?:i meant(?: to say)?|i mean|make (?:it|that)|change (?:it|that) to|it should be)"
    r"\s+(?P<value>.+?)\s*(?:instead)?\s*[.!]*\s*$",
    re.IGNORECASE,
)


def find_correction(
    nlu: NluResult,
    *,
    spec: FlowSpec,
    flow: Flow,
    asking: str,
    slots: Mapping[str, Any],
) -> dict[str, Any]:
    """The slots this message corrects, with their new values ({} when it corrects nothing);
    a slot to be asked again ("I want to change the recipient", "I didn't mean John") is None."""
    filled = [
        s.slot
        for s in flow.steps.values()
        if isinstance(s, CollectStep) and s.slot != asking and slots.get(s.slot) is not None
    ]
    reset = _reset(nlu.text, filled, slots)
    if reset:
        return reset
    if _CUE.search(nlu.text) is None:
        return {}
    out: dict[str, Any] = {}
    for name in filled:
        fill = from_entity(spec.slots[name], nlu, asked=True)
        if fill is not None and fill.value != slots[name]:
            out[name] = fill.value
    if out:
        return out
    tail = _TAIL.search(nlu.text)
    texts = [n for n in filled if spec.slots[n].type in ("text", "any")]
    if tail is not None and texts:
        return {texts[-1]: tail.group("value").strip(" \"'")}
    return {}


def _reset(text: str, filled: list[str], slots: Mapping[str, Any]) -> dict[str, Any]:
    """Slots the message asks to give again: by name ("change the recipient") or by disowning
    their value ("I didn't mean John")."""
    named = _BY_NAME.search(text)
    if named is not None:
        what = set(_words(named.group("what"))) - {"the", "my", "a"}
        hit = [n for n in filled if what and _words(n)[-1] in what]
        if len(hit) == 1:
            return {hit[0]: None}
    disowned = _BY_VALUE.search(text)
    if disowned is not None:
        said = (disowned.group("what") or disowned.group("not")).lower()
        hit = [n for n in filled if re.search(rf"\b{re.escape(str(slots[n]).lower())}\b", said)]
        if len(hit) == 1:
            return {hit[0]: None}
    return {}


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[_\W]+", text.lower()) if w]
