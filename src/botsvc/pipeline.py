"""The path of one message once understood: flows → knowledge base → escalation.

`Pipeline.run` takes plain data (the NLU result, the dialogue state, the turn's context) and
returns an `Outcome` with its typed `TurnTrace`; it neither stores nor sends anything. Which
rule escalates is decided in escalation.py; this module only asks in order.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from botsvc import escalation
from botsvc.domain import (
    FALLBACK_INTENT,
    BotMessage,
    Button,
    DialogueState,
    FlowPosition,
    FlowTrace,
    HandledBy,
    HandoffRequest,
    HitTrace,
    KbAnswer,
    KbHit,
    KbTrace,
    NluResult,
    Outcome,
    TurnContext,
    TurnTrace,
    Vector,
    condition_context,
)
from botsvc.flows.descriptions import DescriptionRouter, FlowMatch
from botsvc.flows.engine import FlowEngine, FlowResult
from botsvc.flows.slotfill import is_question
from botsvc.kb.retrieval import KnowledgeBase
from botsvc.nlu.language import SORRY, BotLanguage, message_language
from botsvc.spec.model import FlowSpec
from botsvc.spec.variants import declared_languages

RECENT_TEXTS = 5
SEARCH_PATTERN = "pattern_search"  # Rasa's pattern for knowledge answers: botsvc's KB runs it
QUESTION_MARGIN = 0.1  # above the description threshold, a question starts its flow anyway
REPEAT_PATTERN = "pattern_repeat_bot_messages"
LAST_REPLY = 5  # messages kept to repeat
_REPEAT = re.compile(
    r"^\s*(?:sorry,?\s+)?(?:(?:can|could|would) you\s+)?(?:please\s+)?"
    r"(?:repeat(?:\s+(?:that|it|yourself|the question|the last message))?|say (?:that|it) again"
    r"|come again|what did you (?:just )?say|pardon(?: me)?|one more time)"
    r"(?:\s+please)?[\s?.!]*$",
    re.IGNORECASE,
)

# Said when the project defines no response of that name.
DEFAULT_TEXTS = {
    "utter_default": "Sorry, I didn't quite get that. Could you say it in other words?",
    "utter_handoff": "I'm connecting you with a member of our team. They'll see everything we've "
    "discussed, so you won't have to repeat yourself.",
    "utter_did_you_mean": "Just to be sure, did you mean one of these?",
    "utter_out_of_scope": "Sorry, that's outside what I can help with. Is there something about "
    "your account or an order I can do for you?",
    "utter_acknowledge": "Alright. Let me know if there's anything else I can help with.",
    "utter_message_passed_on": "Thanks, I've passed that on. Someone from our team will reply "
    "here as soon as they can.",
    "utter_still_in_queue": "You're still in the queue; someone from our team will be with you "
    "as soon as possible.",
    "utter_user_input_too_long_error_rasa": "Sorry, that message is too long for me. Could you "
    "make it shorter?",
}
# "ok", "no", "never mind" with no flow to answer: acknowledged, neither a miss nor a handoff
ACKNOWLEDGEMENT_INTENTS = frozenset({"affirm", "deny", "cancel"})

Say = Callable[[str, DialogueState, NluResult, TurnContext], tuple[BotMessage, ...]]


@dataclass
class _Notes:
    """The trace as the turn goes; frozen into a TurnTrace with the decision."""

    flow: FlowTrace | None = None
    kb: KbTrace | None = None
    intent_floor: str | None = None
    priority_rules: tuple[str, ...] = field(default_factory=tuple)

    def freeze(self, decision: str) -> TurnTrace:
        return TurnTrace(
            decision=decision,
            flow=self.flow,
            kb=self.kb,
            intent_floor=self.intent_floor,
            priority_rules=self.priority_rules,
        )


class Pipeline:
    def __init__(
        self,
        *,
        spec: FlowSpec,
        engine: FlowEngine,
        kb: KnowledgeBase,
        say: Say,
        router: DescriptionRouter | None = None,
        language: BotLanguage | None = None,
    ) -> None:
        self.spec, self.engine, self.kb, self.say = spec, engine, kb, say
        self.router = router  # starts flows from their description
        self.language = language or BotLanguage(())  # its own, from its training examples
        self._declared = declared_languages(spec.responses)  # what its `lang:` variants speak
        self._served: frozenset[str] | None = None

    async def run(
        self, nlu: NluResult, vector: Vector, state: DialogueState, ctx: TurnContext
    ) -> Outcome:
        rules = self.spec.escalation
        notes = _Notes()
        earlier = list(state.recent_texts)
        state = state.model_copy(deep=True)
        state.recent_texts = (state.recent_texts + [nlu.text])[-RECENT_TEXTS:]
        state.sentiments = (state.sentiments + [round(nlu.sentiment, 3)])[-20:]
        if self.served:
            state.languages = self._languages(nlu.text, state.languages)

        if _REPEAT.match(nlu.text) and state.last_reply:
            # Rasa's pattern_repeat_bot_messages: "say that again" repeats the last reply as is
            notes.flow = _pattern_ran(None, REPEAT_PATTERN, reason="repeat", status="handled")
            return self._outcome(
                "flow" if state.active else "fallback",
                tuple(state.last_reply),
                nlu,
                state,
                notes,
                "asked to repeat: the last reply said again",
                flow=_position(state),
            )
        limit = self.spec.max_message_chars
        if limit is not None and len(nlu.text) > limit:
            # Rasa Pro does not read a message this long; it asks for a shorter one
            return self._outcome(
                "fallback",
                self.say("utter_user_input_too_long_error_rasa", state, nlu, ctx),
                nlu,
                state,
                notes,
                f"message longer than {limit} characters: asked for a shorter one",
                flow=_position(state),
            )
        nlu, notes.intent_floor = escalation.apply_intent_floor(nlu, rules)
        # a human request always wins, whatever flow is running
        if (ask := escalation.human_request(nlu, rules)) is not None:
            return self._handoff(ask, nlu, state, ctx, notes, flow=None)

        if state.active is None and nlu.ambiguous:
            choice = self._did_you_mean(nlu, state, ctx)
            if choice is not None:
                return self._outcome(
                    "fallback", (choice,), nlu, state, notes, "ambiguous intents: offered a choice"
                )

        started = time.perf_counter()
        described = self.router.match(vector, nlu.text) if self.router is not None else None
        answer: KbAnswer | None = None
        consulted = False
        if described is not None and self._question_for_kb(nlu, described):
            # a question the knowledge base answers is no request to start the flow it is
            # about ("are transfers free?"), unless it is very close to the flow's description
            answer, consulted = self._answer(nlu, vector, notes), True
            if answer is not None:
                described = None
        result = await self.engine.handle(nlu, state, ctx, described=described)
        notes.flow = FlowTrace(status=result.status, events=result.trace, ms=_ms(started))
        state = result.state

        if result.status == "handled":
            return self._after_flow(result, nlu, state, ctx, notes)

        if not consulted:
            answer = self._answer(nlu, vector, notes)
        if answer is not None and SEARCH_PATTERN in self.spec.flows:
            notes.flow = _pattern_ran(notes.flow, SEARCH_PATTERN, reason="knowledge")
        if result.status == "digression":
            if answer is not None:
                return self._outcome(
                    "kb",
                    (_answer_message(answer),) + result.reprompt,
                    nlu,
                    state,
                    notes,
                    "digression answered from the knowledge base; flow resumes",
                    flow=result.position,
                    sources=answer.sources,
                )
            return self._outcome(
                "flow",
                self.say("utter_default", state, nlu, ctx) + result.reprompt,
                nlu,
                state,
                notes,
                "digression the knowledge base could not answer; asked again",
                flow=result.position,
            )

        upset = escalation.frustration(nlu, earlier, rules, sentiments=state.sentiments)
        if upset is not None:
            return self._handoff(upset, nlu, state, ctx, notes, flow=None)
        if answer is not None:
            state.consecutive_fallbacks = 0
            return self._outcome(
                "kb",
                (_answer_message(answer),),
                nlu,
                state,
                notes,
                f"answered from the knowledge base (score {answer.score:.3f})",
                sources=answer.sources,
            )
        return self._fallback(nlu, state, ctx, notes)

    @property
    def served(self) -> frozenset[str]:
        """The languages the bot answers in (its own among them) when its responses have `lang:`
        variants in other languages than its own; empty otherwise, and then no message's
        language is detected until a fallback."""
        if self._served is None:
            others = self._declared - {self.language.own} if self._declared else frozenset()
            self._served = others | {self.language.own} if others else frozenset()
        return self._served

    def _languages(self, text: str, before: list[str]) -> list[str]:
        """The conversation's languages after this message: the one it is written in, else the
        one the conversation had (a short message, a value, an unserved language), else the
        bot's own; the bot's own always last."""
        own = self.language.own
        kept = before[0] if before and before[0] in self.served else own
        code = message_language(text, served=self.served) or kept
        return [code] if code == own else [code, own]

    def _after_flow(
        self,
        result: FlowResult,
        nlu: NluResult,
        state: DialogueState,
        ctx: TurnContext,
        notes: _Notes,
    ) -> Outcome:
        state.consecutive_fallbacks = 0
        if result.handoff is not None:
            out = self._handoff(result.handoff, nlu, state, ctx, notes, flow=result.position)
            return replace(out, messages=result.messages + out.messages)
        if (upset := escalation.frustration(nlu, [], self.spec.escalation)) is not None:
            return self._handoff(upset, nlu, state, ctx, notes, flow=result.position)
        return self._outcome(
            "flow", result.messages, nlu, state, notes, "handled by flow", flow=result.position
        )

    def _question_for_kb(self, nlu: NluResult, described: FlowMatch) -> bool:
        if described.candidates or not is_question(nlu.text) or self.router is None:
            return False
        return described.score < self.router.threshold + QUESTION_MARGIN

    def _answer(self, nlu: NluResult, vector: Vector, notes: _Notes) -> KbAnswer | None:
        started = time.perf_counter()
        answer, hits = self.kb.consult(nlu.text, vector, top_k=3)
        declined = (
            None if answer is None else escalation.kb_floor(answer.score, self.spec.escalation)
        )
        notes.kb = KbTrace(
            hits=tuple(HitTrace(id=h.id, title=h.title, score=round(h.score, 4)) for h in hits),
            answered=answer is not None,
            threshold=self.kb.threshold,
            ms=_ms(started),
            declined_by=declined,
        )
        return None if declined else answer

    def _fallback(
        self, nlu: NluResult, state: DialogueState, ctx: TurnContext, notes: _Notes
    ) -> Outcome:
        foreign = self.language.foreign(nlu.text)
        if foreign is not None and foreign not in self.served:
            # not understood because it is not a language the bot speaks: say so in the
            # customer's own, and hand over with the language for the helpdesk to route it
            handover = HandoffRequest(
                reason="language", detail=f"the customer writes in {foreign}", language=foreign
            )
            out = self._handoff(handover, nlu, state, ctx, notes, flow=None)
            return replace(out, messages=(BotMessage(SORRY[foreign]),))
        if nlu.intent.name in ACKNOWLEDGEMENT_INTENTS:
            return self._outcome(
                "fallback",
                self.say("utter_acknowledge", state, nlu, ctx),
                nlu,
                state,
                notes,
                f"acknowledged ({nlu.intent.name}): no flow waits for it",
            )
        if escalation.is_off_topic(nlu) or self._far_from_the_kb(nlu, notes):
            return self._outcome(
                "fallback",
                self.say("utter_out_of_scope", state, nlu, ctx),
                nlu,
                state,
                notes,
                "off topic: said it is out of scope; not counted towards a handoff",
            )
        state.consecutive_fallbacks += 1
        rules = self.spec.escalation
        if (ask := escalation.fallbacks_exhausted(state.consecutive_fallbacks, rules)) is not None:
            return self._handoff(ask, nlu, state, ctx, notes, flow=None)
        return self._outcome(
            "fallback",
            self.say("utter_default", state, nlu, ctx),
            nlu,
            state,
            notes,
            f"fallback {state.consecutive_fallbacks} of {rules.max_consecutive_fallbacks}: "
            "no flow, knowledge base declined",
        )

    def _far_from_the_kb(self, nlu: NluResult, notes: _Notes) -> bool:
        """A question nothing understood, with no value in it, whose best KB passage is as far
        from it as the off-topic probes were: about something else ("who won the world cup?"),
        declined without counting as a miss of a request the bot should know. Gibberish and
        vague requests still count."""
        bound = self.kb.off_topic_below
        if bound is None or notes.kb is None or nlu.entities or not is_question(nlu.text):
            return False
        best = max((h.score for h in notes.kb.hits), default=0.0)
        return nlu.intent.name == FALLBACK_INTENT and best < bound

    def _handoff(
        self,
        ask: HandoffRequest,
        nlu: NluResult,
        state: DialogueState,
        ctx: TurnContext,
        notes: _Notes,
        *,
        flow: FlowPosition | None,
    ) -> Outcome:
        if ask.language is None and len(state.languages) > 1:
            # the conversation is in another language than the bot's own: the helpdesk routes
            # it by that language whatever the reason
            ask = replace(ask, language=state.languages[0])
        ask, matched = escalation.apply_metadata_rules(
            ask,
            rules=self.spec.escalation,
            slots=state.slots,
            context=condition_context(ctx, nlu),
        )
        notes.priority_rules = tuple(matched)
        state.consecutive_fallbacks = 0
        decision = f"handoff: {ask.reason} ({ask.detail})".replace(" ()", "")
        return self._outcome(
            "human",
            self.say("utter_handoff", state, nlu, ctx),
            nlu,
            state,
            notes,
            decision,
            flow=flow,
            handoff=ask,
        )

    def _did_you_mean(
        self, nlu: NluResult, state: DialogueState, ctx: TurnContext
    ) -> BotMessage | None:
        """The top two intents are close: offer both (as buttons) instead of guessing."""
        flows_by_intent = {t.intent: f for f in self.spec.flows.values() for t in f.triggers}
        top = [s for s in nlu.ranking[:2] if s.name in flows_by_intent]
        if len(top) < 2:
            return None
        buttons = tuple(
            Button(
                title=flows_by_intent[s.name].name or flows_by_intent[s.name].description,
                payload=f"/{s.name}",
            )
            for s in top
        )
        question = self.say("utter_did_you_mean", state, nlu, ctx)
        first = question[0] if question else BotMessage(DEFAULT_TEXTS["utter_did_you_mean"])
        return BotMessage(first.text, buttons, response="utter_did_you_mean")

    @staticmethod
    def _outcome(
        handled_by: HandledBy,
        messages: tuple[BotMessage, ...],
        nlu: NluResult,
        state: DialogueState,
        notes: _Notes,
        decision: str,
        *,
        flow: FlowPosition | None = None,
        sources: tuple[KbHit, ...] = (),
        handoff: HandoffRequest | None = None,
    ) -> Outcome:
        if messages:
            state.last_reply = list(messages)[-LAST_REPLY:]
        return Outcome(
            handled_by=handled_by,
            messages=messages,
            intent=nlu.intent,
            flow=flow,
            sources=sources,
            handoff=handoff,
            state=state,
            trace=notes.freeze(decision),
        )


def _pattern_ran(
    flow: FlowTrace | None, pattern: str, *, reason: str, status: str = "not_handled"
) -> FlowTrace:
    """A Rasa pattern that botsvc runs outside the flows (the KB's pattern_search, repeating the
    last reply), recorded in the turn's flow events as starting and ending."""
    events = (
        {"event": "flow_started", "flow": pattern, "reason": reason},
        {"event": "flow_completed", "flow": pattern, "step": reason},
    )
    if flow is None:
        return FlowTrace(status=status, events=events, ms=0.0)
    return replace(flow, events=flow.events + events)


def _position(state: DialogueState) -> FlowPosition | None:
    frame = state.active
    return None if frame is None else FlowPosition(frame.flow_id, frame.step_id)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _answer_message(answer: KbAnswer) -> BotMessage:
    """The answer, and a link to the article it came from when the article has a URL: the
    customer can read the rest there (on channels that show text only, too)."""
    url = answer.sources[0].url if answer.sources else None
    return BotMessage(f"{answer.text}\n\nRead more: {url}" if url else answer.text)
