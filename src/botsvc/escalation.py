"""Every escalation rule, evaluated every turn: when the bot stops and a person takes over.

The rules come from `escalation:` in flows/ (`EscalationRules`, loaded by botsvc.spec); each
function here is pure and returns a `HandoffRequest` whose reason says why, or the note that
explains a floor. The pipeline asks these in order (a human request, the intent floor, the KB
floor, frustration, the fallback count) and the flows runtime asks `rejections_exhausted`
while a collect step waits, so no rule lives anywhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from difflib import SequenceMatcher
from typing import Any

from botsvc.domain import (
    FALLBACK_INTENT,
    OFF_TOPIC_INTENTS,
    PRIORITIES,
    HandoffRequest,
    IntentScore,
    NluResult,
    Priority,
)
from botsvc.spec.model import EscalationRules

__all__ = [
    "apply_intent_floor",
    "apply_metadata_rules",
    "fallbacks_exhausted",
    "frustration",
    "human_request",
    "is_off_topic",
    "kb_floor",
    "rejections_exhausted",
]

_WORD = re.compile(r"[a-z']+")


def human_request(nlu: NluResult, rules: EscalationRules) -> HandoffRequest | None:
    """An explicit ask for a person: a human-request intent, or, when the classifier found no
    intent at all, a keyword ("operator", "real person") it may have missed. The one definition,
    whether or not a flow is waiting for an answer."""
    if nlu.intent.name in rules.human_request_intents:
        return HandoffRequest("customer_request", "normal", f"intent {nlu.intent.name}")
    if nlu.intent.name != FALLBACK_INTENT:
        # "the delivery agent left my parcel outside" is a question, not a request for an agent
        return None
    words = _WORD.findall(nlu.text.lower())
    text = " " + " ".join(words) + " "
    for keyword in rules.human_request_keywords:
        kw = keyword.lower().strip()
        if kw and ((" " in kw and f" {kw} " in text) or kw in words):
            return HandoffRequest("customer_request", "normal", f"keyword {kw!r}")
    return None


def apply_intent_floor(nlu: NluResult, rules: EscalationRules) -> tuple[NluResult, str | None]:
    """`low_confidence.intent_min_confidence`: a project-wide floor under the calibrated one.
    Below it the message is read as not understood; the note says so for the trace."""
    floor = rules.intent_min_confidence
    if floor is None or nlu.intent.name == FALLBACK_INTENT or nlu.intent.confidence >= floor:
        return nlu, None
    note = f"{nlu.intent.name} {nlu.intent.confidence:.2f} < {floor}"
    return replace(nlu, intent=IntentScore(FALLBACK_INTENT, nlu.intent.confidence)), note


def kb_floor(score: float, rules: EscalationRules) -> str | None:
    """`low_confidence.kb_min_score`: why an answer the knowledge base gave is declined, or None."""
    floor = rules.kb_min_score
    if floor is not None and score < floor:
        return f"escalation.low_confidence.kb_min_score {floor}"
    return None


# Just under the classifier's own floor (0.5, calibrated), a top-ranked off-topic intent still
# says "off topic"; lower than this, vague messages ("the blue thingy") would pass for small talk.
_OFF_TOPIC_RANKED = 0.45


def is_off_topic(nlu: NluResult) -> bool:
    """Small talk outside the domain, which the bot declines politely instead of handing off:
    two of these in a row are not two misses of a request it should have understood."""
    if nlu.intent.name in OFF_TOPIC_INTENTS:
        return True
    top = next((s for s in nlu.ranking if s.name != FALLBACK_INTENT), None)
    return (
        nlu.intent.name == FALLBACK_INTENT
        and top is not None
        and top.name in OFF_TOPIC_INTENTS
        and top.confidence >= _OFF_TOPIC_RANKED
    )


def fallbacks_exhausted(consecutive: int, rules: EscalationRules) -> HandoffRequest | None:
    """`max_consecutive_fallbacks` messages in a row that neither a flow nor the KB could take."""
    if consecutive < rules.max_consecutive_fallbacks:
        return None
    return HandoffRequest(
        "low_confidence", "normal", f"{consecutive} messages in a row not understood"
    )


def rejections_exhausted(
    slot: str, rejections: int, rules: EscalationRules
) -> HandoffRequest | None:
    """`max_rejections` answers to one question that did not fill its slot."""
    if rejections < rules.max_rejections:
        return None
    return HandoffRequest("too_many_rejections", detail=f"{slot}: {rejections} invalid answers")


def is_shouting(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 8 and sum(c.isupper() for c in letters) / len(letters) >= 0.7


def is_repeated(text: str, earlier: list[str]) -> bool:
    """The same question again (near-identical wording, in any case) within the last few turns."""
    words = _WORD.findall(text.lower())
    if len(words) < 4:  # short answers ("yes", an order number) repeat legitimately
        return False
    norm = " ".join(words)
    return any(
        SequenceMatcher(None, norm, " ".join(_WORD.findall(e.lower()))).ratio() >= 0.9
        for e in earlier[-3:]
    )


# Words that, in a negative message aimed at the bot ("this", "you"), are about the service
# rather than a fault being described ("the app is useless since the update" is a sync problem).
_INSULTS = frozenset(
    [
        "useless",
        "garbage",
        "stupid",
        "idiot",
        "idiotic",
        "dumb",
        "rubbish",
        "worthless",
        "pathetic",
        "crap",
        "trash",
        "incompetent",
        "moron",
        "ridiculous",
        "joke",
    ]
)
_AT_THE_BOT = frozenset(["you", "your", "you're", "bot", "chatbot", "assistant", "robot", "this"])
_UNHELPED = re.compile(
    r"\b(waste of (my )?time|not (helping|helpful)|(doesn't|does not|didn't|did not) help"
    r"|no help( at all)?)\b"
)
_ASKED_BEFORE = re.compile(
    r"\b(how many times|for the (second|third|fourth|fifth|last) time"
    r"|(i|i've|i have) (already )?(asked|told you|said|explained)( (this|that|it))?"
    r" ?(twice|three times|four times|several times|many times|again|already|before)"
    r"|i (already|just) (asked|told you|said|explained)"
    r"|asked (you )?(this )?(twice|three times|again and again))\b"
)
# a conversation whose last few messages are all this negative is going badly, whatever each says
_MOOD_TURNS, _MOOD_BELOW = 3, -0.3


def frustration(
    nlu: NluResult,
    earlier_texts: list[str],
    rules: EscalationRules,
    *,
    sentiments: Sequence[float] = (),
) -> HandoffRequest | None:
    """The customer is losing patience, read from the whole conversation: this message's
    sentiment past the threshold, an insult to the bot, "I asked three times", the same
    question again, shouting while negative or repeating, or a run of negative messages.
    `sentiments` are the conversation's per-message scores, this one last."""
    text = nlu.text.lower()
    words = set(_WORD.findall(text))
    threshold = rules.negative_sentiment_threshold
    if threshold is not None and nlu.sentiment <= threshold:
        return HandoffRequest("negative_sentiment", "high", f"sentiment {nlu.sentiment:.2f}")
    insult = nlu.sentiment < 0 and words & _INSULTS and words & _AT_THE_BOT
    if insult or _UNHELPED.search(text):
        return HandoffRequest("frustration", "high", "the customer says the bot is not helping")
    if _ASKED_BEFORE.search(text):
        return HandoffRequest("frustration", "normal", "the customer says they asked before")
    repeated = is_repeated(nlu.text, earlier_texts)
    if is_shouting(nlu.text) and (nlu.sentiment < 0 or repeated):
        return HandoffRequest("frustration", "high", f"shouting, sentiment {nlu.sentiment:.2f}")
    if repeated:
        return HandoffRequest("frustration", "normal", "the customer repeated the same question")
    recent = list(sentiments)[-_MOOD_TURNS:]
    if len(recent) == _MOOD_TURNS and all(x <= _MOOD_BELOW for x in recent):
        return HandoffRequest("frustration", "normal", f"{_MOOD_TURNS} negative messages in a row")
    return None


def raise_priority(a: Priority, b: Priority) -> Priority:
    return a if PRIORITIES.index(a) >= PRIORITIES.index(b) else b


def apply_metadata_rules(
    request: HandoffRequest,
    *,
    rules: EscalationRules,
    slots: Mapping[str, Any],
    context: Mapping[str, Any],
) -> tuple[HandoffRequest, list[str]]:
    """Raises the priority by rules on the customer (e.g. plan: enterprise → high)."""
    matched: list[str] = []
    priority = request.priority
    for rule in rules.metadata_rules:
        if rule.condition.evaluate(slots=slots, context=context):
            priority = raise_priority(priority, rule.priority)
            matched.append(rule.condition.source)
    if priority == request.priority:
        return request, matched
    return replace(request, priority=priority), matched
