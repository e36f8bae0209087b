"""Plain data shared by every stage: stages take these in and hand these on; no I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

Vector = npt.NDArray[np.float32]  # one L2-normalised sentence embedding
HandledBy = Literal["flow", "kb", "fallback", "human"]
Priority = Literal["low", "normal", "high", "urgent"]
Role = Literal["customer", "bot", "agent", "system"]
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")
FALLBACK_INTENT = "nlu_fallback"
# Intents that Rasa projects train for messages outside the bot's domain: they mean "out of
# scope" as much as a fallback does (declined politely, scored as out of scope)
OFF_TOPIC_INTENTS = frozenset({"out_of_scope", "chitchat"})


@dataclass(frozen=True)
class Customer:
    id: str
    name: str | None = None
    email: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class BotMessage:
    text: str
    buttons: tuple[Button, ...] = ()
    # what Rasa's channels carry beside text: an image URL, a custom payload, an attachment
    image: str | None = None
    custom: Any = field(default=None, compare=False)
    attachment: Any = field(default=None, compare=False)
    # the response it was rendered from (`utter_...`); not part of what the customer sees
    response: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class IntentScore:
    name: str
    confidence: float


@dataclass(frozen=True)
class Entity:
    """An extracted entity, in Rasa's shape (start/end are character offsets into the text)."""

    entity: str
    value: Any
    start: int
    end: int
    extractor: str
    confidence: float = 1.0
    role: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class NluResult:
    """What the customer said, understood. `intent` is `nlu_fallback` when nothing is confident."""

    text: str
    intent: IntentScore
    ranking: tuple[IntentScore, ...]
    entities: tuple[Entity, ...] = ()
    sentiment: float = 0.0  # compound score in [-1, 1]
    ambiguous: bool = False  # the top two intents are too close to pick one

    def entity_values(self, name: str) -> list[Any]:
        return [e.value for e in self.entities if e.entity == name]


@dataclass(frozen=True)
class KbHit:
    id: str
    title: str
    text: str
    score: float
    url: str | None = None
    section: str | None = None


@dataclass(frozen=True)
class KbAnswer:
    """A grounded answer: readable text cut at sentence boundaries, and the hits it came from."""

    text: str
    score: float
    sources: tuple[KbHit, ...]


@dataclass(frozen=True)
class HandoffRequest:
    reason: str
    priority: Priority = "normal"
    detail: str = ""
    language: str | None = None  # ISO 639-1, when the customer writes in another language


@dataclass(frozen=True)
class FlowPosition:
    flow_id: str
    step_id: str | None


# --- persisted per-conversation dialogue state (stored as JSON by the store) ---------------------
# pydantic models rather than dataclasses because they round-trip through JSON columns.


class FlowFrame(BaseModel):
    """One flow on the dialogue stack; the top frame is the active flow."""

    flow_id: str
    step_id: str | None = None  # the step the flow is at (a collect waiting, or the next to run)
    waiting_for: str | None = None  # the slot a collect step has asked for
    rejections: int = 0  # invalid answers to the current collect


class DialogueState(BaseModel):
    slots: dict[str, Any] = Field(default_factory=dict)
    stack: list[FlowFrame] = Field(default_factory=list)
    consecutive_fallbacks: int = 0
    recent_texts: list[str] = Field(default_factory=list)  # last customer texts, newest last
    sentiments: list[float] = Field(default_factory=list)  # per customer turn, newest last
    corrections: dict[str, Any] = Field(default_factory=dict)  # waiting for pattern_correction
    clarification: list[str] = Field(default_factory=list)  # flows offered, for the next message
    last_reply: list[BotMessage] = Field(default_factory=list)  # the bot's last reply, to repeat
    # the languages replies are written in, preferred first: the customer's (as their messages
    # last showed it), then the bot's own; empty for a bot that speaks only its own language
    languages: list[str] = Field(default_factory=list)

    @property
    def active(self) -> FlowFrame | None:
        return self.stack[-1] if self.stack else None


# --- one turn: who is talking, what the pipeline decided, and why ---------------------------------


@dataclass(frozen=True, kw_only=True)
class TurnContext:
    conversation_id: str
    customer: Customer
    channel: str = "web"
    metadata: Mapping[str, Any] = field(default_factory=dict)


def condition_context(ctx: TurnContext, nlu: NluResult | None = None) -> dict[str, Any]:
    """What `context.*` means in conditions: flows' `if`s and escalation's metadata rules."""
    c = ctx.customer
    context: dict[str, Any] = {
        "conversation_id": ctx.conversation_id,
        "channel": ctx.channel,
        "metadata": dict(ctx.metadata),
        "customer": {"id": c.id, "name": c.name, "email": c.email, "metadata": dict(c.metadata)},
    }
    if nlu is not None:
        context["intent"] = {"name": nlu.intent.name, "confidence": nlu.intent.confidence}
        context["sentiment"] = nlu.sentiment
        context["text"] = nlu.text
    return context


@dataclass(frozen=True, kw_only=True)
class NluTrace:
    intent: IntentScore
    ranking: tuple[IntentScore, ...]  # the top three
    entities: tuple[Entity, ...]
    sentiment: float
    ambiguous: bool


@dataclass(frozen=True, kw_only=True)
class FlowTrace:
    status: str  # the engine's FlowResult.status
    events: tuple[dict[str, Any], ...]  # the engine's event log: {"event": name, ...details}
    ms: float


@dataclass(frozen=True, kw_only=True)
class HitTrace:
    id: str
    title: str
    score: float


@dataclass(frozen=True, kw_only=True)
class KbTrace:
    hits: tuple[HitTrace, ...]
    answered: bool  # the knowledge base's own threshold let the best answer through
    threshold: float
    ms: float
    declined_by: str | None = None  # an escalation floor refused an answer the KB gave


@dataclass(frozen=True, kw_only=True)
class Timings:
    encode: float
    nlu: float
    decide: float
    total: float


@dataclass(frozen=True, kw_only=True)
class TurnTrace:
    """What the bot understood and decided on one customer message, stored with the turn and
    shown to the helpdesk. The pipeline writes `decision` .. `priority_rules`; the service adds
    `nlu`, `flow_position` and `timings_ms`."""

    decision: str
    flow: FlowTrace | None = None
    kb: KbTrace | None = None
    intent_floor: str | None = None  # the escalation floor turned a low intent into a fallback
    priority_rules: tuple[str, ...] = ()  # metadata rules that raised a handoff's priority
    nlu: NluTrace | None = None
    flow_position: FlowPosition | None = None
    timings_ms: Timings | None = None


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What the pipeline decided for one message; the service stores and sends it."""

    handled_by: HandledBy
    messages: tuple[BotMessage, ...]
    intent: IntentScore | None
    flow: FlowPosition | None
    sources: tuple[KbHit, ...]
    handoff: HandoffRequest | None
    state: DialogueState
    trace: TurnTrace


@cache
def _trace_adapter() -> TypeAdapter[TurnTrace]:
    return TypeAdapter(TurnTrace)


def trace_as_json(trace: TurnTrace) -> dict[str, Any]:
    """The trace as stored with the turn (a JSON column)."""
    return _trace_adapter().dump_python(trace, mode="json", exclude_none=True)  # type: ignore[no-any-return]


def trace_from_json(data: Mapping[str, Any]) -> TurnTrace:
    """A stored trace read back; a row in an older shape keeps at least its decision."""
    try:
        return _trace_adapter().validate_python(dict(data))
    except ValidationError:
        return TurnTrace(decision=str(data.get("decision", "")))
