"""A customer correcting an answer given earlier in the flow: "sorry, I meant Joe", "make it 200".

Found only when the message says it corrects (a cue such as "sorry", "actually", "I meant",
"instead") and names a new value for a slot the running flow has already filled: from an entity
that fills that slot, or, for a text slot, the words after "I meant" / "make it" given to the
slot filled last. The value for the slot being asked is an answer, never a correction.
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
    """The slots this message corrects, with their new values ({} when it corrects nothing)."""
    if _CUE.search(nlu.text) is None:
        return {}
    filled = [
        s.slot
        for s in flow.steps.values()
        if isinstance(s, CollectStep) and s.slot != asking and slots.get(s.slot) is not None
    ]
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
