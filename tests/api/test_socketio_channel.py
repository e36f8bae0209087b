"""Rasa's socket.io channel as Rasa's chat widget uses it: the real app served by uvicorn on
loopback, and python-socketio's own client over real polling and websocket transports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from botsvc.api.socketio_channel import bot_uttered
from botsvc.config import Settings
from botsvc.domain import BotMessage, Button
from botsvc.embedding import Embedder
from tests.api.test_api import HELPDESK, settings_for
from tests.receiver import Receiver
from tests.served import serve

pytestmark = pytest.mark.anyio
WAIT_S = 60.0  # a turn runs the real model; on a loaded machine it can take seconds


@pytest.fixture
def settings(
    example_project: Path, receiver: Receiver, action_server: str, tmp_path: Path
) -> Settings:
    return settings_for(
        example_project, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", receiver, action_server
    )


@pytest.fixture
def server_url(settings: Settings, embedder: Embedder) -> Iterator[str]:
    with serve(settings, embedder) as url:
        yield url


@dataclass
class Widget:
    """A socket.io client that keeps every event it receives, per event name."""

    client: socketio.AsyncClient = field(default_factory=socketio.AsyncClient)
    events: dict[str, list[Any]] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        for name in ("session_confirm", "bot_uttered", "error"):
            self.client.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        async def record(data: Any) -> None:
            self.events.setdefault(name, []).append(data)
            self.arrived.set()

        return record

    async def wait(self, name: str, count: int = 1) -> list[Any]:
        async with asyncio.timeout(WAIT_S):
            while len(self.events.get(name, [])) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.events[name]

    async def say(self, session_id: str, text: str) -> list[dict[str, Any]]:
        """Sends a message and returns the bot's messages: they arrive one event each, so the
        reply is complete once no more arrive for a moment after the first."""
        before = len(self.events.get("bot_uttered", []))
        await self.client.emit("user_uttered", {"message": text, "session_id": session_id})
        await self.wait("bot_uttered", before + 1)
        while True:
            seen = len(self.events["bot_uttered"])
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), 0.5)
            except TimeoutError:
                if len(self.events["bot_uttered"]) == seen:
                    return list(self.events["bot_uttered"][before:])


@pytest.fixture
async def connect(server_url: str) -> AsyncIterator[Any]:
    widgets: list[Widget] = []

    async def open_widget(transports: list[str] | None = None) -> Widget:
        w = Widget()
        await w.client.connect(server_url, transports=transports, wait_timeout=30)
        widgets.append(w)
        return w

    yield open_widget
    for w in widgets:
        await w.client.disconnect()


async def test_a_session_is_confirmed_and_a_message_gets_rasa_shaped_replies(
    connect: Any,
) -> None:
    w = await connect()
    await w.client.emit("session_request", {"session_id": None})
    session_id = (await w.wait("session_confirm"))[0]
    assert isinstance(session_id, str) and len(session_id) == 32

    reply = await w.say(session_id, "where is my order?")
    assert "order number" in reply[0]["text"].lower()
    assert set(reply[0]) == {"text"}


async def test_buttons_arrive_as_quick_replies(connect: Any) -> None:
    w = await connect(["websocket"])
    await w.client.emit("session_request", {})
    session_id = (await w.wait("session_confirm"))[0]
    reply = await w.say(session_id, "I want to change my plan")
    with_buttons = [m for m in reply if "quick_replies" in m]
    assert with_buttons, reply
    replies = with_buttons[0]["quick_replies"]
    assert replies and all(
        set(r) == {"content_type", "title", "payload"} and r["content_type"] == "text"
        for r in replies
    )


async def test_reconnecting_with_the_same_session_id_continues_the_conversation(
    connect: Any,
) -> None:
    first = await connect()
    await first.client.emit("session_request", {"session_id": "widget-session-1"})
    assert (await first.wait("session_confirm"))[0] == "widget-session-1"
    asked = await first.say("widget-session-1", "where is my order?")
    assert "order number" in asked[0]["text"].lower()
    await first.client.disconnect()

    again = await connect()  # the page reloaded; the widget kept its session id
    await again.client.emit("session_request", {"session_id": "widget-session-1"})
    assert (await again.wait("session_confirm"))[0] == "widget-session-1"
    answer = await again.say("widget-session-1", "NW-482913")
    text = " ".join(m.get("text", "") for m in answer)
    assert "NW-482913" in text and "on its way" in text


async def test_bad_payloads_get_an_error_event_and_the_socket_stays_usable(
    connect: Any,
) -> None:
    w = await connect()
    for bad in [None, "hello", {"session_id": "s"}, {"message": 5}, {"message": "x" * 5001}]:
        await w.client.emit("user_uttered", bad)
    errors = await w.wait("error", 5)
    assert all(e["code"] == "invalid_payload" and e["message"] for e in errors)
    await w.client.emit("session_request", {"session_id": 7})
    assert (await w.wait("error", 6))[-1]["code"] == "invalid_payload"

    reply = await w.say("after-errors", "where is my order?")
    assert "order number" in reply[0]["text"].lower()
    assert "bot_uttered" in w.events and w.client.connected


async def test_the_http_api_still_answers_beside_the_socket(server_url: str) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=server_url) as http:
        r = await http.post(
            "/webhooks/rest/webhook", json={"sender": "rest-1", "message": "where is my order?"}
        )
        assert r.status_code == 200 and "order number" in r.json()[0]["text"]


async def test_api_keys_and_cors_origins_apply_to_the_socket(
    settings: Settings, embedder: Embedder
) -> None:
    import httpx

    site = "https://shop.example"
    locked = settings.model_copy(update={"api_keys": ["k-1"], "cors_origins": [site]})
    with serve(locked, embedder) as url:
        refused = socketio.AsyncClient()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(url, auth={"token": "wrong"}, wait_timeout=30)
        w = Widget()
        await w.client.connect(url, auth={"token": "k-1"}, wait_timeout=30)
        reply = await w.say("keyed-1", "where is my order?")
        assert "order number" in reply[0]["text"].lower()
        await w.client.disconnect()

        async with httpx.AsyncClient(base_url=url) as http:
            polling = "/socket.io/?EIO=4&transport=polling"
            ok = await http.get(polling, headers={"origin": site})
            assert ok.headers.get("access-control-allow-origin") == site
            other = await http.get(polling, headers={"origin": "https://evil.example"})
            assert "access-control-allow-origin" not in other.headers


def test_rich_messages_take_the_shapes_rasa_sends_over_socketio() -> None:
    text = BotMessage(text="Hello.\n\nHow can I help?")
    assert bot_uttered(text) == [{"text": "Hello."}, {"text": "How can I help?"}]
    buttons = BotMessage(text="Pick one:\n\nplease", buttons=(Button("Pro", "/pro"),))
    assert bot_uttered(buttons) == [
        {
            "text": "Pick one:\n\nplease",
            "quick_replies": [{"content_type": "text", "title": "Pro", "payload": "/pro"}],
        }
    ]
    rich = BotMessage(
        text="Here:",
        image="https://cdn.example/a.png",
        custom={"type": "rating"},
        attachment={"type": "file", "payload": {"src": "https://cdn.example/a.pdf"}},
    )
    assert bot_uttered(rich) == [
        {"text": "Here:"},
        {"custom": {"type": "rating"}},
        {"attachment": {"type": "image", "payload": {"src": "https://cdn.example/a.png"}}},
        {"attachment": {"type": "file", "payload": {"src": "https://cdn.example/a.pdf"}}},
    ]
    assert bot_uttered(BotMessage(text="", custom={"data": {"type": "carousel"}})) == [
        {"type": "carousel"}
    ]


async def test_an_agents_reply_and_the_hand_back_are_pushed_to_the_socket(
    connect: Any, server_url: str
) -> None:
    w = await connect(["websocket"])
    await w.client.emit("session_request", {"session_id": "widget-handoff-1"})
    await w.wait("session_confirm")
    await w.say("widget-handoff-1", "I want to speak to a human")
    async with httpx.AsyncClient(base_url=server_url, headers=HELPDESK, timeout=30) as desk:
        [handoff] = (await desk.get("/v1/handoffs?status=open")).json()
        before = len(w.events["bot_uttered"])
        r = await desk.post(
            f"/v1/handoffs/{handoff['id']}/messages",
            json={"text": "Hi, I'm Kim. Looking now.", "agent": {"id": "a1", "name": "Kim"}},
        )
        assert r.status_code == 200
        pushed = await w.wait("bot_uttered", before + 2)  # nothing asked: it was pushed
        assert [m["text"] for m in pushed[before:]] == [
            "Kim has joined the conversation.",
            "Hi, I'm Kim. Looking now.",
        ]
        await desk.post(f"/v1/handoffs/{handoff['id']}/resolve", json={"note": "internal"})
        back = await w.wait("bot_uttered", before + 3)
        assert back[-1] == {"text": "The conversation is back with the assistant."}
