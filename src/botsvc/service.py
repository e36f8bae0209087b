"""The conversation service: one message in, the turn stored, the answer out.

Takes the conversation's lease, answers (or forwards to the helpdesk while a human has the
conversation), and writes the turn, its handoff and outbox rows in one transaction.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botsvc.domain import BotMessage, Customer, FlowPosition, IntentScore, KbHit, NluResult
from botsvc.embedding import Embedder
from botsvc.errors import Conflict
from botsvc.flows.engine import TurnContext
from botsvc.handoff import (
    ConversationResolved,
    HandoffCreated,
    HandoffInfo,
    MessageCreated,
    OtherConversation,
    TranscriptEntry,
    customer_out,
    iso,
    summarise,
    transcript,
)
from botsvc.hours import BusinessHours
from botsvc.pipeline import Outcome
from botsvc.project import Project
from botsvc.store import (
    Conversation,
    Handoff,
    MessageRecord,
    NewMessage,
    OutboxEvent,
    Store,
    TurnRecord,
    TurnWrite,
)


@dataclass(frozen=True)
class IncomingMessage:
    text: str
    customer: Customer | None = None
    channel: str = "web"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HandoffRef:
    id: str
    status: str
    reason: str
    priority: str


@dataclass(frozen=True)
class TurnResult:
    conversation_id: str
    turn_id: str
    messages: tuple[BotMessage, ...]
    handled_by: str
    intent: IntentScore | None
    flow: FlowPosition | None
    sources: tuple[KbHit, ...]
    handoff: HandoffRef | None
    handed_off_now: bool = False  # this turn created the handoff


class ChatService:
    def __init__(
        self,
        *,
        store: Store,
        embedder: Embedder,
        project: Project,
        public_url: str,
        queue_notice_after_s: float = 300.0,
        hours: BusinessHours | None = None,
        on_outbox: Callable[[], None] = lambda: None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.embedder, self.project = store, embedder, project
        self.public_url = public_url.rstrip("/")
        self.queue_notice_after_s, self.hours = queue_notice_after_s, hours
        self.on_outbox, self.now = on_outbox, now
        self._new_messages = asyncio.Condition()

    # --- customer messages -----------------------------------------------------------------

    async def post_message(self, conversation_id: str, msg: IncomingMessage) -> TurnResult:
        owner = uuid.uuid4().hex
        customer = msg.customer or Customer(id=f"anonymous:{conversation_id}")
        conv = await self.store.lock_conversation(
            conversation_id, owner=owner, customer=customer, channel=msg.channel
        )
        try:
            if conv.status == "human":
                result = await self._forward(conv, msg, owner)
            else:
                result = await self._answer(conv, msg, owner)
        except BaseException:
            await asyncio.shield(self.store.unlock_conversation(conversation_id, owner=owner))
            raise
        await self._announce()
        return result

    async def _answer(self, conv: Conversation, msg: IncomingMessage, owner: str) -> TurnResult:
        project = self.project  # one consistent project for the whole turn, even across a reload
        started = time.perf_counter()
        vector = await self.embedder.encode_one(msg.text)
        encoded = time.perf_counter()
        nlu = project.parser.parse(msg.text, vector)
        parsed = time.perf_counter()
        customer = msg.customer or conv.customer
        ctx = TurnContext(
            conversation_id=conv.id, customer=customer, channel=msg.channel, metadata=msg.metadata
        )
        outcome = await project.pipeline.run(nlu, vector, conv.state, ctx)
        done = time.perf_counter()
        turn_id = uuid.uuid4().hex
        trace = dict(outcome.trace)
        trace["nlu"] = _nlu_trace(nlu)
        trace["flow_position"] = _position(outcome.flow)
        trace["timings_ms"] = {
            "encode": _ms(started, encoded),
            "nlu": _ms(encoded, parsed),
            "decide": _ms(parsed, done),
            "total": _ms(started, done),
        }
        turn = TurnRecord(turn_id, conv.id, msg.text, outcome.handled_by, trace, self.now())
        new_messages = [
            NewMessage("customer", msg.text, {"metadata": msg.metadata} if msg.metadata else {})
        ]
        new_messages += [NewMessage("bot", m.text, _message_data(m)) for m in outcome.messages]
        handoff: Handoff | None = None
        outbox: tuple[OutboxEvent, ...] = ()
        replies = outcome.messages
        if outcome.handoff is not None:
            handoff = Handoff(
                id=f"ho_{uuid.uuid4().hex[:20]}",
                conversation_id=conv.id,
                status="open",
                reason=outcome.handoff.reason,
                priority=outcome.handoff.priority,
                created_at=self.now(),
            )
            if (closed := self._closed_notice()) is not None:
                replies += (closed,)
                new_messages.append(NewMessage("bot", closed.text))
            payload = await self._handoff_payload(
                conv, customer, msg.channel, outcome, handoff, turn, new_messages
            )
            outbox = (OutboxEvent(uuid.uuid4().hex, "handoff.created", conv.id, payload),)
        await self.store.save_turn(
            TurnWrite(
                conversation_id=conv.id,
                lock_owner=owner,
                turn=turn,
                messages=tuple(new_messages),
                state=outcome.state,
                status="human" if handoff else "bot",
                handoff_id=handoff.id if handoff else None,
                new_handoff=handoff,
                outbox=outbox,
            )
        )
        if outbox:
            self.on_outbox()
        ref = (
            HandoffRef(handoff.id, handoff.status, handoff.reason, handoff.priority)
            if handoff
            else None
        )
        return TurnResult(
            conv.id,
            turn_id,
            replies,
            outcome.handled_by,
            outcome.intent,
            outcome.flow,
            outcome.sources,
            ref,
            handed_off_now=ref is not None,
        )

    async def _forward(self, conv: Conversation, msg: IncomingMessage, owner: str) -> TurnResult:
        """With a human: store the message, forward it, stay silent (but say if still queued)."""
        assert conv.handoff_id is not None
        handoff = await self.store.get_handoff(conv.handoff_id)
        turn_id = uuid.uuid4().hex
        now = self.now()
        turn = TurnRecord(
            turn_id,
            conv.id,
            msg.text,
            "human",
            {"decision": "with a human: forwarded to the helpdesk"},
            now,
        )
        replies: tuple[BotMessage, ...] = ()
        changed = None
        if self._should_say_still_queued(handoff, now):
            replies = self.project.say_named(
                "utter_still_in_queue", conv.state, msg.text, conv.customer
            )
            changed = Handoff(**{**handoff.__dict__, "queue_notified_at": now})
        entry = TranscriptEntry(
            seq=None, role="customer", text=msg.text, at=iso(now), turn_id=turn_id
        )
        event = MessageCreated(
            handoff_id=handoff.id,
            conversation_id=conv.id,
            message=entry,
            reply_url=self._reply_url(handoff.id),
        )
        await self.store.save_turn(
            TurnWrite(
                conversation_id=conv.id,
                lock_owner=owner,
                turn=turn,
                messages=(NewMessage("customer", msg.text),)
                + tuple(NewMessage("bot", m.text, _message_data(m)) for m in replies),
                state=conv.state,
                status="human",
                handoff_id=handoff.id,
                changed_handoff=changed,
                outbox=(
                    OutboxEvent(
                        uuid.uuid4().hex, "message.created", conv.id, event.model_dump(mode="json")
                    ),
                ),
            )
        )
        self.on_outbox()
        return TurnResult(
            conv.id,
            turn_id,
            replies,
            "human",
            None,
            None,
            (),
            HandoffRef(handoff.id, handoff.status, handoff.reason, handoff.priority),
        )

    def _should_say_still_queued(self, handoff: Handoff, now: float) -> bool:
        if handoff.agent_replied_at is not None:
            return False
        last = handoff.queue_notified_at or handoff.created_at
        return now - last >= self.queue_notice_after_s

    def _closed_notice(self) -> BotMessage | None:
        if self.hours is None or self.hours.is_open(self.now()):
            return None
        when = self.hours.describe(self.hours.next_opening(self.now()))
        return BotMessage(
            f"Our team is offline right now and back on {when}. Your conversation "
            "is saved and they'll pick it up then; you can leave more details here."
        )

    # --- agents ----------------------------------------------------------------------------

    async def agent_reply(
        self, handoff_id: str, *, text: str, agent: dict[str, Any]
    ) -> MessageRecord:
        handoff = await self.store.get_handoff(handoff_id)
        if handoff.status != "open":
            raise Conflict(
                f"handoff {handoff_id!r} is {handoff.status}; the bot has the conversation"
            )
        owner = uuid.uuid4().hex
        conv = await self.store.lock_conversation(
            handoff.conversation_id, owner=owner, customer=None, channel=""
        )
        try:
            changed = Handoff(
                **{**handoff.__dict__, "agent_replied_at": handoff.agent_replied_at or self.now()}
            )
            saved = await self.store.save_turn(
                TurnWrite(
                    conversation_id=conv.id,
                    lock_owner=owner,
                    turn=None,
                    messages=(NewMessage("agent", text, {"agent": agent}),),
                    state=conv.state,
                    status=conv.status,
                    handoff_id=conv.handoff_id,
                    changed_handoff=changed,
                )
            )
        except BaseException:
            await asyncio.shield(self.store.unlock_conversation(conv.id, owner=owner))
            raise
        await self._announce()
        return saved[0]

    async def resolve(self, handoff_id: str, *, note: str | None) -> Handoff:
        handoff = await self.store.get_handoff(handoff_id)
        if handoff.status != "open":
            raise Conflict(f"handoff {handoff_id!r} is already {handoff.status}")
        owner = uuid.uuid4().hex
        conv = await self.store.lock_conversation(
            handoff.conversation_id, owner=owner, customer=None, channel=""
        )
        try:
            resolved = Handoff(
                **{
                    **handoff.__dict__,
                    "status": "resolved",
                    "resolved_at": self.now(),
                    "note": note,
                }
            )
            state = conv.state.model_copy(deep=True)
            state.stack, state.consecutive_fallbacks = [], 0
            event = ConversationResolved(
                handoff_id=handoff.id,
                conversation_id=conv.id,
                note=note,
                resolved_at=iso(resolved.resolved_at or self.now()),
            )
            await self.store.save_turn(
                TurnWrite(
                    conversation_id=conv.id,
                    lock_owner=owner,
                    turn=None,
                    messages=(
                        NewMessage(
                            "system",
                            "The conversation is back with the assistant."
                            + (f" Note: {note}" if note else ""),
                            {"event": "resolved"},
                        ),
                    ),
                    state=state,
                    status="bot",
                    handoff_id=None,
                    changed_handoff=resolved,
                    outbox=(
                        OutboxEvent(
                            uuid.uuid4().hex,
                            "conversation.resolved",
                            conv.id,
                            event.model_dump(mode="json"),
                        ),
                    ),
                )
            )
        except BaseException:
            await asyncio.shield(self.store.unlock_conversation(conv.id, owner=owner))
            raise
        self.on_outbox()
        await self._announce()
        return resolved

    # --- reading ---------------------------------------------------------------------------

    async def wait_for_messages(
        self, conversation_id: str, *, after: int, timeout_s: float
    ) -> list[MessageRecord]:
        """Long-poll: returns as soon as there are messages after `after`, or [] at the timeout.
        Wakes on this process's writes and re-reads the store every second for other replicas'."""
        await self.store.get_conversation(conversation_id)  # NotFound for an unknown id
        deadline = time.monotonic() + timeout_s
        while True:
            found = await self.store.messages(conversation_id, after=after)
            left = deadline - time.monotonic()
            if found or left <= 0:
                return found
            async with self._new_messages:
                try:
                    await asyncio.wait_for(self._new_messages.wait(), timeout=min(1.0, left))
                except TimeoutError:
                    pass

    async def _announce(self) -> None:
        async with self._new_messages:
            self._new_messages.notify_all()

    # --- helpers ---------------------------------------------------------------------------

    def _reply_url(self, handoff_id: str) -> str:
        return f"{self.public_url}/v1/handoffs/{handoff_id}/messages"

    async def _handoff_payload(
        self,
        conv: Conversation,
        customer: Customer,
        channel: str,
        outcome: Outcome,
        handoff: Handoff,
        turn: TurnRecord,
        new_messages: list[NewMessage],
    ) -> dict[str, Any]:
        earlier = await self.store.messages(conv.id)
        turns = await self.store.turns(conv.id) + [turn]
        seq = earlier[-1].seq if earlier else 0
        now = self.now()
        pending = [
            MessageRecord(seq + i + 1, conv.id, turn.id, m.role, m.text, m.data, now)
            for i, m in enumerate(new_messages)
        ]
        entries = [
            e.model_copy(update={"seq": None}) if (e.seq or 0) > seq else e
            for e in transcript(earlier + pending, turns)
        ]
        updated = Conversation(
            conv.id, customer, channel, "human", outcome.state, handoff.id, conv.created_at, now
        )
        others = await self.store.customer_conversations(customer.id, exclude=conv.id)
        other_out = []
        for o in others:
            last = await self.store.messages(o.id)
            other_out.append(
                OtherConversation(
                    id=o.id,
                    channel=o.channel,
                    status=o.status,
                    updated_at=iso(o.updated_at),
                    last_message=last[-1].text if last else None,
                )
            )
        frame = outcome.state.active
        assert outcome.handoff is not None
        payload = HandoffCreated(
            handoff=HandoffInfo(
                id=handoff.id,
                reason=handoff.reason,
                detail=outcome.handoff.detail,
                priority=handoff.priority,
                status="open",
                created_at=iso(handoff.created_at),
            ),
            conversation_id=conv.id,
            channel=channel,
            customer=customer_out(customer),
            summary=summarise(
                updated,
                entries,
                handoff.reason,
                human_intents=frozenset(self.project.spec.escalation.human_request_intents),
            ),
            slots=dict(outcome.state.slots),
            active_flow={"flow_id": frame.flow_id, "step_id": frame.step_id}
            if frame
            else _position(outcome.flow),
            transcript=entries,
            other_conversations=other_out,
            reply_url=self._reply_url(handoff.id),
            resolve_url=f"{self.public_url}/v1/handoffs/{handoff.id}/resolve",
            business_hours=None if self.hours is None else {"open_now": self.hours.is_open(now)},
        )
        return payload.model_dump(mode="json")


def _ms(a: float, b: float) -> float:
    return round((b - a) * 1000, 2)


def _position(p: FlowPosition | None) -> dict[str, Any] | None:
    return None if p is None else {"flow_id": p.flow_id, "step_id": p.step_id}


def _message_data(m: BotMessage) -> dict[str, Any]:
    return (
        {"buttons": [{"title": b.title, "payload": b.payload} for b in m.buttons]}
        if m.buttons
        else {}
    )


def _nlu_trace(nlu: NluResult) -> dict[str, Any]:
    return {
        "intent": {"name": nlu.intent.name, "confidence": round(nlu.intent.confidence, 4)},
        "ranking": [
            {"name": s.name, "confidence": round(s.confidence, 4)} for s in nlu.ranking[:3]
        ],
        "entities": [
            {
                "entity": e.entity,
                "value": e.value,
                "start": e.start,
                "end": e.end,
                "extractor": e.extractor,
            }
            for e in nlu.entities
        ],
        "sentiment": round(nlu.sentiment, 3),
        "ambiguous": nlu.ambiguous,
    }


def turn_response(r: TurnResult) -> dict[str, Any]:
    """The API's turn response (DESIGN.md) as plain data."""
    return {
        "conversation_id": r.conversation_id,
        "turn_id": r.turn_id,
        "messages": [
            {
                "text": m.text,
                **(
                    {"buttons": [{"title": b.title, "payload": b.payload} for b in m.buttons]}
                    if m.buttons
                    else {}
                ),
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
        else {
            "id": r.handoff.id,
            "status": r.handoff.status,
            "reason": r.handoff.reason,
            "priority": r.handoff.priority,
        },
    }
