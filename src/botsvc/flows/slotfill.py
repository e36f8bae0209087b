"""Reading slot values and conversational signals (yes/no, cancel, a question) out of a message."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from difflib import SequenceMatcher
from types import MappingProxyType
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
    "direct_answer",
    "from_answer",
    "from_entity",
    "is_cancel",
    "is_question",
]

CANCEL_INTENT = "cancel"
CANCEL_INTENTS = frozenset({CANCEL_INTENT, "stop"})  # "stop" is what many Rasa projects call it
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
        "go ahead",
        "please go ahead",
        "go for it",
        "do it",
        "yes do it",
        "please do it",
        "sounds good",
        "that's right",
        "alright",
        "all right",
        "fine",
        "no problem",
        "no worries",
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
        "don't",
        "dont",
        "do not",
        "don't do it",
        "do not do it",
        "please don't",
        "please do not",
        "not now",
        "not yet",
        "not today",
        "no way",
        "rather not",
        "i'd rather not",
        "i would rather not",
    }
)
_YES_WORDS = frozenset({"yes", "yeah", "yep", "yup", "sure", "ok", "okay", "correct"})
_NO_WORDS = frozenset({"no", "nope", "nah"})
# a reply may start with one of these and go on ("yes do it", "not now, thanks"); single words
# like "right", "fine" or "don't" are left out: "right now...", "don't know" may mean anything
_YES_LEADS = _YES_WORDS | {p for p in _YES if " " in p}
_NO_LEADS = _NO_WORDS | {p for p in _NO if " " in p}
# after a leading yes these turn it round ("ok, don't"): not understood rather than a yes
_NEGATIONS = frozenset({"not", "don't", "dont", "never"})
_LEAD_MAX_WORDS = 6
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
_WORD = re.compile(r"[a-z0-9']+")
_SEPARATORS = re.compile(r"[\s_-]+")
_GAP = r"[\s_-]?"
_NO_SYNONYMS: Mapping[str, str] = MappingProxyType({})
# a typo is forgiven only in a word this long, and only when it is close to exactly one value
_FUZZY_MIN_LEN = 5
_FUZZY_MIN_RATIO = 0.85


@dataclass(frozen=True)
class Fill:
    value: Any
    source: Literal["entity", "answer", "text"]


def normalise(text: str) -> str:
    """Lower-case, trimmed, inner whitespace collapsed, trailing punctuation dropped."""
    return " ".join(text.lower().split()).strip(" .!?,;:")


# "actually, cancel that please", "ah, one moment, stop that": a cancel inside a longer message
_CANCEL_INSIDE = re.compile(
    r"\b(?:cancel|stop|abort|scrap|drop) (?:that|it|this|the \w+)\b|\bnever ?mind\b"
    r"|\bforget (?:it|about it|that)\b",
    re.IGNORECASE,
)


def is_cancel(nlu: NluResult) -> bool:
    return (
        nlu.intent.name in CANCEL_INTENTS
        or normalise(nlu.text) in CANCEL_PHRASES
        or _CANCEL_INSIDE.search(nlu.text) is not None
    )


# "could I have a capricciosa?", "can I get 2 instead?": a polite request, not a question
_POLITE_REQUEST = re.compile(
    r"^\s*(?:\w+,?\s+)?(?:can|could|may)\s+(?:i|we)\s+(?:please\s+)?(?:have|get|order|take)\b",
    re.IGNORECASE,
)


def is_question(text: str) -> bool:
    stripped = text.strip()
    if _POLITE_REQUEST.match(stripped):
        return False
    if stripped.endswith("?"):
        return True
    words = normalise(stripped).split()
    return len(words) >= 3 and words[0] in _QUESTION_WORDS


def from_entity(
    slot: SlotSpec,
    nlu: NluResult,
    *,
    asked: bool = False,
    synonyms: Mapping[str, str] = _NO_SYNONYMS,
) -> Fill | None:
    """The first entity named like the slot (or its `from_entity` mapping) with a usable value.

    A slot mapped with a role takes only entities of that role, except when the slot's own
    question was just asked: then an entity without a role answers it ("to Hamburg")."""
    for entity in nlu.entities:
        role_ok = slot.role is None or entity.role == slot.role or (asked and entity.role is None)
        if entity.entity == slot.entity and role_ok:
            ok, value = coerce(slot, entity.value, synonyms=synonyms)
            if ok:
                return Fill(value, "entity")
    return _generic(slot, nlu, synonyms)


# A slot with no entity of its own (Rasa's `from_llm`) takes a built-in entity that its name
# asks for: `transfer_money_recipient` a person, `amount_of_money` an amount, `visit_date` a time.
_GENERIC = (
    (frozenset({"amount", "money", "price", "sum", "cost", "total", "budget"}), "amount_of_money"),
    (frozenset({"email", "mail"}), "email"),
    (frozenset({"phone", "mobile", "telephone"}), "phone_number"),
    (frozenset({"recipient", "payee", "person", "contact", "friend", "name"}), "person"),
    (frozenset({"date", "time", "day", "when"}), "time"),
    (frozenset({"count", "num", "number", "quantity", "people", "guests", "seats"}), "number"),
)


def generic_kind(slot: SlotSpec) -> str | None:
    """The built-in entity a slot without an entity of its own asks for by its name, if any.

    The last word of the name is its head: `transfer_money_recipient` is a person and
    `transfer_money_final_confirmation` no amount of money; a leading `num_` counts (`num_pizza`).
    """
    if slot.entity != slot.name or slot.type not in ("text", "float", "any"):
        return None  # an explicit mapping says which entity fills it
    words = [w for w in re.split(r"[_\W]+", slot.name.lower()) if w]
    if not words:
        return None
    for hints, kind in _GENERIC:
        if words[-1] in hints:
            return kind
    return "number" if words[0] in ("num", "number", "count") else None


def _generic(slot: SlotSpec, nlu: NluResult, synonyms: Mapping[str, str]) -> Fill | None:
    kind = generic_kind(slot)
    if kind is not None:
        # a bare number in digits answers for an amount of money ("50" to "how much?"); a
        # number word may be no amount at all ("one moment")
        accepted = (kind, "number") if kind == "amount_of_money" else (kind,)
        for entity in sorted(
            nlu.entities, key=lambda e: accepted.index(e.entity) if e.entity in accepted else 9
        ):
            if entity.entity not in accepted:
                continue
            if entity.entity != kind and not any(
                c.isdigit() for c in nlu.text[entity.start : entity.end]
            ):
                continue
            value = entity.value
            if kind == "amount_of_money" and isinstance(value, Mapping):
                value = value.get("amount")
            if slot.type == "text" and isinstance(value, float) and value.is_integer():
                value = int(value)
            ok, coerced = coerce(
                slot, str(value) if slot.type == "text" else value, synonyms=synonyms
            )
            if ok:
                return Fill(coerced, "entity")
    return None


def from_answer(
    slot: SlotSpec,
    nlu: NluResult,
    *,
    strict: bool,
    synonyms: Mapping[str, str] = _NO_SYNONYMS,
) -> Fill | None:
    """A typed slot's value read from the reply to its question (not for text/any slots).

    Strict: the whole message is the answer ("express", "yes", "/affirm", "42"). Loose: the
    answer is inside the message ("express please", "yes, go ahead", "about 42 euros").
    `synonyms` (lower-cased synonym -> canonical value) name categorical values too.
    """
    if slot.type == "bool":
        value: Any = _yes_no(nlu, strict=strict)
    elif slot.type == "float":
        value = _number(nlu.text, strict=strict)
    elif slot.type == "categorical":
        value = _category(slot.values, nlu.text, whole_only=strict, synonyms=synonyms)
    else:
        return None
    return Fill(value, "answer") if value is not None else None


def direct_answer(
    slot: SlotSpec, nlu: NluResult, *, synonyms: Mapping[str, str] = _NO_SYNONYMS
) -> Fill | None:
    """The whole message, a question mark aside, is one value of the slot: "max?", "yes?",
    "NW-123456?" (an entity that is the whole message). Read from the words alone, not the
    intent, so that a real question never passes for an answer."""
    said = normalise(nlu.text)
    fill = from_entity(slot, nlu, asked=True, synonyms=synonyms)
    if fill is not None and normalise(str(fill.value)) == said:
        return fill
    if slot.type == "bool":
        value: Any = _payload(nlu.text)
        if value is None:
            value = _bool_word(nlu.text)
    elif slot.type == "float":
        value = _number(nlu.text, strict=True)
    elif slot.type == "categorical":
        value = _category(slot.values, nlu.text, whole_only=True, synonyms=synonyms)
    else:
        return None
    return Fill(value, "answer") if value is not None else None


def coerce(
    slot: SlotSpec, value: Any, *, synonyms: Mapping[str, str] = _NO_SYNONYMS
) -> tuple[bool, Any]:
    """(True, the value in the slot's type) or (False, None) when it does not fit."""
    if value is None:
        return False, None
    if slot.type == "any":
        return True, value
    if slot.type == "text":
        # a bool is no text: False would be stored as "False", which conditions read as true
        fits = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        return (True, str(value)) if fits else (False, None)
    if slot.type == "bool":
        parsed = value if isinstance(value, bool) else _bool_word(str(value))
        return (parsed is not None), parsed
    if slot.type == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        number = _number(str(value))
        return (number is not None), number
    match = _category(slot.values, str(value), whole_only=True, synonyms=synonyms)
    return (match is not None), match


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def _bool_word(text: str) -> bool | None:
    """A whole reply that is a yes or a no ("yes please", "no, don't", "not now")."""
    t = " ".join(_words(text))
    if t in _YES:
        return True
    if t in _NO:
        return False
    return None


def _payload(text: str) -> bool | None:
    t = text.strip()
    if t.startswith("/affirm"):
        return True
    if t.startswith("/deny"):
        return False
    return None


def _leading_yes_no(text: str) -> bool | None:
    """A short reply that starts with a yes or a no and goes on ("sure, go ahead", "nope, not
    now"); the longest leading phrase counts, so "no problem, do it" is a yes."""
    words = _words(text)
    if not words or len(words) > _LEAD_MAX_WORDS or is_question(text):
        return None
    for n in range(min(3, len(words)), 0, -1):
        lead = " ".join(words[:n])
        if lead in _NO_LEADS:
            return False
        if lead in _YES_LEADS:
            return None if _NEGATIONS.intersection(words[n:]) else True
    return None


def _yes_no(nlu: NluResult, *, strict: bool) -> bool | None:
    """Button payload, then the words, then the affirm/deny intent. Where the words and the
    intent disagree ("don't do it" read as affirm) the words win: a no never becomes a yes."""
    said = _payload(nlu.text)
    if said is None:
        said = _bool_word(nlu.text)
    if said is not None:
        return said
    lead = _leading_yes_no(nlu.text)
    if nlu.intent.name in (AFFIRM_INTENT, DENY_INTENT):
        meant = nlu.intent.name == AFFIRM_INTENT
        return meant if lead is None else lead
    return None if strict else lead


def _number(text: str, *, strict: bool = False) -> float | None:
    m = _NUMBER.fullmatch(normalise(text)) if strict else _NUMBER.search(text)
    if m is None:
        return None
    return float(m.group(0).replace(",", "."))


def _squash(text: str) -> str:
    """Case, spaces, hyphens and underscores ignored: "Check up" and "check-up" are one value."""
    return _SEPARATORS.sub("", text.lower())


def _mentions(text: str, phrase: str) -> bool:
    """`phrase` occurs in `text` as whole words, a space or hyphen between its words or not."""
    parts = [re.escape(p) for p in _SEPARATORS.split(phrase.lower()) if p]
    return bool(parts) and re.search(rf"\b{_GAP.join(parts)}\b", text) is not None


def _close(word: str, value: str) -> bool:
    """A light typo: one edit apart or nearly the same letters, in words of 5+ letters. The first
    letter must match: "phone" is a word of its own, not a mistyped "iphone"."""
    a, b = _squash(word), _squash(value)
    if min(len(a), len(b)) < _FUZZY_MIN_LEN or a[0] != b[0]:
        return False
    return _one_edit(a, b) or SequenceMatcher(None, a, b).ratio() >= _FUZZY_MIN_RATIO


def _one_edit(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    # the rest must match after one substitution (same length) or one insertion (b longer)
    return a[i + 1 :] == b[i + 1 :] if len(a) == len(b) else a[i:] == b[i + 1 :]


def _one(found: Iterable[str]) -> str | None:
    values = set(found)
    return values.pop() if len(values) == 1 else None


def _category(
    values: tuple[str, ...],
    text: str,
    *,
    whole_only: bool = False,
    synonyms: Mapping[str, str] = _NO_SYNONYMS,
) -> str | None:
    """The categorical value the text names, in its canonical spelling, or None.

    Whole-only: the text is the value; otherwise it may also be among the text's words
    ("express please"). A value matches in any case and with spaces or hyphens ("check up"),
    and through a synonym; a light typo counts only when nothing matched so, and only when a
    single value is that close. Two values named: None, the customer did not choose."""
    said = normalise(text)
    by_key = {_squash(v): v for v in values}
    canonical = {s: by_key[_squash(c)] for s, c in synonyms.items() if _squash(c) in by_key}
    exact = by_key.get(_squash(said)) or canonical.get(said)
    if exact is not None:
        return exact
    if not whole_only:
        named = [v for v in values if _mentions(said, v)]
        named += [v for s, v in canonical.items() if _mentions(said, s)]
        if named:
            return _one(named)
    typo = _one(v for v in values if _close(said, v))
    if typo is None:
        typo = _abbreviated(values, said)
    if typo is not None or whole_only:
        return typo
    return _one(v for word in _words(said) for v in values if _close(word, v))


def _abbreviated(values: tuple[str, ...], said: str) -> str | None:
    """The one multi-word value the text abbreviates word by word, in any order ("d debit" and
    "d direct" for "direct debit"): each word said begins a different word of the value, and
    one of them is a whole word of it."""
    words = said.split()
    if len(words) < 2:
        return None

    def abbreviates(value: str) -> bool:
        own = normalise(value).replace("-", " ").replace("_", " ").split()
        if len(own) != len(words) or not set(words) & set(own):
            return False
        left = list(own)
        for w in sorted(words, key=len, reverse=True):
            match = next((o for o in left if o.startswith(w)), None)
            if match is None:
                return False
            left.remove(match)
        return True

    return _one(v for v in values if abbreviates(v))
