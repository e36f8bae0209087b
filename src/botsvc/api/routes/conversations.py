"""Customer-facing routes: messages, the conversation, its live events (long-poll and Server-Sent
Events), feedback and ratings, NLU and KB look-ups, and Rasa's REST channel (existing Rasa chat
widgets work unchanged).

Every route on an existing conversation needs its conversation token (or a server key); see
botsvc/access.py."""

from __future__ import annotations

import json
import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from botsvc.access import RASA_PREFIX, TRUSTED, Access, vouched_customer
from botsvc.api import render, sse
from botsvc.api import schemas as s
from botsvc.api.deps import ApiKey, State, StateDep, access, rate_key
from botsvc.api.errors import ApiError
from botsvc.domain import Customer
from botsvc.logs import log_event
from botsvc.nlu.parser import parse_response
from botsvc.service import IncomingMessage, TurnResult

router = APIRouter(dependencies=[ApiKey])
MAX_SEQ = 2**31 - 1  # message numbers are 32-bit on PostgreSQL
log = logging.getLogger(__name__)


def server_timing(timings_ms: dict[str, float]) -> str:
    """The turn's stages as a Server-Timing header (browsers' dev tools and load tools read it)."""
    return ", ".join(f"{name};dur={ms}" for name, ms in timings_ms.items())


async def post(
    st: State,
    conversation_id: s.ConversationId,
    text: str,
    *,
    customer: Customer | None,
    channel: str,
    metadata: dict[str, Any],
    access: Access = TRUSTED,
    idempotency_key: str | None = None,
) -> TurnResult:
    started = time.perf_counter()
    result = await st.service.post_message(
        conversation_id,
        IncomingMessage(
            text=text,
            customer=customer,
            channel=channel,
            metadata=metadata,
            idempotency_key=idempotency_key,
        ),
        access,
    )
    st.metrics.count_turn(result, time.perf_counter() - started)
    log_event(
        log,
        "turn",
        conversation_id=conversation_id,
        turn_id=result.turn_id,
        channel=channel,
        text=text,  # masked by the log formatter, whatever BOTSVC_REDACT says
        handled_by=result.handled_by,
        intent=result.intent.name if result.intent else None,
        confidence=round(result.intent.confidence, 3) if result.intent else None,
        flow=result.flow.flow_id if result.flow else None,
        handoff_id=result.handoff.id if result.handed_off_now and result.handoff else None,
        handoff_reason=result.handoff.reason if result.handed_off_now and result.handoff else None,
        timings_ms=result.timings_ms,
    )
    return result


@router.post("/v1/conversations/{conversation_id}/messages")
async def post_message(
    conversation_id: s.ConversationId,
    body: s.MessageIn,
    request: Request,
    response: Response,
    st: StateDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            pattern=s.PRINTABLE,
            description="a retry with the same key within a day gets the first answer again",
        ),
    ] = None,
) -> s.TurnOut:
    if conversation_id.startswith(RASA_PREFIX):
        raise ApiError(
            422,
            "invalid_conversation_id",
            f"ids starting with {RASA_PREFIX!r} belong to Rasa's channels",
        )
    st.limits.check(conversation_id, rate_key(request))
    who = access(request, st)
    c = body.customer
    customer = None
    if c is not None:
        secret = st.settings.identity_secret
        customer = vouched_customer(
            Customer(id=c.id, name=c.name, email=c.email, metadata=c.metadata),
            conversation_id=conversation_id,
            given_hash=c.user_hash,
            identity_secret=secret.get_secret_value() if secret else None,
            trusted=who.trusted,
        )
    result = await post(
        st,
        conversation_id,
        body.text,
        customer=customer,
        channel=body.channel,
        metadata=body.metadata,
        access=who,
        idempotency_key=idempotency_key,
    )
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        response.headers["Server-Timing"] = server_timing(result.timings_ms)
    return render.turn_out(result)


@router.get("/v1/conversations/{conversation_id}")
async def get_conversation(
    conversation_id: s.ConversationId,
    request: Request,
    st: StateDep,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ, description="messages after this seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> s.ConversationOut:
    """The conversation and a page of its transcript, oldest first; `next_after` is set when
    there are more messages (ask again with `?after=`)."""
    st.keys.check(conversation_id, access(request, st))
    view = await st.service.conversation(conversation_id, after=after, limit=limit)
    out = render.conversation_out(view.conversation, view.messages, view.handoff, view.turns)
    return out.model_copy(update={"next_after": view.next_after})


@router.post("/v1/conversations/{conversation_id}/turns/{turn_id}/feedback")
async def post_feedback(
    conversation_id: s.ConversationId,
    turn_id: str,
    body: s.FeedbackIn,
    request: Request,
    st: StateDep,
) -> s.FeedbackOut:
    """'Was this helpful?' on a turn's answer; asking again replaces the earlier answer."""
    st.keys.check(conversation_id, access(request, st))
    fb = await st.service.record_feedback(
        conversation_id, turn_id, helpful=body.helpful, comment=body.comment
    )
    return s.FeedbackOut(
        conversation_id=fb.conversation_id,
        turn_id=fb.turn_id,
        helpful=fb.helpful,
        comment=fb.comment,
    )


@router.post("/v1/conversations/{conversation_id}/rating")
async def post_rating(
    conversation_id: s.ConversationId, body: s.RatingIn, request: Request, st: StateDep
) -> s.RatingOut:
    """CSAT: the customer rates the conversation (its latest handoff), 1 to 5; rating the same
    handoff again replaces the earlier rating."""
    st.keys.check(conversation_id, access(request, st))
    r = await st.service.record_rating(conversation_id, score=body.score, comment=body.comment)
    return s.RatingOut(
        conversation_id=r.conversation_id, handoff_id=r.handoff_id, score=r.score, comment=r.comment
    )


@router.get("/v1/conversations/{conversation_id}/events")
async def events(
    conversation_id: s.ConversationId,
    request: Request,
    st: StateDep,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
    timeout: Annotated[float, Query(ge=0, le=60)] = 25.0,
) -> s.EventsOut:
    """A long-poll: the messages after `after`, as soon as there are any."""
    st.keys.check(conversation_id, access(request, st))
    found = await st.feed.wait(conversation_id, after=after, timeout_s=timeout)
    return s.EventsOut(
        messages=[render.message_out(m) for m in found],
        next_after=found[-1].seq if found else after,
    )


@router.get(
    "/v1/conversations/{conversation_id}/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    conversation_id: s.ConversationId,
    request: Request,
    st: StateDep,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
) -> StreamingResponse:
    """Server-Sent Events: every message stored in the conversation after `after` (or the
    `Last-Event-ID` a reconnecting EventSource sends), as `event: message`, `id: <seq>`."""
    st.keys.check(conversation_id, access(request, st))
    await st.store.get_conversation(conversation_id)  # NotFound before the stream starts
    last_id = request.headers.get("last-event-id", "")
    start = int(last_id) if last_id.isdigit() else after
    return StreamingResponse(
        sse.message_events(st.feed, conversation_id, after=start),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
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
    response_model=list[dict[str, Any]],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": s.RestIn.model_json_schema()}},
        }
    },
)
async def rest_webhook(request: Request, st: StateDep, stream: bool = False) -> Any:
    """Rasa's REST channel: the client's `sender` is its conversation (conversation id
    `rasa:<sender>`). The body is read as JSON whatever its content type, as Rasa does: Rasa's
    chat widget posts it as text/plain. With `?stream=true` the reply is one JSON message per
    line, as Rasa streams it."""
    body = _rest_body(await request.body())
    st.limits.check(RASA_PREFIX + body.sender, rate_key(request))
    result = await post(
        st,
        RASA_PREFIX + body.sender,
        body.message,
        customer=None,
        channel=body.input_channel or "rest",
        metadata=body.metadata,
    )
    replies = [item for m in result.messages for item in render.rest_reply(body.sender, m)]
    if stream:
        lines = (json.dumps(r) + "\n" for r in replies)
        return StreamingResponse(lines, media_type="text/event-stream")
    return replies


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
