"""The figures on a small store whose every answer is known, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest

from botsvc.domain import Customer, DialogueState
from botsvc.store import (
    Feedback,
    FigureWindow,
    FlowEvent,
    Handoff,
    NewMessage,
    Store,
    TurnRecord,
    TurnWrite,
)

pytestmark = pytest.mark.anyio
NOW = time.time()


async def _turn(
    store: Store,
    conv: str,
    customer: str,
    *,
    intent: str | None,
    handled_by: str,
    channel: str = "web",
    flow: tuple[str, str] | None = None,
    events: tuple[FlowEvent, ...] = (),
    handoff: Handoff | None = None,
    at: float = NOW,
) -> str:
    owner = uuid.uuid4().hex
    await store.lock_conversation(
        conv, owner=owner, customer=Customer(id=customer), channel=channel
    )
    turn_id = uuid.uuid4().hex
    await store.save_turn(
        TurnWrite(
            conversation_id=conv,
            lock_owner=owner,
            turn=TurnRecord(
                id=turn_id,
                conversation_id=conv,
                text="...",
                handled_by=handled_by,
                trace={},
                created_at=at,
                intent=intent,
                confidence=0.8 if intent else None,
                flow_id=flow[0] if flow else None,
                step_id=flow[1] if flow else None,
            ),
            messages=(NewMessage("customer", "..."),),
            state=DialogueState(),
            status="human" if handoff else "bot",
            handoff_id=handoff.id if handoff else None,
            new_handoff=handoff,
            flow_events=events,
        )
    )
    return turn_id


async def _fill(store: Store) -> None:
    started, done = FlowEvent("order_status", "started"), FlowEvent("order_status", "completed")
    # u1 asks about an order, is answered, and asks again in a second conversation
    await _turn(
        store,
        "a",
        "u1",
        intent="check_order",
        handled_by="flow",
        events=(started,),
        flow=("order_status", "ask_order_id"),
    )
    await _turn(store, "a", "u1", intent="inform", handled_by="flow", events=(done,))
    await _turn(
        store,
        "b",
        "u1",
        intent="check_order",
        handled_by="flow",
        events=(started,),
        flow=("order_status", "ask_order_id"),
    )  # and stops at the question
    # u2, on another channel, is not understood and handed to a person, who answers and resolves
    ho = Handoff(
        id="ho-1",
        conversation_id="c",
        status="open",
        reason="low_confidence",
        priority="normal",
        created_at=NOW + 5,
    )
    await _turn(store, "c", "u2", intent="nlu_fallback", handled_by="fallback", channel="rest")
    await _turn(
        store, "c", "u2", intent="nlu_fallback", handled_by="human", channel="rest", handoff=ho
    )
    await store.update_handoff(
        dataclasses.replace(ho, agent_replied_at=NOW + 35, resolved_at=NOW + 305, status="resolved")
    )
    await store.record_rating("c", score=5, comment=None, at=NOW + 400)
    # an anonymous visitor gets a KB answer and says it did not help
    kb_turn = await _turn(store, "d", "anonymous:d", intent="nlu_fallback", handled_by="kb")
    await store.record_feedback(
        Feedback(turn_id=kb_turn, conversation_id="d", helpful=False, comment=None, created_at=NOW)
    )


async def test_every_figure_of_a_known_store(store: Store) -> None:
    await _fill(store)
    f = await store.figures(FigureWindow(since=NOW - 3600, until=NOW + 3600))
    assert (f.conversations, f.by_channel, f.engaged) == (4, {"web": 3, "rest": 1}, 4)
    assert (f.containment_rate, f.escalation_rate) == (0.75, 0.25)
    assert f.handoffs_by_reason == {"low_confidence": 1}
    assert f.handoffs_by_priority == {"normal": 1}
    assert f.time_to_first_agent_reply.median_s == 30.0
    assert f.resolution_time.median_s == 300.0
    # a: u1 came back about the same order within the week; b and c were resolved at first
    # contact; d's visitor cannot be recognised, so it is not counted
    assert (f.fcr_rate, f.fcr_conversations) == (round(2 / 3, 4), 3)
    assert f.csat == {"responses": 1, "average": 5.0, "satisfied_rate": 1.0, "response_rate": 0.25}
    assert (f.bot_turns, f.fallback_rate) == (6, round(1 / 6, 4))
    assert f.helpful == {"kb_answers": 1, "responses": 1, "helpful_rate": 0.0, "response_rate": 1.0}
    [funnel] = f.funnel
    assert (funnel.flow_id, funnel.started, funnel.completed) == ("order_status", 2, 1)
    assert funnel.dropped == {"ask_order_id": 1}
    intents = {i["intent"]: i["turns"] for i in f.intents}
    assert intents == {"check_order": 2, "inform": 1, "nlu_fallback": 3}
    [day] = f.daily
    assert (day["conversations"], day["turns"], day["fallbacks"], day["handoffs"]) == (4, 6, 1, 1)


async def test_a_channel_and_an_empty_window(store: Store) -> None:
    await _fill(store)
    rest = await store.figures(FigureWindow(since=NOW - 3600, until=NOW + 3600, channel="rest"))
    assert (rest.conversations, rest.escalation_rate, rest.funnel) == (1, 1.0, [])
    later = await store.figures(FigureWindow(since=NOW + 3600, until=NOW + 7200))
    assert (later.conversations, later.containment_rate, later.fcr_rate) == (0, None, None)
