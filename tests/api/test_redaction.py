"""Personal data: always masked in the logs; with BOTSVC_REDACT, in the stored transcript and the
webhooks too, while the flow that needs the email still sends the link to it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from botsvc.embedding import Embedder
from botsvc.logs import JsonLines
from tests.api.test_api import settings_for
from tests.conftest import app_client, say, token_headers
from tests.receiver import Receiver

pytestmark = pytest.mark.anyio
EMAIL = "ana.k@example.com"
CARD = "4111 1111 1111 1111"


def _client(
    example_project: Path,
    embedder: Embedder,
    receiver: Receiver,
    actions: str,
    db: Path,
    redact: bool,
):  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{db}"
    return app_client(
        settings_for(example_project, url, receiver, actions, redact=redact), embedder
    )


@pytest.fixture
async def redacting(
    example_project: Path,
    embedder: Embedder,
    receiver: Receiver,
    action_server: str,
    tmp_path: Path,
) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(
        example_project, embedder, receiver, action_server, tmp_path / "bot.db", True
    ) as c:
        yield c


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the service logs, through the JSON lines formatter it is served with."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    from botsvc.redact import Redactor

    handler.setFormatter(JsonLines(Redactor()))
    logger = logging.getLogger("botsvc")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)
    logger.setLevel(level)


async def _stored_texts(client: httpx.AsyncClient, conv: str) -> list[str]:
    r = await client.get(f"/v1/conversations/{conv}", headers=token_headers(client, conv))
    assert r.status_code == 200
    return [m["text"] for m in r.json()["messages"]]


async def test_the_reset_link_still_goes_to_the_email_the_transcript_masks(
    redacting: httpx.AsyncClient,
) -> None:
    await say(redacting, "r-1", "I forgot my password")
    asked = await say(redacting, "r-1", EMAIL)
    assert EMAIL in " ".join(m["text"] for m in asked["messages"])  # the customer sees it
    sent = await say(redacting, "r-1", "yes please")
    assert EMAIL in " ".join(m["text"] for m in sent["messages"])  # the slot kept its value
    stored = await _stored_texts(redacting, "r-1")
    assert "[EMAIL]" in stored and not any(EMAIL in t for t in stored)


async def test_the_handoff_webhook_masks_the_card_and_keeps_the_customer(
    redacting: httpx.AsyncClient, receiver: Receiver
) -> None:
    customer = {"id": "u-77", "name": "Ana", "email": EMAIL}
    r = await say(
        redacting,
        "r-2",
        f"you charged my card {CARD} twice, I want to talk to a human",
        customer=customer,
    )
    assert r["handled_by"] == "human"
    [got] = await asyncio.to_thread(receiver.wait_for, 1, event="handoff.created")
    body = got.body.decode()
    assert CARD not in body and "[CARD]" in body
    assert got.json["customer"]["email"] == EMAIL  # the site's own record of its customer
    assert "[CARD]" in got.json["transcript"][0]["text"]


async def test_without_redact_the_transcript_keeps_what_was_typed(
    example_project: Path,
    embedder: Embedder,
    receiver: Receiver,
    action_server: str,
    tmp_path: Path,
) -> None:
    async with _client(
        example_project, embedder, receiver, action_server, tmp_path / "raw.db", False
    ) as c:
        await say(c, "r-3", f"my email is {EMAIL}")
        assert any(EMAIL in t for t in await _stored_texts(c, "r-3"))


async def test_the_turn_log_masks_the_email_and_card_always(
    example_project: Path,
    embedder: Embedder,
    receiver: Receiver,
    action_server: str,
    tmp_path: Path,
    log_lines: io.StringIO,
) -> None:
    async with _client(
        example_project, embedder, receiver, action_server, tmp_path / "log.db", False
    ) as c:
        r = await say(c, "r-4", f"card {CARD} and mail {EMAIL}: where is my refund?")
    text = log_lines.getvalue()
    assert CARD not in text and EMAIL not in text
    turns = [json.loads(line) for line in text.splitlines() if '"event": "turn"' in line]
    [turn] = [t for t in turns if t["conversation_id"] == "r-4"]
    assert turn["turn_id"] == r["turn_id"] and turn["handled_by"] == r["handled_by"]
    assert turn["text"] == "card [CARD] and mail [EMAIL]: where is my refund?"
    assert turn["level"] == "info" and "encode" in turn["timings_ms"]
