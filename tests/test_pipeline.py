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
