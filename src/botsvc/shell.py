"""`botsvc shell`: one conversation with the bot in a terminal, as `rasa shell`.

Each line typed (or piped in) goes through the same `ChatService.post_message` the HTTP API
calls, and the shell prints what a customer would see: the bot's messages, their buttons
(numbered: typing the number sends that button's payload), knowledge-base sources and a
handoff. With `debug`, one dim line per turn says what the bot understood and decided.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import typer

from botsvc.domain import Button, Customer, TurnTrace
from botsvc.embedding import Embedder
from botsvc.live import MessageFeed
from botsvc.project import LiveProject, load_project
from botsvc.service import ChatService, IncomingMessage, TurnResult
from botsvc.store import open_store

__all__ = ["ShellOptions", "choose_button", "debug_line", "read_line", "render_turn", "run_shell"]

QUIT = frozenset({"/quit", "/exit"})
RESTART = "/restart"
PROMPT = "you> "
BOT = "bot> "

Read = Callable[[str], str | None]
Write = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class ShellOptions:
    sender: str | None = None  # the customer's id, and the first conversation's
    debug: bool = False
    channel: str = "shell"


def read_line(prompt: str) -> str | None:
    """One line from stdin after `prompt`; None at end of input or on Ctrl-C. Piped input is
    echoed after the prompt so that the output reads as a transcript."""
    try:
        line = input(prompt)
    except (EOFError, KeyboardInterrupt):
        typer.echo()
        return None
    if not sys.stdin.isatty():
        typer.echo(line)
    return line


def write_line(text: str) -> None:
    typer.echo(text)


async def run_shell(
    project_dir: Path,
    *,
    embedder: Embedder,
    options: ShellOptions,
    database_url: str | None = None,
    action_endpoint: str | None = None,
    read: Read = read_line,
    write: Write = write_line,
) -> None:
    """Loads the (trained) project and chats until the input ends or the user quits.
    ConfigError when the intent model or kb_index/ is missing; the store is a temporary
    SQLite file unless `database_url` is given. Closes the embedder when it ends."""
    async with _service(
        project_dir, embedder=embedder, database_url=database_url, action_endpoint=action_endpoint
    ) as service:
        await _chat(service, options=options, read=read, write=write)


@contextlib.asynccontextmanager
async def _service(
    project_dir: Path, *, embedder: Embedder, database_url: str | None, action_endpoint: str | None
) -> AsyncIterator[ChatService]:
    with tempfile.TemporaryDirectory(prefix="botsvc-shell-") as tmp:
        store = open_store(database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'shell.db'}")
        await store.open()
        http = httpx.AsyncClient(follow_redirects=False)
        try:
            project = await anyio.to_thread.run_sync(
                lambda: load_project(
                    project_dir, embedder=embedder, http=http, action_endpoint=action_endpoint
                )
            )
            live = LiveProject(
                project, embedder=embedder, http=http, action_endpoint=action_endpoint
            )
            yield ChatService(
                store=store,
                embedder=embedder,
                project=live,
                feed=MessageFeed(store),
                public_url="http://botsvc.shell",
            )
        finally:
            await embedder.aclose()
            await http.aclose()
            await store.close()


async def _chat(service: ChatService, *, options: ShellOptions, read: Read, write: Write) -> None:
    conversation_id = options.sender or _new_conversation_id()
    customer = Customer(id=options.sender or "shell")
    buttons: tuple[Button, ...] = ()
    write(f"conversation {conversation_id}: /restart starts a new one, /quit or Ctrl-D ends it")
    while (line := read(PROMPT)) is not None:
        text = line.strip()
        if text in QUIT:
            break
        if text == RESTART:
            conversation_id, buttons = _new_conversation_id(), ()
            write(f"new conversation {conversation_id}")
            continue
        if not text:
            continue
        result = await service.post_message(
            conversation_id,
            IncomingMessage(
                text=choose_button(text, buttons), customer=customer, channel=options.channel
            ),
        )
        buttons = tuple(b for m in result.messages for b in m.buttons)
        for out in render_turn(result, debug=options.debug):
            write(out)


def _new_conversation_id() -> str:
    return f"shell-{uuid.uuid4().hex[:12]}"


def choose_button(text: str, buttons: Sequence[Button]) -> str:
    """The payload of the button numbered `text` (from 1) in the last turn; else `text`."""
    if text.isdigit() and 1 <= int(text) <= len(buttons):
        return buttons[int(text) - 1].payload
    return text


def render_turn(result: TurnResult, *, debug: bool) -> list[str]:
    """The lines a customer sees for one turn, numbering buttons across the turn's messages."""
    lines: list[str] = []
    number = 0
    for message in result.messages:
        lines.append(BOT + message.text)
        if message.image:
            lines.append(f"  image: {message.image}")
        if message.custom is not None or message.attachment is not None:
            lines.append(f"  payload: {message.custom or message.attachment}")
        for button in message.buttons:
            number += 1
            lines.append(f"  [{number}] {button.title} ({button.payload})")
    lines += [f"  source: {h.title} — {h.url or h.id}" for h in result.sources]
    if result.handoff is not None:
        lines.append(_handoff_line(result))
    if debug:
        lines.append(typer.style(debug_line(result), dim=True))
    return lines


def _handoff_line(result: TurnResult) -> str:
    assert result.handoff is not None
    h = result.handoff
    if result.handed_off_now:
        return f"handed to a person: {h.reason} (priority {h.priority}, handoff {h.id})"
    # the conversation is already with a person: the bot forwards the message and stays quiet
    return f"with a person ({h.status}): your message was forwarded, /restart to talk to the bot"


def debug_line(result: TurnResult) -> str:
    """What the bot understood and decided, on one line."""
    trace = result.trace
    if trace is None:
        return f"  · forwarded to the helpdesk · handled_by {result.handled_by}"
    parts = [
        _intent_part(trace),
        "entities " + (_entities_part(trace) or "-"),
        "flow " + _flow_part(result),
        f"handled_by {result.handled_by}",
        f"decision: {trace.decision}",
    ]
    if trace.timings_ms is not None:
        parts.append(f"{trace.timings_ms.total:.0f} ms")
    return "  · " + " · ".join(parts)


def _intent_part(trace: TurnTrace) -> str:
    if trace.nlu is None:
        return "intent -"
    return f"intent {trace.nlu.intent.name} {trace.nlu.intent.confidence:.2f}"


def _entities_part(trace: TurnTrace) -> str:
    if trace.nlu is None:
        return ""
    return ", ".join(f"{e.entity}={e.value}" for e in trace.nlu.entities)


def _flow_part(result: TurnResult) -> str:
    if result.flow is None:
        return "-"
    return result.flow.flow_id + (f"/{result.flow.step_id}" if result.flow.step_id else "")
