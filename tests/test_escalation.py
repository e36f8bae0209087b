"""Escalation rules as pure functions, on messages as customers write them."""

from __future__ import annotations

import pytest

from botsvc import escalation
from botsvc.domain import FALLBACK_INTENT, IntentScore, NluResult
from botsvc.nlu.sentiment import sentiment
from botsvc.spec.model import EscalationRules

RULES = EscalationRules(
    negative_sentiment_threshold=-0.6,
    human_request_intents=("talk_to_human",),
    human_request_keywords=("agent", "real person"),
    max_consecutive_fallbacks=2,
    max_rejections=3,
)


def said(text: str, intent: str = "faq") -> NluResult:
    return NluResult(
        text=text, intent=IntentScore(intent, 0.9), ranking=(), sentiment=sentiment(text)
    )


@pytest.mark.parametrize(
    "text",
    [
        "this is useless, your bot is garbage",
        "I asked three times",
        "how many times do I have to say it",
        "I already told you my order number",
        "you are not helping at all",
    ],
)
def test_frustration_the_customer_puts_in_words(text: str) -> None:
    assert escalation.frustration(said(text), [], RULES) is not None


@pytest.mark.parametrize(
    "text",
    [
        "the app is useless since the update",  # a fault to troubleshoot, not anger at the bot
        "my parcel arrived damaged",
        "does the tracking page help me find it?",
        "where is my order",
    ],
)
def test_complaints_about_a_fault_are_not_frustration(text: str) -> None:
    assert escalation.frustration(said(text), [], RULES) is None


def test_the_same_question_again_in_capitals_is_frustration() -> None:
    upset = escalation.frustration(said("WHERE IS MY ORDER"), ["where is my order?"], RULES)
    assert upset is not None and upset.priority == "high"


def test_a_run_of_negative_messages_is_frustration_though_none_passes_the_threshold() -> None:
    calm = said("still not synced")
    assert escalation.frustration(calm, [], RULES, sentiments=[-0.4, -0.5]) is None
    assert escalation.frustration(calm, [], RULES, sentiments=[-0.4, -0.5, -0.35]) is not None


def test_a_human_request_keyword_counts_only_when_no_intent_was_found() -> None:
    assert escalation.human_request(said("the delivery agent left it outside"), RULES) is None
    ask = escalation.human_request(said("agent please", FALLBACK_INTENT), RULES)
    assert ask is not None and ask.reason == "customer_request"


def test_limits_hand_off_at_the_configured_count() -> None:
    assert escalation.fallbacks_exhausted(1, RULES) is None
    assert escalation.fallbacks_exhausted(2, RULES) is not None
    assert escalation.rejections_exhausted("order_id", 2, RULES) is None
    done = escalation.rejections_exhausted("order_id", 3, RULES)
    assert done is not None and done.reason == "too_many_rejections"
