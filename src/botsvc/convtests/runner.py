"""`botsvc test`: plays conversation tests (ours or Rasa's e2e) through the real service.

Each run uses a fresh SQLite file in a temporary folder and stores handoffs without sending them.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from botsvc.convtests.format import (
    ConversationReport,
    ConversationTest,
    check_tests_against_spec,
    load_test_paths,
    run_conversation_test,
)
from botsvc.convtests.stubs import StubbedActions
from botsvc.domain import Customer, DialogueState
from botsvc.embedding import Embedder
from botsvc.errors import ProjectError
from botsvc.live import MessageFeed
from botsvc.project import LiveProject, load_project
from botsvc.service import ChatService, IncomingMessage, TurnResult
from botsvc.store import Store, TurnWrite, open_store

__all__ = ["outcome_of", "run_project_tests"]

# the ActionClient needs an address even when every action a test calls is stubbed
_NO_ACTION_SERVER = "http://127.0.0.1:9/webhook"


async def run_project_tests(
    project_dir: Path,
    *,
    embedder: Embedder,
    action_endpoint: str | None = None,
    select: str | None = None,
    paths: Sequence[Path] = (),
) -> list[ConversationReport]:
    """Runs the tests in `paths` (files or folders; default: the project's
    tests/conversations/); ProjectError if they do not load."""
    transport = StubbedActions()
    project_http = httpx.AsyncClient(transport=transport)
    tests = load_test_paths(list(paths) or [project_dir / "tests" / "conversations"])
    project = load_project(
        project_dir,
        embedder=embedder,
        http=project_http,
        action_endpoint=action_endpoint or (_NO_ACTION_SERVER if _stubbed(tests) else None),
    )
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
        slots_before: dict[str, dict[str, Any]] = {}

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
            slots = (await store.get_conversation(conversation_id)).state.slots
            out["slots"] = slots
            out["slots_set"] = _slots_set(
                out["events"], slots_before.get(conversation_id, {}), slots
            )
            slots_before[conversation_id] = dict(slots)
            return out

        reports = []
        try:
            for test in tests:
                cid = f"convtest-{uuid.uuid4().hex[:12]}"
                transport.stubs = test.stubs
                if test.slots:
                    await _preset(store, cid, test)
                    slots_before[cid] = dict(test.slots)
                reports.append(await run_conversation_test(test, send, conversation_id=cid))
            return reports
        finally:
            await embedder.aclose()
            await store.close()
            await project_http.aclose()


def _stubbed(tests: Sequence[ConversationTest]) -> bool:
    return any(t.stubs for t in tests)


async def _preset(store: Store, conversation_id: str, test: ConversationTest) -> None:
    """Rasa's fixtures: the conversation starts with these slots set."""
    conv = await store.lock_conversation(
        conversation_id, owner="convtests", customer=test.customer, channel=test.channel
    )
    await store.save_turn(
        TurnWrite(
            conversation_id=conv.id,
            lock_owner="convtests",
            turn=None,
            messages=(),
            state=DialogueState(slots=dict(test.slots)),
            status="bot",
            handoff_id=None,
        )
    )


def _slots_set(
    events: Sequence[Mapping[str, Any]], before: Mapping[str, Any], after: Mapping[str, Any]
) -> dict[str, list[Any]]:
    """Every value each slot was set to this turn, in order, as Rasa's e2e tests count SlotSet
    events: from the flow events (a fill, a rejection or a flow's end setting it back to None)
    and from what changed in the stored slots (an action's SlotSet)."""
    out: dict[str, list[Any]] = {}

    def put(name: Any, value: Any) -> None:
        out.setdefault(str(name), []).append(value)

    for e in events:
        if e.get("event") in ("slot_filled", "slot_prefilled", "slot_set") and "slot" in e:
            put(e["slot"], e.get("value"))
        elif e.get("event") == "slots_set":
            for name, value in (e.get("slots") or {}).items():
                put(name, value)
        elif e.get("event") == "slot_rejected" and "slot" in e:  # Rasa sets it back to None
            put(e["slot"], None)
        elif e.get("reset_slots"):  # a flow ended: its slots were set back to nothing
            for name in e["reset_slots"]:
                put(name, None)
    for name, value in after.items():
        if (name not in before or before[name] != value) and out.get(name, [object()])[-1] != value:
            put(name, value)
    for name in before:
        if name not in after and out.get(name, [object()])[-1] is not None:
            put(name, None)
    return out


def outcome_of(r: TurnResult) -> dict[str, Any]:
    """A turn as the expectations read it: the API's turn response (DESIGN.md) as plain data,
    with each message's response name, and the turn's flow events and actions."""
    events = list(r.trace.flow.events) if r.trace and r.trace.flow else []
    responses = [m.response for m in r.messages if m.response]
    custom = [str(e["action"]) for e in events if e.get("event") == "action_called"]
    return {
        "messages": [
            {
                "text": m.text,
                "buttons": [{"title": b.title, "payload": b.payload} for b in m.buttons],
                "response": m.response,
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
        "events": events,
        "actions": custom + responses,
    }
