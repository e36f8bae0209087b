"""The `handoff.created` webhook body: everything an agent needs to pick the conversation up.

Built inside the customer's turn, before the turn is stored, so that the handoff and its outbox
row are written in one transaction: the turn's own messages appear with `seq: null`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from botsvc.domain import Customer, HandoffRequest, Outcome
from botsvc.helpdesk.hours import BusinessHours
from botsvc.helpdesk.payloads import (
    HandoffCreated,
    HandoffInfo,
    OtherConversation,
    TranscriptEntry,
    customer_out,
    iso,
    summarise,
    transcript,
    turn_trace,
)
from botsvc.store import Conversation, Handoff, NewMessage, Store, TurnRecord

__all__ = ["HandoffLinks", "handoff_created"]


@dataclass(frozen=True)
class HandoffLinks:
    """Where the helpdesk answers: the service's public URL."""

    public_url: str

    def reply_url(self, handoff_id: str) -> str:
        return f"{self.public_url.rstrip('/')}/v1/handoffs/{handoff_id}/messages"

    def resolve_url(self, handoff_id: str) -> str:
        return f"{self.public_url.rstrip('/')}/v1/handoffs/{handoff_id}/resolve"


TRANSCRIPT_MESSAGES = 200  # the rest of a longer transcript is one GET of the conversation away


async def handoff_created(
    store: Store,
    *,
    conv: Conversation,
    customer: Customer,
    channel: str,
    outcome: Outcome,
    handoff: Handoff,
    turn: TurnRecord,
    new_messages: Sequence[NewMessage],
    links: HandoffLinks,
    hours: BusinessHours | None,
    human_intents: frozenset[str],
    now: float,
) -> dict[str, Any]:
    request: HandoffRequest | None = outcome.handoff
    assert request is not None, "a handoff payload needs the pipeline's handoff request"
    # the newest of a long conversation (what the customer needs now), and how many are left out
    recent, earlier = await store.newest_messages(conv.id, limit=TRANSCRIPT_MESSAGES)
    entries = transcript(recent, await store.turns(conv.id))
    trace = turn_trace(turn)
    entries += [
        TranscriptEntry(
            seq=None,
            role=m.role,
            text=m.text,
            at=iso(now),
            turn_id=turn.id,
            trace=trace if m.role == "customer" else None,
        )
        for m in new_messages
    ]
    updated = replace(
        conv,
        customer=customer,
        channel=channel,
        status="human",
        state=outcome.state,
        handoff_id=handoff.id,
        updated_at=now,
    )
    frame = outcome.state.active
    position = (
        {"flow_id": frame.flow_id, "step_id": frame.step_id}
        if frame
        else None
        if outcome.flow is None
        else {"flow_id": outcome.flow.flow_id, "step_id": outcome.flow.step_id}
    )
    payload = HandoffCreated(
        handoff=HandoffInfo(
            id=handoff.id,
            reason=handoff.reason,
            detail=request.detail,
            language=request.language,
            priority=handoff.priority,
            status="open",
            created_at=iso(handoff.created_at),
        ),
        conversation_id=conv.id,
        channel=channel,
        customer=customer_out(customer),
        summary=summarise(
            updated, entries, handoff.reason, detail=request.detail, human_intents=human_intents
        ),
        slots=dict(outcome.state.slots),
        active_flow=position,
        transcript=entries,
        transcript_omitted=earlier,
        other_conversations=await _others(store, customer.id, exclude=conv.id),
        reply_url=links.reply_url(handoff.id),
        resolve_url=links.resolve_url(handoff.id),
        business_hours=None if hours is None else {"open_now": hours.is_open(now)},
    )
    return payload.model_dump(mode="json")


async def _others(store: Store, customer_id: str, *, exclude: str) -> list[OtherConversation]:
    """The customer's other conversations, newest first, each with its last message."""
    others = await store.customer_conversations(customer_id, exclude=exclude)
    last = await store.last_messages([o.id for o in others])
    return [
        OtherConversation(
            id=o.id,
            channel=o.channel,
            status=o.status,
            updated_at=iso(o.updated_at),
            last_message=last[o.id].text if o.id in last else None,
        )
        for o in others
    ]
