"""Domain records → response bodies (api/schemas.py)."""

from __future__ import annotations

from botsvc.api import schemas as s
from botsvc.domain import BotMessage, KbHit, trace_from_json
from botsvc.helpdesk.payloads import iso
from botsvc.service import TurnResult
from botsvc.store import Conversation, Handoff, MessageRecord, OutboxRow, TurnRecord


def bot_message_out(m: BotMessage) -> s.BotMessageOut:
    return s.BotMessageOut(
        text=m.text,
        buttons=[s.ButtonOut(title=b.title, payload=b.payload) for b in m.buttons] or None,
        image=m.image,
        custom=m.custom,
        attachment=m.attachment,
    )


def turn_out(r: TurnResult) -> s.TurnOut:
    return s.TurnOut(
        conversation_id=r.conversation_id,
        turn_id=r.turn_id,
        messages=[bot_message_out(m) for m in r.messages],
        handled_by=r.handled_by,
        intent=None
        if r.intent is None
        else s.IntentOut(name=r.intent.name, confidence=round(r.intent.confidence, 4)),
        flow=None if r.flow is None else s.FlowOut(id=r.flow.flow_id, step=r.flow.step_id),
        sources=[
            s.SourceOut(title=h.title, url=h.url, score=round(h.score, 4), section=h.section)
            for h in r.sources
        ],
        handoff=None
        if r.handoff is None
        else s.HandoffOut(
            id=r.handoff.id,
            status=r.handoff.status,
            reason=r.handoff.reason,
            priority=r.handoff.priority,
        ),
        conversation_token=r.conversation_token,
    )


def message_out(m: MessageRecord) -> s.TranscriptMessageOut:
    buttons = m.data.get("buttons")
    return s.TranscriptMessageOut(
        seq=m.seq,
        role=m.role,
        text=m.text,
        turn_id=m.turn_id,
        at=iso(m.created_at),
        buttons=[s.ButtonOut(**b) for b in buttons] if buttons else None,
        agent=m.data.get("agent"),
        event=m.data.get("event"),
        response=m.data.get("response"),
        image=m.data.get("image"),
        custom=m.data.get("custom"),
        attachment=m.data.get("attachment"),
    )


def handoff_out(h: Handoff) -> s.HandoffOut:
    return s.HandoffOut(id=h.id, status=h.status, reason=h.reason, priority=h.priority)


def turn_summary_out(t: TurnRecord, messages: list[MessageRecord]) -> s.TurnSummaryOut:
    trace = trace_from_json(t.trace)
    events = list(trace.flow.events) if trace.flow else []
    responses = [
        str(m.data["response"]) for m in messages if m.turn_id == t.id and m.data.get("response")
    ]
    custom = [str(e["action"]) for e in events if e.get("event") == "action_called"]
    return s.TurnSummaryOut(
        turn_id=t.id,
        text=t.text,
        handled_by=t.handled_by,
        decision=trace.decision,
        responses=responses,
        actions=custom + responses,
        events=events,
    )


def conversation_out(
    conv: Conversation,
    messages: list[MessageRecord],
    handoff: Handoff | None,
    turns: list[TurnRecord] | None = None,
) -> s.ConversationOut:
    frame = conv.state.active
    c = conv.customer
    return s.ConversationOut(
        conversation_id=conv.id,
        status=conv.status,
        channel=conv.channel,
        customer=s.CustomerIn(id=c.id, name=c.name, email=c.email, metadata=c.metadata),
        slots=conv.state.slots,
        flow=s.FlowOut(id=frame.flow_id, step=frame.step_id) if frame else None,
        handoff=handoff_out(handoff) if handoff else None,
        created_at=iso(conv.created_at),
        updated_at=iso(conv.updated_at),
        messages=[message_out(m) for m in messages],
        turns=[turn_summary_out(t, messages) for t in turns or []],
    )


def kb_result_out(h: KbHit) -> s.KbResultOut:
    return s.KbResultOut(id=h.id, title=h.title, text=h.text, url=h.url, score=round(h.score, 4))


def outbox_out(r: OutboxRow) -> s.OutboxRowOut:
    return s.OutboxRowOut(
        id=r.id,
        event=r.event,
        conversation_id=r.conversation_id,
        status=r.status,
        attempts=r.attempts,
        next_attempt_at=iso(r.next_attempt_at),
        last_error=r.last_error,
        created_at=iso(r.created_at),
        delivered_at=iso(r.delivered_at) if r.delivered_at else None,
    )


def text_parts(text: str) -> list[str]:
    """A text as Rasa's channels send it: one message per paragraph (blank-line separated)."""
    return [p.strip() for p in text.strip().split("\n\n") if p.strip()]


def rest_reply(recipient_id: str, m: BotMessage) -> list[dict[str, object]]:
    """One bot message in Rasa's REST channel shape: a text without buttons is split at its
    blank lines into one message each, as Rasa's channel does; with buttons it stays whole."""
    rich = {k: v for k in ("image", "custom", "attachment") if (v := getattr(m, k)) is not None}
    if m.buttons:
        buttons = [{"title": b.title, "payload": b.payload} for b in m.buttons]
        return [{"recipient_id": recipient_id, "text": m.text, "buttons": buttons, **rich}]
    items: list[dict[str, object]] = [
        {"recipient_id": recipient_id, "text": p} for p in text_parts(m.text)
    ]
    if rich:  # an image or payload goes with the last part, or alone when there is no text
        items = items or [{"recipient_id": recipient_id}]
        items[-1].update(rich)
    return items or [{"recipient_id": recipient_id, "text": m.text}]
