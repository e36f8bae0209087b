"""Escalation rules, evaluated every turn. Each returns a HandoffRequest whose reason says why.

The rules come from `escalation:` in flows/ (EscalationRules). Pure functions over plain data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from difflib import SequenceMatcher
from typing import Any

from botsvc.domain import FALLBACK_INTENT, PRIORITIES, Customer, HandoffRequest, NluResult, Priority
from botsvc.flows.spec import EscalationRules

_WORD = re.compile(r"[a-z']+")


def human_request(nlu: NluResult, rules: EscalationRules) -> HandoffRequest | None:
    """An explicit ask for a person: a human-request intent, or, when the classifier found no
    intent at all, a keyword ("operator", "real person") it may have missed."""
    if nlu.intent.name in rules.human_request_intents:
        return HandoffRequest("customer_request", "normal", f"intent {nlu.intent.name}")
    if nlu.intent.name != FALLBACK_INTENT:
        # "the delivery agent left my parcel outside" is a question, not a request for an agent
        return None
    words = set(_WORD.findall(nlu.text.lower()))
    text = " " + " ".join(_WORD.findall(nlu.text.lower())) + " "
    for keyword in rules.human_request_keywords:
        kw = keyword.lower().strip()
        if (" " in kw and f" {kw} " in text) or kw in words:
            return HandoffRequest("customer_request", "normal", f"keyword {kw!r}")
    return None


def is_shouting(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 8 and sum(c.isupper() for c in letters) / len(letters) >= 0.7


def is_repeated(text: str, earlier: list[str]) -> bool:
    """The same question again (near-identical wording) within the last few turns."""
    words = _WORD.findall(text.lower())
    if len(words) < 4:  # short answers ("yes", an order number) repeat legitimately
        return False
    norm = " ".join(words)
    return any(
        SequenceMatcher(None, norm, " ".join(_WORD.findall(e.lower()))).ratio() >= 0.9
        for e in earlier[-3:]
    )


def frustration(
    nlu: NluResult, earlier_texts: list[str], rules: EscalationRules
) -> HandoffRequest | None:
    """Negative sentiment past the threshold, shouting while negative, or the same question again."""
    threshold = rules.negative_sentiment_threshold
    if threshold is not None and nlu.sentiment <= threshold:
        return HandoffRequest("negative_sentiment", "high", f"sentiment {nlu.sentiment:.2f}")
    if is_shouting(nlu.text) and nlu.sentiment < 0:
        return HandoffRequest("frustration", "high", f"shouting, sentiment {nlu.sentiment:.2f}")
    if is_repeated(nlu.text, earlier_texts):
        return HandoffRequest("frustration", "normal", "the customer repeated the same question")
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
    return HandoffRequest(request.reason, priority, request.detail), matched


def condition_context(
    customer: Customer, channel: str, metadata: Mapping[str, Any]
) -> dict[str, Any]:
    """What `context.*` means in conditions."""
    return {
        "customer": {
            "id": customer.id,
            "name": customer.name,
            "email": customer.email,
            "metadata": dict(customer.metadata),
        },
        "channel": channel,
        "metadata": dict(metadata),
    }
