"""Customer-facing routes: messages, the conversation, its long-poll, NLU and KB look-ups, and
Rasa's REST channel (existing Rasa chat widgets work unchanged)."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from botsvc.api import render
from botsvc.api import schemas as s
from botsvc.api.deps import ApiKey, State, StateDep
from botsvc.domain import Customer
from botsvc.nlu.parser import parse_response
from botsvc.service import IncomingMessage, TurnResult

router = APIRouter(dependencies=[ApiKey])


async def post(
    st: State,
    conversation_id: str,
    text: str,
    *,
    customer: Customer | None,
    channel: str,
    metadata: dict[str, Any],
) -> TurnResult:
    started = time.perf_counter()
    result = await st.service.post_message(
        conversation_id,
        IncomingMessage(text=text, customer=customer, channel=channel, metadata=metadata),
    )
    st.metrics.count_turn(result, time.perf_counter() - started)
    return result


@router.post("/v1/conversations/{conversation_id}/messages")
async def post_message(conversation_id: str, body: s.MessageIn, st: StateDep) -> s.TurnOut:
    c = body.customer
    customer = (
        None if c is None else Customer(id=c.id, name=c.name, email=c.email, metadata=c.metadata)
    )
    result = await post(
        st,
        conversation_id,
        body.text,
        customer=customer,
        channel=body.channel,
        metadata=body.metadata,
    )
    return render.turn_out(result)


@router.get("/v1/conversations/{conversation_id}")
async def get_conversation(conversation_id: str, st: StateDep) -> s.ConversationOut:
    view = await st.service.conversation(conversation_id)
    return render.conversation_out(view.conversation, view.messages, view.handoff, view.turns)


@router.post("/v1/conversations/{conversation_id}/turns/{turn_id}/feedback")
async def post_feedback(
    conversation_id: str, turn_id: str, body: s.FeedbackIn, st: StateDep
) -> s.FeedbackOut:
    """'Was this helpful?' on a turn's answer; asking again replaces the earlier answer."""
    fb = await st.service.record_feedback(
        conversation_id, turn_id, helpful=body.helpful, comment=body.comment
    )
    return s.FeedbackOut(
        conversation_id=fb.conversation_id,
        turn_id=fb.turn_id,
        helpful=fb.helpful,
        comment=fb.comment,
    )


@router.get("/v1/conversations/{conversation_id}/events")
async def events(
    conversation_id: str,
    st: StateDep,
    after: Annotated[int, Query(ge=0)] = 0,
    timeout: Annotated[float, Query(ge=0, le=60)] = 25.0,
) -> s.EventsOut:
    found = await st.feed.wait(conversation_id, after=after, timeout_s=timeout)
    return s.EventsOut(
        messages=[render.message_out(m) for m in found],
        next_after=found[-1].seq if found else after,
    )


@router.post("/v1/nlu/parse")
async def parse(body: s.ParseIn, st: StateDep) -> dict[str, Any]:
    return parse_response(await st.service.parse(body.text))


@router.post("/v1/kb/search")
async def kb_search(body: s.KbSearchIn, st: StateDep) -> s.KbSearchOut:
    hits = await st.service.search_kb(body.query, top_k=body.top_k)
    return s.KbSearchOut(results=[render.kb_result_out(h) for h in hits])


@router.post(
    "/webhooks/rest/webhook",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": s.RestIn.model_json_schema()}},
        }
    },
)
async def rest_webhook(request: Request, st: StateDep) -> list[dict[str, Any]]:
    """Rasa's REST channel: `sender` is the conversation id. The body is read as JSON whatever
    its content type, as Rasa does: Rasa's chat widget posts it as text/plain."""
    body = _rest_body(await request.body())
    result = await post(
        st,
        body.sender,
        body.message,
        customer=None,
        channel=body.input_channel or "rest",
        metadata=body.metadata,
    )
    return [item for m in result.messages for item in render.rest_reply(body.sender, m)]


def _rest_body(raw: bytes) -> s.RestIn:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "invalid JSON"}]
        ) from exc
    try:
        return s.RestIn.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from exc
