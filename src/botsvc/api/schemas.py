"""Request and response bodies of the HTTP API (v1). Only the api package uses these.

Request bodies are `Strict`: a misspelt field is a 422, not silently ignored. Rasa's REST
channel body is the exception, because Rasa clients send keys of their own."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """A request body: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


class CustomerIn(Strict):
    id: str = Field(min_length=1, max_length=200)
    # the site's HMAC-SHA256 (hex) of `id` with its identity secret: only then is `id` trusted
    user_hash: str | None = Field(default=None, max_length=128)
    name: str | None = None
    email: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class MessageIn(Strict):
    text: str = Field(min_length=1, max_length=5000)
    customer: CustomerIn | None = None
    channel: str = Field("web", min_length=1, max_length=50)
    metadata: dict[str, Any] = Field(default_factory=dict)


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
    comment: str | None = Field(default=None, max_length=1000)


class RatingIn(Strict):
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=1000)


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


class EventsOut(BaseModel):
    messages: list[TranscriptMessageOut]
    next_after: int


class ParseIn(Strict):
    text: str = Field(min_length=1, max_length=5000)


class KbSearchIn(Strict):
    query: str = Field(min_length=1, max_length=2000)
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
    text: str = Field(min_length=1, max_length=10000)
    agent: AgentIn


class ResolveIn(Strict):
    note: str | None = None


class RestIn(BaseModel):
    sender: str = Field(min_length=1, max_length=150)
    message: str = Field(min_length=1, max_length=5000)
    metadata: dict[str, Any] = Field(default_factory=dict)
    input_channel: str | None = Field(default=None, max_length=50)


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
