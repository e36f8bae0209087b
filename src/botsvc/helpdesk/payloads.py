"""Webhook payloads for the helpdesk: `handoff.created`, `message.created`, `conversation.resolved`.

The models here are the published contract (`GET /v1/schemas/handoff.json`); bump
SCHEMA_VERSION on any incompatible change.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from botsvc.domain import Customer, Priority, trace_from_json
from botsvc.store import Conversation, MessageRecord, TurnRecord

SCHEMA_VERSION = "1.1"  # 1.1: transcript_omitted


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


class CustomerOut(BaseModel):
    id: str
    name: str | None = None
    email: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class TurnTrace(BaseModel):
    """What the bot understood and decided on one customer message."""

    intent: dict[str, Any] | None = None
    entities: list[dict[str, Any]] = Field(default_factory=list)
    sentiment: float | None = None
    kb_hits: list[dict[str, Any]] = Field(default_factory=list)
    handled_by: str | None = None
    decision: str | None = None
    flow: dict[str, Any] | None = None


class TranscriptEntry(BaseModel):
    seq: int | None = Field(
        description="position in the store; null for messages of the turn being written"
    )
    role: Literal["customer", "bot", "agent", "system"]
    text: str
    at: str
    turn_id: str | None = None
    trace: TurnTrace | None = Field(None, description="on customer messages: the bot's reading")


class Summary(BaseModel):
    """What an agent reads first."""

    customer_wants: str = Field(description="the customer's request, in their words")
    intent: str | None = None
    slots: dict[str, Any] = Field(default_factory=dict)
    bot_tried: list[str] = Field(default_factory=list)
    sentiment_trend: list[float] = Field(default_factory=list)
    text: str = Field(description="one paragraph for the agent")


class OtherConversation(BaseModel):
    id: str
    channel: str
    status: str
    updated_at: str
    last_message: str | None = None


class HandoffInfo(BaseModel):
    id: str
    reason: str
    detail: str = ""
    language: str | None = Field(
        default=None, description="ISO 639-1 code, when the customer writes in another language"
    )
    priority: Priority
    status: Literal["open", "resolved"]
    created_at: str


class HandoffCreated(BaseModel):
    event: Literal["handoff.created"] = "handoff.created"
    schema_version: str = SCHEMA_VERSION
    handoff: HandoffInfo
    conversation_id: str
    channel: str
    customer: CustomerOut
    summary: Summary
    slots: dict[str, Any]
    active_flow: dict[str, Any] | None
    transcript: list[TranscriptEntry]
    transcript_omitted: int = Field(
        0, description="earlier messages not in `transcript`, which holds the newest ones"
    )
    other_conversations: list[OtherConversation]
    reply_url: str
    resolve_url: str
    business_hours: dict[str, Any] | None = None


class MessageCreated(BaseModel):
    event: Literal["message.created"] = "message.created"
    schema_version: str = SCHEMA_VERSION
    handoff_id: str
    conversation_id: str
    message: TranscriptEntry
    reply_url: str


class ConversationResolved(BaseModel):
    event: Literal["conversation.resolved"] = "conversation.resolved"
    schema_version: str = SCHEMA_VERSION
    handoff_id: str
    conversation_id: str
    note: str | None = None
    resolved_at: str


def webhook_schema() -> dict[str, Any]:
    """JSON Schema of every event body, one `oneOf` keyed by `event`."""
    from pydantic import TypeAdapter

    Event = HandoffCreated | MessageCreated | ConversationResolved
    schema = TypeAdapter(Event).json_schema()
    schema["$id"] = f"botsvc/handoff/{SCHEMA_VERSION}"
    schema["title"] = f"botsvc handoff webhook events, schema {SCHEMA_VERSION}"
    return schema


def customer_out(c: Customer) -> CustomerOut:
    return CustomerOut(id=c.id, name=c.name, email=c.email, metadata=dict(c.metadata))


def entry(m: MessageRecord, turn: TurnRecord | None) -> TranscriptEntry:
    """A stored message as the helpdesk sees it; a customer message carries its turn's trace."""
    return TranscriptEntry(
        seq=m.seq,
        role=m.role,
        text=m.text,
        at=iso(m.created_at),
        turn_id=m.turn_id,
        trace=turn_trace(turn) if turn is not None and m.role == "customer" else None,
    )


def transcript(messages: list[MessageRecord], turns: list[TurnRecord]) -> list[TranscriptEntry]:
    by_turn = {t.id: t for t in turns}
    return [entry(m, by_turn.get(m.turn_id or "")) for m in messages]


def turn_trace(t: TurnRecord) -> TurnTrace:
    trace = trace_from_json(t.trace)
    nlu = trace.nlu
    return TurnTrace(
        intent=None
        if nlu is None
        else {"name": nlu.intent.name, "confidence": round(nlu.intent.confidence, 4)},
        entities=[]
        if nlu is None
        else [
            {
                "entity": e.entity,
                "value": e.value,
                "start": e.start,
                "end": e.end,
                "extractor": e.extractor,
            }
            for e in nlu.entities
        ],
        sentiment=None if nlu is None else nlu.sentiment,
        kb_hits=[]
        if trace.kb is None
        else [{"id": h.id, "title": h.title, "score": h.score} for h in trace.kb.hits],
        handled_by=t.handled_by,
        decision=trace.decision or None,
        flow=None
        if trace.flow_position is None
        else {"flow_id": trace.flow_position.flow_id, "step_id": trace.flow_position.step_id},
    )


SMALL_TALK = frozenset(
    {"greet", "goodbye", "affirm", "deny", "thank_you", "bot_challenge", "nlu_fallback"}
)


REASONS = {
    "customer_request": "the customer asked for a person",
    "low_confidence": "the bot did not understand the customer",
    "frustration": "the customer is frustrated",
    "negative_sentiment": "the customer is upset",
    "language": "the customer writes in a language the bot does not speak",
    "too_many_rejections": "the customer's answers were not accepted",
    "action_failed": "a system the bot relies on failed",
}


def summarise(
    conv: Conversation,
    entries: list[TranscriptEntry],
    reason: str,
    *,
    detail: str = "",
    human_intents: frozenset[str] = frozenset(),
) -> Summary:
    said = [e for e in entries if e.role == "customer"]
    skip = SMALL_TALK | human_intents

    def intent_of(e: TranscriptEntry) -> str | None:
        return e.trace.intent.get("name") if e.trace and e.trace.intent else None

    # what the customer needs now: their latest message with a substantive intent (not "hi",
    # not "get me a person"), else their latest message
    asked = next(
        (e for e in reversed(said) if intent_of(e) not in skip and intent_of(e) is not None),
        None,
    )
    wants = asked.text if asked else (said[-1].text if said else "")
    intent = intent_of(asked) if asked else None
    tried = [
        f"{e.trace.handled_by}: {e.trace.decision}" for e in said if e.trace and e.trace.decision
    ]
    trend = [round(x, 2) for x in conv.state.sentiments[-10:]]
    mood = (
        "negative" if trend and sum(trend[-3:]) / len(trend[-3:]) < -0.2 else "neutral or positive"
    )
    slots = {k: v for k, v in conv.state.slots.items() if v is not None}
    why = REASONS.get(reason, reason.replace("_", " ")) + (f" ({detail})" if detail else "")
    text = (
        f"Customer {conv.customer.name or conv.customer.id} ({conv.channel}) was handed over "
        f'because {why}. What they need now, in their words: "{wants}". '
        + (f"Detected intent: {intent}. " if intent else "")
        + (f"Known details: {', '.join(f'{k}={v}' for k, v in slots.items())}. " if slots else "")
        + f"Mood: {mood}."
    )
    return Summary(
        customer_wants=wants,
        intent=intent,
        slots=slots,
        bot_tried=tried[-5:],
        sentiment_trend=trend,
        text=text,
    )
