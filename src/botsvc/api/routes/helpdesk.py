"""Helpdesk routes: agents reply and resolve; the webhook schema is public."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from botsvc.api import render
from botsvc.api import schemas as s
from botsvc.api.deps import Helpdesk, StateDep
from botsvc.helpdesk.payloads import webhook_schema
from botsvc.store import HandoffStatus

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
async def list_handoffs(st: StateDep, status: HandoffStatus | None = None) -> list[s.HandoffOut]:
    return [render.handoff_out(h) for h in await st.store.list_handoffs(status=status)]


@router.get("/v1/schemas/handoff.json")
async def handoff_schema() -> dict[str, Any]:
    return webhook_schema()
