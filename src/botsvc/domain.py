"""Plain data shared by every stage. Stages take these in and hand these on; nothing here does I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]  # one L2-normalised sentence embedding
HandledBy = Literal["flow", "kb", "fallback", "human"]
Priority = Literal["low", "normal", "high", "urgent"]
Role = Literal["customer", "bot", "agent", "system"]
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high", "urgent")
FALLBACK_INTENT = "nlu_fallback"


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


@dataclass(frozen=True)
class FlowPosition:
    flow_id: str
    step_id: str | None


# --- persisted per-conversation dialogue state (stored as JSON by the store) ---------------------
# pydantic models rather than dataclasses because they round-trip through JSON columns.
from pydantic import BaseModel, Field  # noqa: E402


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

    @property
    def active(self) -> FlowFrame | None:
        return self.stack[-1] if self.stack else None
