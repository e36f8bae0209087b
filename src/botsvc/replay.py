"""A turn's answer kept for `Idempotency-Key` retries: written with the turn, in its transaction,
and given back as it was when the client sends the same key again (as Stripe does), so a client
that lost a response can retry without the bot answering twice."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from botsvc.domain import BotMessage, Button, FlowPosition, IntentScore, KbHit
from botsvc.service_types import HandoffRef, TurnResult

__all__ = ["REPLAY_WINDOW_S", "request_hash", "result_from_json", "result_json"]

REPLAY_WINDOW_S = 24 * 3600.0


def request_hash(*parts: object) -> str:
    """What the first request asked, so that a key reused for another request is refused."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def result_json(r: TurnResult) -> dict[str, Any]:
    return {
        "conversation_id": r.conversation_id,
        "turn_id": r.turn_id,
        "messages": [dataclasses.asdict(m) for m in r.messages],
        "handled_by": r.handled_by,
        "intent": dataclasses.asdict(r.intent) if r.intent else None,
        "flow": dataclasses.asdict(r.flow) if r.flow else None,
        "sources": [dataclasses.asdict(h) for h in r.sources],
        "handoff": dataclasses.asdict(r.handoff) if r.handoff else None,
        "conversation_token": r.conversation_token,
    }


def result_from_json(d: dict[str, Any]) -> TurnResult:
    return TurnResult(
        conversation_id=d["conversation_id"],
        turn_id=d["turn_id"],
        messages=tuple(
            BotMessage(**{**m, "buttons": tuple(Button(**b) for b in m.get("buttons", ()))})
            for m in d["messages"]
        ),
        handled_by=d["handled_by"],
        intent=IntentScore(**d["intent"]) if d["intent"] else None,
        flow=FlowPosition(**d["flow"]) if d["flow"] else None,
        sources=tuple(KbHit(**h) for h in d["sources"]),
        handoff=HandoffRef(**d["handoff"]) if d["handoff"] else None,
        conversation_token=d.get("conversation_token"),
        replayed=True,
    )
