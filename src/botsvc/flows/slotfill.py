"""Reading slot values and conversational signals (yes/no, cancel, a question) out of a message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from botsvc.domain import NluResult
from botsvc.spec.model import SlotSpec

__all__ = [
    "AFFIRM_INTENT",
    "CANCEL_INTENT",
    "DENY_INTENT",
    "FAQ_INTENT",
    "Fill",
    "coerce",
    "from_answer",
    "from_entity",
    "is_cancel",
    "is_question",
]

CANCEL_INTENT = "cancel"
FAQ_INTENT = "faq"
AFFIRM_INTENT = "affirm"
DENY_INTENT = "deny"

CANCEL_PHRASES = frozenset(
    {
        "cancel",
        "cancel that",
        "cancel it",
        "stop",
        "stop it",
        "stop that",
        "never mind",
        "nevermind",
        "forget it",
        "forget about it",
        "abort",
        "quit",
        "leave it",
    }
)
_YES = frozenset(
    {
        "yes",
        "y",
        "yeah",
        "yep",
        "yup",
        "sure",
        "ok",
        "okay",
        "correct",
        "right",
        "true",
        "of course",
        "absolutely",
        "definitely",
        "please do",
        "yes please",
        "affirmative",
        "indeed",
    }
)
_NO = frozenset(
    {
        "no",
        "n",
        "nope",
        "nah",
        "false",
        "not really",
        "no thanks",
        "no thank you",
        "negative",
        "not at all",
        "never",
    }
)
_YES_WORDS = frozenset({"yes", "yeah", "yep", "yup", "sure", "ok", "okay", "correct"})
_NO_WORDS = frozenset({"no", "nope", "nah"})
_QUESTION_WORDS = frozenset(
    {
        "what",
        "how",
        "why",
        "when",
        "where",
        "who",
        "which",
        "whose",
        "whom",
        "can",
        "could",
        "do",
        "does",
        "did",
        "is",
        "are",
        "was",
        "were",
        "will",
        "would",
        "should",
        "may",
        "might",
        "have",
        "has",
        "shall",
        "am",
    }
)
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")


@dataclass(frozen=True)
class Fill:
    value: Any
    source: Literal["entity", "answer", "text"]


def normalise(text: str) -> str:
    """Lower-case, trimmed, inner whitespace collapsed, trailing punctuation dropped."""
    return " ".join(text.lower().split()).strip(" .!?,;:")


def is_cancel(nlu: NluResult) -> bool:
    return nlu.intent.name == CANCEL_INTENT or normalise(nlu.text) in CANCEL_PHRASES


def is_question(text: str) -> bool:
    stripped = text.strip()
    if stripped.endswith("?"):
        return True
    words = normalise(stripped).split()
    return len(words) >= 3 and words[0] in _QUESTION_WORDS


def from_entity(slot: SlotSpec, nlu: NluResult, *, asked: bool = False) -> Fill | None:
    """The first entity named like the slot (or its `from_entity` mapping) with a usable value.

    A slot mapped with a role takes only entities of that role, except when the slot's own
    question was just asked: then an entity without a role answers it ("to Hamburg")."""
    for entity in nlu.entities:
        role_ok = slot.role is None or entity.role == slot.role or (asked and entity.role is None)
        if entity.entity == slot.entity and role_ok:
            ok, value = coerce(slot, entity.value)
            if ok:
                return Fill(value, "entity")
    return None


def from_answer(slot: SlotSpec, nlu: NluResult, *, strict: bool) -> Fill | None:
    """A typed slot's value read from the reply to its question (not for text/any slots).

    Strict: the whole message is the answer ("express", "yes", "/affirm", "42"). Loose: the
    answer is inside the message ("express please", "yes, go ahead", "about 42 euros").
    """
    if slot.type == "bool":
        value: Any = _yes_no(nlu, strict=strict)
    elif slot.type == "float":
        value = _number(nlu.text, strict=strict)
    elif slot.type == "categorical":
        value = _category(slot.values, nlu.text, whole_only=strict)
    else:
        return None
    return Fill(value, "answer") if value is not None else None


def coerce(slot: SlotSpec, value: Any) -> tuple[bool, Any]:
    """(True, the value in the slot's type) or (False, None) when it does not fit."""
    if value is None:
        return False, None
    if slot.type == "any":
        return True, value
    if slot.type == "text":
        return (True, str(value)) if isinstance(value, (str, int, float)) else (False, None)
    if slot.type == "bool":
        parsed = value if isinstance(value, bool) else _bool_word(str(value))
        return (parsed is not None), parsed
    if slot.type == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        number = _number(str(value))
        return (number is not None), number
    match = _category(slot.values, str(value), whole_only=True)
    return (match is not None), match


def _bool_word(text: str) -> bool | None:
    t = normalise(text)
    if t in _YES:
        return True
    if t in _NO:
        return False
    return None


def _yes_no(nlu: NluResult, *, strict: bool) -> bool | None:
    text = nlu.text.strip()
    if text.startswith("/affirm"):
        return True
    if text.startswith("/deny"):
        return False
    word = _bool_word(text)
    if word is not None:
        return word
    if nlu.intent.name == AFFIRM_INTENT:
        return True
    if nlu.intent.name == DENY_INTENT:
        return False
    words = normalise(text).replace(",", " ").split()
    if not strict and words and len(words) <= 6 and not is_question(text):
        if words[0] in _YES_WORDS:
            return True
        if words[0] in _NO_WORDS:
            return False
    return None


def _number(text: str, *, strict: bool = False) -> float | None:
    m = _NUMBER.fullmatch(normalise(text)) if strict else _NUMBER.search(text)
    if m is None:
        return None
    return float(m.group(0).replace(",", "."))


def _category(values: tuple[str, ...], text: str, *, whole_only: bool = False) -> str | None:
    said = normalise(text)
    for value in values:
        if value.lower() == said:
            return value
    if whole_only:
        return None
    found = [v for v in values if re.search(rf"\b{re.escape(v.lower())}\b", said)]
    return found[0] if len(found) == 1 else None
