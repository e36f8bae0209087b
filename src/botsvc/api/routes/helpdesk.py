"""Helpdesk routes: agents reply and resolve; the webhook schema is public."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from botsvc.api import render
from botsvc.api import schemas as s
from botsvc.api.deps import Helpdesk, StateDep
from botsvc.domain import Priority
from botsvc.helpdesk.payloads import webhook_schema
from botsvc.store import HandoffFilter, HandoffStatus, HandoffSummary

router = APIRouter()


@router.post("/v1/handoffs/{handoff_id}/messages", dependencies=[Helpdesk])
async def agent_message(
    handoff_id: str, body: s.AgentMessageIn, st: StateDep
) -> s.TranscriptMessageOut:
    saved = await st.agents.reply(
        handoff_id, text=body.text, agent=body.agent.model_dump(exclude_none=True)
    )
    return render.message_out(saved)


@router.post("/v1/handoffs/{handoff_id}/resolve", dependencies=[Helpdesk])
async def resolve(handoff_id: str, st: StateDep, body: s.ResolveIn | None = None) -> s.HandoffOut:
    resolved = await st.agents.resolve(handoff_id, note=body.note if body else None)
    return render.handoff_out(resolved)


@router.get("/v1/handoffs", dependencies=[Helpdesk])
async def list_handoffs(
    st: StateDep,
    request: Request,
    response: Response,
    status: HandoffStatus | None = None,
    reason: Annotated[str | None, Query(max_length=200)] = None,
    priority: Priority | None = None,
    channel: Annotated[str | None, Query(max_length=50)] = None,
    customer_id: Annotated[str | None, Query(max_length=200)] = None,
    conversation_id: Annotated[str | None, Query(max_length=s.MAX_ID)] = None,
    since: float | None = None,
    until: float | None = None,
    before: float | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[HandoffSummary]:
    """Handoffs, newest first, filtered as a queue view needs; times are UNIX seconds. When
    there may be more, a `Link: <...>; rel="next"` header gives the next page."""
    found = await st.store.browse_handoffs(
        HandoffFilter(
            status=status,
            reason=reason,
            priority=priority,
            channel=channel,
            customer_id=customer_id,
            conversation_id=conversation_id,
            since=since,
            until=until,
            before=before,
            limit=limit,
        )
    )
    if len(found) == limit:
        following = request.url.include_query_params(before=found[-1].created_at)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return found


@router.get("/v1/schemas/handoff.json")
async def handoff_schema() -> dict[str, Any]:
    return webhook_schema()
