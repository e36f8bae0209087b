"""Request and response bodies of the HTTP API (v1). Only the api package uses these.

Request bodies are `Strict`: a misspelt field is a 422, not silently ignored. Rasa's REST
channel body is the exception, because Rasa clients send keys of their own."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# Ids and names the store keeps: printable, bounded, the same rule on SQLite and PostgreSQL.
# A conversation id is at most 128 characters so that the ids made from it ("anonymous:<id>",
# a Rasa sender's "rasa:<sender>") fit the store's 200-character columns.
MAX_ID = 128
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
MAX_METADATA_DEPTH = 10
MAX_METADATA_BYTES = 16 * 1024


def _json_safe(value: dict[str, Any]) -> dict[str, Any]:
    """Metadata the store, the webhooks and every later handoff can carry: nested at most
    MAX_METADATA_DEPTH deep, at most MAX_METADATA_BYTES as JSON, finite numbers, no NUL."""

    def walk(v: Any, depth: int) -> None:
        if depth > MAX_METADATA_DEPTH:
            raise ValueError(f"nested deeper than {MAX_METADATA_DEPTH} levels")
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError("numbers must be finite (no NaN or Infinity)")
        if isinstance(v, str) and "\x00" in v:
            raise ValueError("text must not contain NUL characters")
        if isinstance(v, dict):
            for k, item in v.items():
                if "\x00" in k:
                    raise ValueError("keys must not contain NUL characters")
                walk(item, depth + 1)
        elif isinstance(v, list):
            for item in v:
                walk(item, depth + 1)

    walk(value, 1)
    if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"larger than {MAX_METADATA_BYTES // 1024} KiB as JSON")
    return value


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters")
    return text


Metadata = Annotated[dict[str, Any], AfterValidator(_json_safe)]
Text = Annotated[str, AfterValidator(_no_nul)]

ConversationId = Annotated[
    str, Path(min_length=1, max_length=MAX_ID, pattern=PRINTABLE, description="your id for it")
]


class Strict(BaseModel):
    """A request body: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


class CustomerIn(Strict):
    id: str = Field(min_length=1, max_length=200, pattern=PRINTABLE)
    # the site's HMAC-SHA256 (hex) of `id` with its identity secret: only then is `id` trusted
    user_hash: str | None = Field(default=None, max_length=128)
    name: Text | None = Field(default=None, max_length=200)
    email: Text | None = Field(default=None, max_length=320)
    metadata: Metadata = Field(default_factory=dict)


class MessageIn(Strict):
    text: Text = Field(min_length=1, max_length=5000)
    customer: CustomerIn | None = None
    channel: str = Field("web", min_length=1, max_length=50, pattern=PRINTABLE)
    metadata: Metadata = Field(default_factory=dict)


class ButtonOut(BaseModel):
    title: str
    payload: str


class BotMessageOut(BaseModel):
    text: str
    buttons: list[ButtonOut] | None = None
    image: str | None = None
    custom: Any = None
    attachment: Any = None


class IntentOut(BaseModel):
    name: str
    confidence: float


class FlowOut(BaseModel):
    id: str
    step: str | None


class SourceOut(BaseModel):
    title: str
    url: str | None = None
    score: float
    section: str | None = None  # the heading path within the article, when it has headings


class HandoffOut(BaseModel):
    id: str
    status: str
    reason: str
    priority: str | None = None


class TurnOut(BaseModel):
    conversation_id: str
    turn_id: str
    messages: list[BotMessageOut]
    handled_by: str
    intent: IntentOut | None
    flow: FlowOut | None
    sources: list[SourceOut]
    handoff: HandoffOut | None
    # on the first response of a conversation only: send it as X-Conversation-Token from then on
    conversation_token: str | None = None


class FeedbackIn(BaseModel):
    helpful: bool
    comment: Text | None = Field(default=None, max_length=1000)


class RatingIn(Strict):
    score: int = Field(ge=1, le=5)
    comment: Text | None = Field(default=None, max_length=1000)


class RatingOut(BaseModel):
    conversation_id: str
    handoff_id: str | None
    score: int
    comment: str | None


class FeedbackOut(BaseModel):
    conversation_id: str
    turn_id: str
    helpful: bool
    comment: str | None


class TranscriptMessageOut(BaseModel):
    seq: int
    role: str
    text: str
    turn_id: str | None
    at: str
    buttons: list[ButtonOut] | None = None
    agent: dict[str, Any] | None = None
    event: str | None = None  # a system message's: "agent_joined", "resolved"
    response: str | None = None  # a bot message's response name (`utter_...`)
    image: str | None = None
    custom: Any = None
    attachment: Any = None


class TurnSummaryOut(BaseModel):
    """What the bot did on one customer message, for tools that check a conversation."""

    turn_id: str
    text: str
    handled_by: str
    decision: str
    responses: list[str]  # the response names said, in order
    actions: list[str]  # custom actions run, then the responses said
    events: list[dict[str, Any]]  # the flows' event log: flow_started, slot_filled, ...


class ConversationOut(BaseModel):
    conversation_id: str
    status: str
    channel: str
    customer: CustomerIn
    slots: dict[str, Any]
    flow: FlowOut | None
    handoff: HandoffOut | None
    created_at: str
    updated_at: str
    messages: list[TranscriptMessageOut]
    turns: list[TurnSummaryOut] = []
    next_after: int | None = None  # more messages follow: GET again with ?after=next_after


class EventsOut(BaseModel):
    messages: list[TranscriptMessageOut]
    next_after: int


class ParseIn(Strict):
    text: Text = Field(min_length=1, max_length=5000)


class KbSearchIn(Strict):
    query: Text = Field(min_length=1, max_length=2000)
    top_k: int = Field(5, ge=1, le=50)


class KbResultOut(BaseModel):
    id: str
    title: str
    text: str
    url: str | None = None
    score: float


class KbSearchOut(BaseModel):
    results: list[KbResultOut]


class AgentIn(Strict):
    id: str = Field(min_length=1)
    name: str | None = None
    email: str | None = None


class AgentMessageIn(Strict):
    text: Text = Field(min_length=1, max_length=10000)
    agent: AgentIn


class ResolveIn(Strict):
    note: Text | None = Field(default=None, max_length=5000)


class RestIn(BaseModel):
    sender: str = Field(min_length=1, max_length=MAX_ID - 8, pattern=PRINTABLE)
    message: Text = Field(min_length=1, max_length=5000)
    metadata: Metadata = Field(default_factory=dict)
    input_channel: str | None = Field(default=None, max_length=50, pattern=PRINTABLE)


class OutboxRowOut(BaseModel):
    id: str
    event: str
    conversation_id: str
    status: str
    attempts: int
    next_attempt_at: str
    last_error: str | None
    created_at: str
    delivered_at: str | None


class RetryIn(Strict):
    ids: list[str] | None = None
