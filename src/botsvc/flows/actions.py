"""A client for rasa-sdk action servers: one POST per custom action, in Rasa's wire format.

The request carries `next_action`, `sender_id`, `tracker` (slots, latest message, events, the flow
stack), `domain` and `version`. The answer's `events` and `responses` come back parsed; applying
them is the engine's job. Any failure (timeout, refused connection, a non-2xx status, a body that
is not the expected JSON) raises `ActionServerError`, with the httpx error as its cause.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from botsvc.domain import Button, NluResult
from botsvc.errors import ActionServerError
from botsvc.spec.model import FlowSpec

__all__ = [
    "PROTOCOL_VERSION",
    "ActionClient",
    "ActionEvent",
    "ActionResponse",
    "ActionResult",
    "latest_message",
    "rasa_domain",
]

# The Rasa version we speak for; rasa-sdk only warns when major.minor differ from its own.
PROTOCOL_VERSION = "3.21.0"


@dataclass(frozen=True)
class ActionEvent:
    """One tracker event the action returned, e.g. `slot` (name, value), `restart`, `followup`."""

    event: str
    name: str | None = None
    value: Any = None
    text: str | None = None
    buttons: tuple[Button, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionResponse:
    """A `dispatcher.utter_message`: literal text/buttons, or a domain `response` with kwargs."""

    text: str | None = None
    buttons: tuple[Button, ...] = ()
    response: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    image: str | None = None
    custom: Any = None  # `json_message=` / `custom`: passed to the channel as it is
    attachment: Any = None


@dataclass(frozen=True)
class ActionResult:
    events: tuple[ActionEvent, ...] = ()
    responses: tuple[ActionResponse, ...] = ()


class ActionClient:
    def __init__(self, endpoint: str, *, http: httpx.AsyncClient, timeout_s: float = 5.0) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.endpoint = endpoint
        self._http = http
        self._timeout = httpx.Timeout(timeout_s)

    async def run(
        self,
        name: str,
        *,
        sender_id: str,
        slots: dict[str, Any],
        latest_message: dict[str, Any],
        events: list[dict[str, Any]],
        domain: dict[str, Any],
        stack: Sequence[Mapping[str, Any]] = (),
        input_channel: str | None = None,
    ) -> ActionResult:
        """Run custom action `name`; raises ActionServerError when it cannot give a result."""
        body = {
            "next_action": name,
            "sender_id": sender_id,
            "version": PROTOCOL_VERSION,
            "domain": domain,
            "tracker": {
                "sender_id": sender_id,
                "conversation_id": sender_id,
                "slots": slots,
                "latest_message": latest_message,
                "latest_event_time": time.time(),
                "followup_action": None,
                "paused": False,
                "events": events,
                "latest_input_channel": input_channel,
                "active_loop": {},
                "latest_action": {"action_name": "action_listen"},
                "latest_action_name": "action_listen",
                "stack": list(stack),
            },
        }
        payload = await self._post(name, body)
        return _parse_result(name, payload)

    async def _post(self, name: str, body: dict[str, Any]) -> Any:
        try:
            response = await self._http.post(self.endpoint, json=body, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise ActionServerError(f"action {name!r} timed out at {self.endpoint}") from exc
        except httpx.HTTPError as exc:
            raise ActionServerError(
                f"action {name!r}: cannot reach the action server at {self.endpoint} ({exc!r})"
            ) from exc
        if response.status_code >= 400:
            raise ActionServerError(
                f"action {name!r}: the action server answered HTTP {response.status_code}: "
                f"{_error_text(response)}"
            )
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ActionServerError(f"action {name!r}: the answer is not JSON") from exc


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:200]
    return str(data.get("error", data))[:200] if isinstance(data, dict) else str(data)[:200]


def _parse_result(name: str, payload: Any) -> ActionResult:
    if payload is None:  # rasa-sdk answers `null` when the request named no action
        return ActionResult()
    if not isinstance(payload, dict):
        raise ActionServerError(f"action {name!r}: expected a JSON object, got {type(payload)}")
    events, responses = payload.get("events") or [], payload.get("responses") or []
    if not isinstance(events, list) or not isinstance(responses, list):
        raise ActionServerError(f"action {name!r}: `events` and `responses` must be lists")
    try:
        return ActionResult(
            events=tuple(_event(e) for e in events if isinstance(e, dict) and e.get("event")),
            responses=tuple(_response(r) for r in responses if isinstance(r, dict)),
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise ActionServerError(f"action {name!r}: malformed events or responses") from exc


def _buttons(raw: Any) -> tuple[Button, ...]:
    return tuple(
        Button(title=str(b.get("title", "")), payload=str(b.get("payload", "")))
        for b in raw or ()
        if isinstance(b, dict)
    )


def _event(raw: dict[str, Any]) -> ActionEvent:
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    return ActionEvent(
        event=str(raw["event"]),
        name=raw.get("name"),
        value=raw.get("value"),
        text=raw.get("text"),
        buttons=_buttons((data or {}).get("buttons")),
        raw=raw,
    )


_MESSAGE_KEYS = {
    "text",
    "buttons",
    "response",
    "template",
    "elements",
    "custom",
    "image",
    "attachment",
    "json_message",
}


def _response(raw: dict[str, Any]) -> ActionResponse:
    kwargs = {k: v for k, v in raw.items() if k not in _MESSAGE_KEYS}
    return ActionResponse(
        text=raw.get("text") or None,
        buttons=_buttons(raw.get("buttons")),
        response=raw.get("response") or raw.get("template") or None,
        kwargs=kwargs,
        image=raw["image"] if isinstance(raw.get("image"), str) and raw["image"] else None,
        custom=raw.get("custom") or raw.get("json_message") or None,
        attachment=raw.get("attachment") or None,
    )


def latest_message(nlu: NluResult, *, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The `latest_message` of a Rasa tracker, from our NLU result."""
    return {
        "text": nlu.text,
        "intent": {"name": nlu.intent.name, "confidence": nlu.intent.confidence},
        "intent_ranking": [{"name": i.name, "confidence": i.confidence} for i in nlu.ranking],
        "entities": [
            {
                k: v
                for k, v in {
                    "entity": e.entity,
                    "value": e.value,
                    "start": e.start,
                    "end": e.end,
                    "confidence": e.confidence,
                    "extractor": e.extractor,
                    "role": e.role,
                    "group": e.group,
                }.items()
                if v is not None
            }
            for e in nlu.entities
        ],
        "metadata": dict(metadata),
    }


def rasa_domain(spec: FlowSpec, *, intents: Sequence[str] = ()) -> dict[str, Any]:
    """A Rasa domain dict for the action server: slots, responses, actions, intents."""
    slots = {}
    for s in spec.slots.values():
        slot: dict[str, Any] = {
            "type": s.type,
            "influence_conversation": False,
            "mappings": [{"type": "from_entity", "entity": s.entity}],
        }
        if s.type == "categorical":
            slot["values"] = list(s.values)
        if s.initial_value is not None:
            slot["initial_value"] = s.initial_value
        slots[s.name] = slot
    responses = {
        name: [
            {"text": v.text, **({"buttons": [b.__dict__ for b in v.buttons]} if v.buttons else {})}
            for v in variants
        ]
        for name, variants in spec.responses.items()
    }
    trigger_intents = {t.intent for f in spec.flows.values() for t in f.triggers}
    return {
        "version": "3.1",
        "config": {"store_entities_as_slots": True},
        "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
        "intents": sorted({*intents, *trigger_intents}),
        "entities": sorted({s.entity for s in spec.slots.values()}),
        "slots": slots,
        "responses": responses,
        "actions": list(spec.action_names),
        "forms": {},
        "e2e_actions": [],
    }
