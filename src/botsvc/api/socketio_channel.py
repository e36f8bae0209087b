"""Rasa's socket.io channel at `/socket.io/`, so Rasa's chat widget works in its default mode.

Events, with Rasa's default names: the client emits `session_request {session_id?}` and gets
`session_confirm <session id>`; it emits `user_uttered {message, session_id, metadata?}` and gets
one `bot_uttered` per Rasa message. The session id is the conversation id, so a widget that keeps
its session id across page reloads continues its conversation. Bad payloads get an
`error {code, message}` event on that socket only.

The session id is the client's credential: its conversation is `rasa:<session id>`, apart from
every conversation our own API opens. While a socket has a session, what a person or the service
says in its conversation outside the socket's own turns (an agent's replies, "Kim has joined",
"back with the assistant") is pushed to it as `bot_uttered`, from whichever replica stored it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

import socketio
from fastapi import FastAPI
from pydantic import BaseModel, Field, ValidationError
from starlette.types import ASGIApp

from botsvc.access import RASA_PREFIX
from botsvc.api.deps import State, is_api_key
from botsvc.api.render import text_parts
from botsvc.api.routes.conversations import post
from botsvc.api.schemas import MAX_ID, PRINTABLE, Metadata, Text
from botsvc.config import Settings
from botsvc.domain import BotMessage, Button
from botsvc.errors import BotError
from botsvc.store import MessageRecord

__all__ = ["bot_uttered", "mount_socketio", "pushed", "socketio_server"]

log = logging.getLogger("botsvc.api")
CHANNEL = "socketio"


class _SessionRequest(BaseModel):
    session_id: str | None = Field(
        default=None, min_length=1, max_length=MAX_ID - 8, pattern=PRINTABLE
    )


class _UserUttered(BaseModel):
    message: Text = Field(min_length=1, max_length=5000)
    session_id: str | None = Field(
        default=None, min_length=1, max_length=MAX_ID - 8, pattern=PRINTABLE
    )
    metadata: Metadata = Field(default_factory=dict)


def bot_uttered(m: BotMessage) -> list[dict[str, object]]:
    """One bot message as the `bot_uttered` bodies Rasa's socket.io channel emits, in its order:
    the text (split at blank lines unless it has buttons, which go as `quick_replies`), then
    the custom payload, the image and the attachment, each as a message of its own."""
    out: list[dict[str, object]] = []
    if m.buttons:
        replies = [
            {"content_type": "text", "title": b.title, "payload": b.payload} for b in m.buttons
        ]
        out.append({"text": m.text, "quick_replies": replies})
    else:
        out += [{"text": part} for part in text_parts(m.text)]
    if m.custom is not None:
        out.append(_custom_body(m.custom))
    if m.image is not None:
        out.append({"attachment": {"type": "image", "payload": {"src": m.image}}})
    if m.attachment is not None:
        out.append({"attachment": m.attachment})
    return out


def pushed(m: MessageRecord) -> BotMessage | None:
    """A stored message as the bot message a socket is pushed, or None for what the socket's own
    turns already answered (the customer's messages and the bot's replies to them)."""
    if m.role == "customer" or (m.role == "bot" and m.turn_id is not None):
        return None
    buttons = tuple(Button(b["title"], b["payload"]) for b in m.data.get("buttons") or ())
    return BotMessage(
        m.text,
        buttons,
        image=m.data.get("image"),
        custom=m.data.get("custom"),
        attachment=m.data.get("attachment"),
    )


def _custom_body(custom: object) -> dict[str, object]:
    # Rasa emits a custom payload's keys as the emit's arguments, so its `data` is the event
    # body; any other payload goes whole under `custom`, the key Rasa's chat widget reads
    if isinstance(custom, dict) and isinstance(custom.get("data"), dict):
        return dict(custom["data"])
    return {"custom": custom}


def socketio_server(settings: Settings, *, state: Callable[[], State]) -> socketio.AsyncServer:
    """The socket.io server. `state` returns what the lifespan built; it is read per event,
    as routes read it per request. An empty `cors_origins` allows the same origin only."""
    sio = socketio.AsyncServer(
        async_mode="asgi", cors_allowed_origins=settings.cors_origins or None, logger=False
    )

    watchers: dict[str, tuple[str, asyncio.Task[None]]] = {}  # sid -> (conversation, task)

    async def error(sid: str, code: str, message: str) -> None:
        await sio.emit("error", {"code": code, "message": message}, to=sid)

    async def push(sid: str, conversation_id: str) -> None:
        st = state()
        with st.feed.subscribe(conversation_id, after=0) as sub:
            try:
                sub.skip_to(await st.store.last_seq(conversation_id))
                while True:
                    for record in await sub.next(3600):
                        if (m := pushed(record)) is not None:
                            for item in bot_uttered(m):
                                await sio.emit("bot_uttered", item, to=sid)
            except BotError as exc:
                log.exception("socket.io push stopped", exc_info=exc)
                await error(sid, "unavailable", "live updates stopped; reconnect to resume")

    def watch(sid: str, conversation_id: str) -> None:
        """Pushes to `sid` what is said in this conversation outside its turns (one at a time)."""
        current = watchers.get(sid)
        if current is not None and current[0] == conversation_id:
            return
        unwatch(sid)
        watchers[sid] = (conversation_id, asyncio.create_task(push(sid, conversation_id)))

    def unwatch(sid: str) -> None:
        if (current := watchers.pop(sid, None)) is not None:
            current[1].cancel()

    async def disconnect(sid: str, *_: object) -> None:
        unwatch(sid)

    async def connect(sid: str, environ: dict[str, Any], auth: object = None) -> None:
        if not _is_allowed(settings.api_keys, environ, auth):
            raise socketio.exceptions.ConnectionRefusedError(
                "a valid API key is required (auth {token: <key>} or Authorization: Bearer <key>)"
            )

    async def session_request(sid: str, data: object = None) -> None:
        try:
            body = _SessionRequest.model_validate(data or {})
        except ValidationError as exc:
            return await error(sid, "invalid_payload", _explain(exc))
        session_id = body.session_id or uuid.uuid4().hex
        await sio.save_session(sid, {"session_id": session_id})
        await sio.emit("session_confirm", session_id, to=sid)
        watch(sid, RASA_PREFIX + session_id)

    async def user_uttered(sid: str, data: object = None) -> None:
        try:
            body = _UserUttered.model_validate(data)
        except ValidationError as exc:
            return await error(sid, "invalid_payload", _explain(exc))
        # Rasa falls back to the socket's own id when no session was asked for
        session = await sio.get_session(sid)
        conversation_id = RASA_PREFIX + (body.session_id or session.get("session_id") or sid)
        watch(sid, conversation_id)
        try:
            result = await post(
                state(),
                conversation_id,
                body.message,
                customer=None,
                channel=CHANNEL,
                metadata=body.metadata,
            )
        except BotError as exc:
            log.exception("socket.io turn failed", exc_info=exc)
            return await error(sid, "unavailable", str(exc))
        for m in result.messages:
            for item in bot_uttered(m):
                await sio.emit("bot_uttered", item, to=sid)

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
    sio.on("session_request", session_request)
    sio.on("user_uttered", user_uttered)
    return sio


def mount_socketio(app: FastAPI, sio: socketio.AsyncServer) -> ASGIApp:
    """`/socket.io/` beside every route of `app`; lifespan events pass through to `app`."""
    wrapped: ASGIApp = socketio.ASGIApp(sio, other_asgi_app=app, socketio_path="socket.io")
    return wrapped


def _is_allowed(keys: list[str], environ: dict[str, Any], auth: object) -> bool:
    given: object = auth.get("token") if isinstance(auth, dict) else None
    header = str(environ.get("HTTP_AUTHORIZATION", ""))
    if given is None and header.lower().startswith("bearer "):
        given = header[7:].strip()
    return is_api_key(given if isinstance(given, str) else None, keys)


def _explain(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}" for e in exc.errors()
    )
