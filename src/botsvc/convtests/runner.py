"""`botsvc test`: plays the project's conversation tests through the real service.

Each run uses a fresh SQLite file in a temporary folder and stores handoffs without sending them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from botsvc.convtests.format import (
    ConversationReport,
    check_tests_against_spec,
    load_conversation_tests,
    run_conversation_tests,
)
from botsvc.domain import Customer
from botsvc.embedding import Embedder
from botsvc.errors import ProjectError
from botsvc.helpdesk.feed import MessageFeed
from botsvc.project import LiveProject, load_project
from botsvc.service import ChatService, IncomingMessage, TurnResult
from botsvc.store import open_store


async def run_project_tests(
    project_dir: Path,
    *,
    embedder: Embedder,
    action_endpoint: str | None = None,
    select: str | None = None,
) -> list[ConversationReport]:
    """Runs `tests/conversations/*.yml` of the project; ProjectError if they do not load."""
    project_http = httpx.AsyncClient()
    project = load_project(
        project_dir, embedder=embedder, http=project_http, action_endpoint=action_endpoint
    )
    tests = load_conversation_tests(project_dir / "tests" / "conversations")
    if problems := check_tests_against_spec(tests, project.spec):
        raise ProjectError(problems)
    if select:
        tests = [t for t in tests if select.lower() in t.name.lower()]
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite+aiosqlite:///{Path(tmp) / 'convtests.db'}")
        await store.open()
        service = ChatService(
            store=store,
            embedder=embedder,
            project=LiveProject(project, embedder=embedder, http=project_http),
            feed=MessageFeed(store),
            public_url="http://botsvc.test",
        )

        async def send(
            conversation_id: str,
            text: str,
            *,
            customer: Customer,
            channel: str,
            metadata: Mapping[str, Any],
        ) -> Mapping[str, Any]:
            result = await service.post_message(
                conversation_id,
                IncomingMessage(
                    text=text, customer=customer, channel=channel, metadata=dict(metadata)
                ),
            )
            out = outcome_of(result)
            out["slots"] = (await store.get_conversation(conversation_id)).state.slots
            return out

        try:
            return await run_conversation_tests(tests, send)
        finally:
            await embedder.aclose()
            await store.close()
            await project_http.aclose()


def outcome_of(r: TurnResult) -> dict[str, Any]:
    """A turn as the expectations read it: the API's turn response (DESIGN.md) as plain data."""
    return {
        "messages": [
            {
                "text": m.text,
                "buttons": [{"title": b.title, "payload": b.payload} for b in m.buttons],
            }
            for m in r.messages
        ],
        "handled_by": r.handled_by,
        "intent": None
        if r.intent is None
        else {"name": r.intent.name, "confidence": round(r.intent.confidence, 4)},
        "flow": None if r.flow is None else {"id": r.flow.flow_id, "step": r.flow.step_id},
        "sources": [
            {"title": h.title, "url": h.url, "score": round(h.score, 4)} for h in r.sources
        ],
        "handoff": None
        if r.handoff is None
        else {"id": r.handoff.id, "reason": r.handoff.reason, "priority": r.handoff.priority},
    }
