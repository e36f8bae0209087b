"""Customer turns: one message in, the turn stored, the answer out.

Takes the conversation's lease, answers (or, while a human has the conversation, forwards the
message to the helpdesk), and writes the turn, its messages, handoff and outbox rows in one
transaction. What agents do is in helpdesk/agents.py.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from botsvc.access import TRUSTED, Access, ConversationKeys
from botsvc.domain import (
    BotMessage,
    Customer,
    IntentScore,
    KbHit,
    NluResult,
    NluTrace,
    Timings,
    TurnContext,
    trace_as_json,
)
from botsvc.embedding import Embedder
from botsvc.errors import IdempotencyConflict
from botsvc.helpdesk.handoffs import HandoffLinks, handoff_created
from botsvc.helpdesk.hours import BusinessHours
from botsvc.helpdesk.payloads import MessageCreated, TranscriptEntry, iso
from botsvc.live import MessageFeed
from botsvc.project import LiveProject
from botsvc.redact import Redactor
from botsvc.replay import REPLAY_WINDOW_S, request_hash, result_from_json, result_json
from botsvc.service_types import ConversationView, HandoffRef, IncomingMessage, TurnResult
from botsvc.store import (
    Feedback,
    Handoff,
    Idempotent,
    NewMessage,
    OutboxEvent,
    Rating,
    Store,
    TurnRecord,
    TurnWrite,
)
from botsvc.store.lease import Lease, leased
from botsvc.turn_facts import turn_facts

__all__ = ["ChatService", "ConversationView", "HandoffRef", "IncomingMessage", "TurnResult"]


class ChatService:
    def __init__(
        self,
        *,
        store: Store,
        embedder: Embedder,
        project: LiveProject,
        feed: MessageFeed,
        public_url: str,
        keys: ConversationKeys | None = None,
        queue_notice_after_s: float = 300.0,
        hours: BusinessHours | None = None,
        on_outbox: Callable[[], None] = lambda: None,
        now: Callable[[], float] = time.time,
        redactor: Redactor | None = None,
    ) -> None:
        self.store, self.embedder, self.project, self.feed = store, embedder, project, feed
        # BOTSVC_REDACT: what is stored and sent is masked, what the customer is answered is not
        self.masked = _Masked(redactor)
        self.links, self.keys = HandoffLinks(public_url), keys
        self.queue_notice_after_s, self.hours = queue_notice_after_s, hours
        self.on_outbox, self.now = on_outbox, now

    async def post_message(
        self, conversation_id: str, msg: IncomingMessage, access: Access = TRUSTED
    ) -> TurnResult:
        """One customer message. A conversation no turn was saved in yet is the caller's, who
        gets its token; entering an older one needs that token (AccessDenied). With an
        idempotency key already answered in the last day, that answer again and nothing new
        (IdempotencyConflict when the key came with another message)."""
        customer = msg.customer or Customer(id=f"anonymous:{conversation_id}")
        started = time.perf_counter()
        async with leased(
            self.store, conversation_id, customer=customer, channel=msg.channel
        ) as lease:
            locked = time.perf_counter()
            conv = lease.conversation
            is_new = conv.updated_at == conv.created_at  # no turn saved yet
            if self.keys is not None and not is_new:
                self.keys.check(conversation_id, access)
            token = self.keys.token(conversation_id) if is_new and self.keys is not None else None
            keep = None
            if msg.idempotency_key is not None:
                asked = request_hash(msg.text, msg.channel, msg.metadata)
                kept = await self.store.idempotent(
                    conversation_id, msg.idempotency_key, since=self.now() - REPLAY_WINDOW_S
                )
                if kept is not None:  # answered before: nothing new is stored
                    await self.store.unlock_conversation(conversation_id, owner=lease.owner)
                    if kept.request_hash != asked:
                        raise IdempotencyConflict(
                            "this Idempotency-Key was used for another message"
                        )
                    return result_from_json(kept.result)
                keep = (msg.idempotency_key, asked)
            if conv.status == "human":
                result = await self._forward(lease, msg, token, keep)
            else:
                result = await self._answer(lease, msg, token, keep)
        timings = {"lock": _ms(started, locked), **result.timings_ms}
        timings["total"] = _ms(started, time.perf_counter())
        return replace(result, timings_ms=timings)

    async def conversation(
        self, conversation_id: str, *, after: int = 0, limit: int = 1000
    ) -> ConversationView:
        """The conversation, one page of its transcript (the `limit` messages after `after`,
        with the turns they belong to) and its open handoff; NotFound if unknown."""
        conv = await self.store.get_conversation(conversation_id)
        page = await self.store.messages(conversation_id, after=after, limit=limit)
        shown = {m.turn_id for m in page}
        return ConversationView(
            conversation=conv,
            messages=page,
            handoff=await self.store.get_handoff(conv.handoff_id) if conv.handoff_id else None,
            turns=[t for t in await self.store.turns(conversation_id) if t.id in shown],
            next_after=page[-1].seq if len(page) == limit else None,
        )

    async def record_rating(
        self, conversation_id: str, *, score: int, comment: str | None
    ) -> Rating:
        """The customer's CSAT rating, of the conversation's latest handoff when it had one;
        NotFound for an unknown conversation."""
        return await self.store.record_rating(
            conversation_id, score=score, comment=comment, at=self.now()
        )

    async def record_feedback(
        self, conversation_id: str, turn_id: str, *, helpful: bool, comment: str | None
    ) -> Feedback:
        """The customer's "was this helpful?" on one of the conversation's turns (the latest
        say counts); NotFound when the turn is not one of that conversation's."""
        fb = Feedback(
            turn_id=turn_id,
            conversation_id=conversation_id,
            helpful=helpful,
            comment=comment,
            created_at=time.time(),
        )
        await self.store.record_feedback(fb)
        return fb

    async def parse(self, text: str) -> NluResult:
        """What the NLU makes of a text, outside any conversation."""
        vector = await self.embedder.encode_one(text)
        return self.project.current.parser.parse(text, vector)

    async def search_kb(self, query: str, *, top_k: int) -> list[KbHit]:
        vector = await self.embedder.encode_one(query)
        return self.project.current.kb.search(query, vector, top_k=top_k)

    async def _answer(
        self, lease: Lease, msg: IncomingMessage, token: str | None, keep: _Keep
    ) -> TurnResult:
        conv = lease.conversation
        project = self.project.current  # one consistent project for the whole turn
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
        stages = Timings(
            encode=_ms(started, encoded),
            nlu=_ms(encoded, parsed),
            decide=_ms(parsed, done),
            total=_ms(started, done),
        )
        trace = replace(
            outcome.trace, nlu=_nlu_trace(nlu), flow_position=outcome.flow, timings_ms=stages
        )
        facts = turn_facts(replace(outcome, trace=trace), conv.state)
        turn = TurnRecord(
            id=uuid.uuid4().hex,
            conversation_id=conv.id,
            text=msg.text,
            handled_by=outcome.handled_by,
            trace=trace_as_json(trace),
            created_at=self.now(),
            intent=facts.intent,
            confidence=facts.confidence,
            flow_id=facts.flow_id,
            step_id=facts.step_id,
            gap=facts.gap,
        )
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
            payload = await handoff_created(
                self.store,
                conv=conv,
                customer=customer,
                channel=msg.channel,
                outcome=outcome,
                handoff=handoff,
                turn=turn,
                new_messages=new_messages,
                links=self.links,
                hours=self.hours,
                human_intents=frozenset(project.spec.escalation.human_request_intents),
                now=self.now(),
            )
            outbox = (OutboxEvent(uuid.uuid4().hex, "handoff.created", conv.id, payload),)
        result = TurnResult(
            conversation_id=conv.id,
            turn_id=turn.id,
            messages=replies,
            handled_by=outcome.handled_by,
            intent=outcome.intent,
            flow=outcome.flow,
            sources=outcome.sources,
            handoff=HandoffRef.of(handoff) if handoff else None,
            handed_off_now=handoff is not None,
            trace=trace,
            conversation_token=token,
        )
        saving = time.perf_counter()
        saved = await self.store.save_turn(
            self.masked.write(
                TurnWrite(
                    conversation_id=conv.id,
                    lock_owner=lease.owner,
                    turn=turn,
                    messages=tuple(new_messages),
                    state=outcome.state,
                    status="human" if handoff else "bot",
                    handoff_id=handoff.id if handoff else None,
                    new_handoff=handoff,
                    outbox=outbox,
                    flow_events=facts.flow_events,
                    idempotent=_kept(keep, result),
                )
            )
        )
        saved_at = time.perf_counter()
        self.feed.publish(saved)
        if outbox:
            self.on_outbox()
        return replace(
            result,
            timings_ms={
                "encode": stages.encode,
                "nlu": stages.nlu,
                "decide": stages.decide,
                "save": _ms(saving, saved_at),
            },
        )

    async def _forward(
        self, lease: Lease, msg: IncomingMessage, token: str | None, keep: _Keep
    ) -> TurnResult:
        """With a human: store the message, forward it, stay silent (but say if still queued)."""
        conv = lease.conversation
        assert conv.handoff_id is not None
        handoff = await self.store.get_handoff(conv.handoff_id)
        turn_id = uuid.uuid4().hex
        now = self.now()
        turn = TurnRecord(
            id=turn_id,
            conversation_id=conv.id,
            text=msg.text,
            handled_by="human",
            trace={"decision": "with a human: forwarded to the helpdesk"},
            created_at=now,
        )
        replies: tuple[BotMessage, ...] = ()
        changed = None
        notice = self._waiting_notice(handoff, now)
        if notice is not None:
            replies = self.project.current.say_named(notice, conv.state, msg.text, conv.customer)
            changed = replace(handoff, queue_notified_at=now)
        event = MessageCreated(
            handoff_id=handoff.id,
            conversation_id=conv.id,
            message=TranscriptEntry(
                seq=None, role="customer", text=msg.text, at=iso(now), turn_id=turn_id, trace=None
            ),
            reply_url=self.links.reply_url(handoff.id),
        )
        result = TurnResult(
            conversation_id=conv.id,
            turn_id=turn_id,
            messages=replies,
            handled_by="human",
            intent=None,
            flow=None,
            sources=(),
            handoff=HandoffRef.of(handoff),
            conversation_token=token,
        )
        saved = await self.store.save_turn(
            self.masked.write(
                TurnWrite(
                    conversation_id=conv.id,
                    lock_owner=lease.owner,
                    turn=turn,
                    messages=(NewMessage("customer", msg.text),)
                    + tuple(NewMessage("bot", m.text, _message_data(m)) for m in replies),
                    state=conv.state,
                    status="human",
                    handoff_id=handoff.id,
                    changed_handoff=changed,
                    outbox=(
                        OutboxEvent(
                            uuid.uuid4().hex,
                            "message.created",
                            conv.id,
                            event.model_dump(mode="json"),
                        ),
                    ),
                    idempotent=_kept(keep, result),
                )
            )
        )
        self.feed.publish(saved)
        self.on_outbox()
        return result

    def _waiting_notice(self, handoff: Handoff, now: float) -> str | None:
        """Before any agent has answered: the customer's first message is acknowledged (it has
        reached the team), and one after `queue_notice_after_s` without a notice hears that
        they are still in the queue; the rest wait quietly, as in a helpdesk's own chat."""
        if handoff.agent_replied_at is not None:
            return None
        if handoff.queue_notified_at is None:
            return "utter_message_passed_on"
        if now - handoff.queue_notified_at >= self.queue_notice_after_s:
            return "utter_still_in_queue"
        return None

    def _closed_notice(self) -> BotMessage | None:
        if self.hours is None or self.hours.is_open(self.now()):
            return None
        when = self.hours.describe(self.hours.next_opening(self.now()))
        return BotMessage(
            f"Our team is offline right now and back on {when}. Your conversation "
            "is saved and they'll pick it up then; you can leave more details here."
        )


_Keep = tuple[str, str] | None  # the client's idempotency key and its request's hash


def _kept(keep: _Keep, result: TurnResult) -> Idempotent | None:
    if keep is None:
        return None
    return Idempotent(key=keep[0], request_hash=keep[1], result=result_json(result))


@dataclass(frozen=True)
class _Masked:
    """A turn's writes with personal data masked (no redactor: as they are). The state keeps its
    slots, which the dialogue needs; the texts it remembers (to spot a repeated question, to
    say the last reply again) are masked like the transcript."""

    redactor: Redactor | None

    def write(self, w: TurnWrite) -> TurnWrite:
        r = self.redactor
        if r is None:
            return w
        turn = w.turn and replace(w.turn, text=r.text(w.turn.text), trace=r.value(w.turn.trace))
        state = w.state.model_copy(
            update={
                "recent_texts": [r.text(t) for t in w.state.recent_texts],
                "last_reply": [replace(m, text=r.text(m.text)) for m in w.state.last_reply],
            }
        )
        return replace(
            w,
            turn=turn,
            messages=tuple(
                replace(m, text=r.text(m.text), data=r.value(m.data)) for m in w.messages
            ),
            state=state,
            # the customer as the site identified them is the helpdesk's to know
            outbox=tuple(replace(ev, payload=r.value(ev.payload, keep=_KEEP)) for ev in w.outbox),
        )


_KEEP = frozenset({"customer"})


def _ms(a: float, b: float) -> float:
    return round((b - a) * 1000, 2)


def _message_data(m: BotMessage) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if m.buttons:
        data["buttons"] = [{"title": b.title, "payload": b.payload} for b in m.buttons]
    if m.response:
        data["response"] = m.response
    for key in ("image", "custom", "attachment"):
        if getattr(m, key) is not None:
            data[key] = getattr(m, key)
    return data


def _nlu_trace(nlu: NluResult) -> NluTrace:
    return NluTrace(
        intent=IntentScore(nlu.intent.name, round(nlu.intent.confidence, 4)),
        ranking=tuple(IntentScore(s.name, round(s.confidence, 4)) for s in nlu.ranking[:3]),
        entities=nlu.entities,
        sentiment=round(nlu.sentiment, 3),
        ambiguous=nlu.ambiguous,
    )
