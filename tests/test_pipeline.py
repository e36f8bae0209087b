"""The pipeline on the example bot with hand-built NLU results: decisions that depend on exact
confidences are tested here, where the confidences are chosen, not learned."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from botsvc.domain import Customer, DialogueState, IntentScore, NluResult, TurnContext
from botsvc.embedding import Embedder
from botsvc.project import Project, load_project

pytestmark = pytest.mark.anyio
CTX = TurnContext(conversation_id="p1", customer=Customer(id="u"), channel="web", metadata={})


@pytest.fixture
async def project(example_project: Path, embedder: Embedder) -> AsyncIterator[Project]:
    async with httpx.AsyncClient() as http:
        yield load_project(example_project, embedder=embedder, http=http)


def nlu(
    text: str, *ranking: tuple[str, float], ambiguous: bool = False, sentiment: float = 0.0
) -> NluResult:
    scores = tuple(IntentScore(n, c) for n, c in ranking)
    return NluResult(
        text=text, intent=scores[0], ranking=scores, ambiguous=ambiguous, sentiment=sentiment
    )


async def test_close_intents_get_a_did_you_mean_choice(
    project: Project, embedder: Embedder
) -> None:
    text = "my order is wrong"
    out = await project.pipeline.run(
        nlu(text, ("check_order_status", 0.46), ("request_refund", 0.41), ambiguous=True),
        embedder.encode([text])[0],
        DialogueState(),
        CTX,
    )
    [message] = out.messages
    assert [b.payload for b in message.buttons] == ["/check_order_status", "/request_refund"]
    assert out.handoff is None and out.state.stack == []


async def test_the_did_you_mean_trace_keeps_the_intent_floor_note(
    project: Project, embedder: Embedder
) -> None:
    text = "my order is wrong"  # both intents are under the example's floor of 0.5
    out = await project.pipeline.run(
        nlu(text, ("check_order_status", 0.46), ("request_refund", 0.41), ambiguous=True),
        embedder.encode([text])[0],
        DialogueState(),
        CTX,
    )
    assert out.trace.decision == "ambiguous intents: offered a choice"
    assert out.trace.intent_floor == "check_order_status 0.46 < 0.5"


async def test_a_very_negative_message_hands_off_with_high_priority(
    project: Project, embedder: Embedder
) -> None:
    text = "this is the worst service ever, I hate it"
    out = await project.pipeline.run(
        nlu(text, ("faq", 0.7), sentiment=-0.85), embedder.encode([text])[0], DialogueState(), CTX
    )
    assert out.handoff is not None
    assert (out.handoff.reason, out.handoff.priority) == ("negative_sentiment", "high")


async def test_intent_below_the_project_floor_is_treated_as_not_understood(
    project: Project,
    embedder: Embedder,
) -> None:
    text = "blorp"  # intent_min_confidence is 0.5 in flows/escalation.yml
    out = await project.pipeline.run(
        nlu(text, ("request_refund", 0.45)), embedder.encode([text])[0], DialogueState(), CTX
    )
    assert out.handled_by == "fallback" and out.flow is None
    assert out.trace.intent_floor is not None


async def test_off_topic_small_talk_is_declined_and_never_counted_towards_a_handoff(
    project: Project, embedder: Embedder
) -> None:
    state = DialogueState()
    for text, ranking in [
        ("will it rain in Oslo", ("out_of_scope", 0.7)),
        ("who won the cup final", ("nlu_fallback", 0.5)),  # off topic by its ranking
        ("sing me a song about cats", ("out_of_scope", 0.6)),
    ]:
        scores = (ranking, ("out_of_scope", 0.47)) if ranking[0] == "nlu_fallback" else (ranking,)
        out = await project.pipeline.run(nlu(text, *scores), embedder.encode([text])[0], state, CTX)
        assert out.handoff is None and out.handled_by == "fallback"
        assert out.messages[0].response == "utter_out_of_scope"
        assert out.trace.decision.startswith("off topic")
        state = out.state
    assert state.consecutive_fallbacks == 0
    # then two real misses still hand off
    for text in ("the blue thingy, you know", "hmm what about the other one"):
        out = await project.pipeline.run(
            nlu(text, ("nlu_fallback", 0.5), ("out_of_scope", 0.2)),
            embedder.encode([text])[0],
            state,
            CTX,
        )
        state = out.state
    assert out.handoff is not None and out.handoff.reason == "low_confidence"


async def test_ok_with_no_flow_waiting_is_acknowledged_not_misunderstood(
    project: Project, embedder: Embedder
) -> None:
    out = await project.pipeline.run(
        nlu("ok", ("affirm", 0.9)), embedder.encode(["ok"])[0], DialogueState(), CTX
    )
    assert out.handoff is None and out.messages[0].response == "utter_acknowledge"
    assert out.state.consecutive_fallbacks == 0
