"""The path of one message once understood: flows → knowledge base → escalation.

`Pipeline.run` takes plain data (the NLU result, the dialogue state, the turn's context) and
returns an Outcome; it neither stores nor sends anything. The service persists the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from botsvc import escalation
from botsvc.domain import (
    FALLBACK_INTENT,
    BotMessage,
    Button,
    DialogueState,
    FlowPosition,
    HandledBy,
    HandoffRequest,
    IntentScore,
    KbAnswer,
    KbHit,
    NluResult,
    Vector,
)
from botsvc.flows.engine import FlowEngine, FlowResult, TurnContext
from botsvc.flows.spec import FlowSpec
from botsvc.kb.retrieval import KnowledgeBase

RECENT_TEXTS = 5

# Said when the project defines no response of that name.
DEFAULT_TEXTS = {
    "utter_default": "Sorry, I didn't quite get that. Could you say it in other words?",
    "utter_handoff": "I'm connecting you with a member of our team. They'll see everything we've "
    "discussed, so you won't have to repeat yourself.",
    "utter_did_you_mean": "Just to be sure, did you mean one of these?",
}

Say = Callable[[str, DialogueState, NluResult, TurnContext], tuple[BotMessage, ...]]


@dataclass(frozen=True)
class Outcome:
    handled_by: HandledBy
    messages: tuple[BotMessage, ...]
    intent: IntentScore | None
    flow: FlowPosition | None
    sources: tuple[KbHit, ...]
    handoff: HandoffRequest | None
    state: DialogueState
    trace: dict[str, Any] = field(default_factory=dict)


class Pipeline:
    def __init__(self, *, spec: FlowSpec, engine: FlowEngine, kb: KnowledgeBase, say: Say) -> None:
        self.spec, self.engine, self.kb, self.say = spec, engine, kb, say

    async def run(
        self, nlu: NluResult, vector: Vector, state: DialogueState, ctx: TurnContext
    ) -> Outcome:
        rules = self.spec.escalation
        trace: dict[str, Any] = {}
        earlier = list(state.recent_texts)
        state = state.model_copy(deep=True)
        state.recent_texts = (state.recent_texts + [nlu.text])[-RECENT_TEXTS:]
        state.sentiments = (state.sentiments + [round(nlu.sentiment, 3)])[-20:]

        nlu = self._apply_intent_floor(nlu, trace)
        # a human request always wins, whatever flow is running
        if (ask := escalation.human_request(nlu, rules)) is not None:
            return self._handoff(ask, nlu, state, ctx, trace, flow=None)

        started = time.perf_counter()
        if (
            state.active is None
            and nlu.ambiguous
            and (choice := self._did_you_mean(nlu, state, ctx))
        ):
            trace["decision"] = "ambiguous intents: offered a choice"
            return choice

        result = await self.engine.handle(nlu, state, ctx)
        trace["flow"] = {
            "status": result.status,
            "events": list(result.trace),
            "ms": round((time.perf_counter() - started) * 1000, 2),
        }
        state = result.state

        if result.status == "handled":
            return self._after_flow(result, nlu, state, ctx, trace, earlier)

        answer = self._answer(nlu, vector, trace)
        if result.status == "digression":
            if answer is not None:
                trace["decision"] = "digression answered from the knowledge base; flow resumes"
                return Outcome(
                    "kb",
                    (BotMessage(answer.text),) + result.reprompt,
                    nlu.intent,
                    result.position,
                    answer.sources,
                    None,
                    state,
                    trace,
                )
            trace["decision"] = "digression the knowledge base could not answer; asked again"
            return Outcome(
                "flow",
                self.say("utter_default", state, nlu, ctx) + result.reprompt,
                nlu.intent,
                result.position,
                (),
                None,
                state,
                trace,
            )

        if (upset := escalation.frustration(nlu, earlier, rules)) is not None:
            return self._handoff(upset, nlu, state, ctx, trace, flow=None)
        if answer is not None:
            state.consecutive_fallbacks = 0
            trace["decision"] = f"answered from the knowledge base (score {answer.score:.3f})"
            return Outcome(
                "kb",
                (BotMessage(answer.text),),
                nlu.intent,
                None,
                answer.sources,
                None,
                state,
                trace,
            )
        return self._fallback(nlu, state, ctx, trace)

    def _apply_intent_floor(self, nlu: NluResult, trace: dict[str, Any]) -> NluResult:
        """`low_confidence.intent_min_confidence`: a project-wide floor under the calibrated one."""
        floor = self.spec.escalation.intent_min_confidence
        if floor is None or nlu.intent.name == FALLBACK_INTENT or nlu.intent.confidence >= floor:
            return nlu
        trace["intent_floor"] = f"{nlu.intent.name} {nlu.intent.confidence:.2f} < {floor}"
        return replace(nlu, intent=IntentScore(FALLBACK_INTENT, nlu.intent.confidence))

    def _after_flow(
        self,
        result: FlowResult,
        nlu: NluResult,
        state: DialogueState,
        ctx: TurnContext,
        trace: dict[str, Any],
        earlier: list[str],
    ) -> Outcome:
        state.consecutive_fallbacks = 0
        if result.handoff is not None:
            out = self._handoff(result.handoff, nlu, state, ctx, trace, flow=result.position)
            return Outcome(
                out.handled_by,
                result.messages + out.messages,
                out.intent,
                result.position,
                (),
                out.handoff,
                out.state,
                out.trace,
            )
        if (upset := escalation.frustration(nlu, [], self.spec.escalation)) is not None:
            out = self._handoff(upset, nlu, state, ctx, trace, flow=result.position)
            return out
        trace["decision"] = "handled by flow"
        return Outcome("flow", result.messages, nlu.intent, result.position, (), None, state, trace)

    def _answer(self, nlu: NluResult, vector: Vector, trace: dict[str, Any]) -> KbAnswer | None:
        started = time.perf_counter()
        answer, hits = self.kb.consult(nlu.text, vector, top_k=3)
        floor = self.spec.escalation.kb_min_score
        trace["kb"] = {
            "hits": [{"id": h.id, "title": h.title, "score": round(h.score, 4)} for h in hits],
            "answered": answer is not None,
            "threshold": self.kb.threshold,
            "ms": round((time.perf_counter() - started) * 1000, 2),
        }
        if answer is not None and floor is not None and answer.score < floor:
            trace["kb"]["declined_by"] = f"escalation.low_confidence.kb_min_score {floor}"
            return None
        return answer

    def _fallback(
        self, nlu: NluResult, state: DialogueState, ctx: TurnContext, trace: dict[str, Any]
    ) -> Outcome:
        state.consecutive_fallbacks += 1
        limit = self.spec.escalation.max_consecutive_fallbacks
        if state.consecutive_fallbacks >= limit:
            ask = HandoffRequest(
                "low_confidence",
                "normal",
                f"{state.consecutive_fallbacks} messages in a row not understood",
            )
            return self._handoff(ask, nlu, state, ctx, trace, flow=None)
        trace["decision"] = (
            f"fallback {state.consecutive_fallbacks} of {limit}: no flow, knowledge base declined"
        )
        return Outcome(
            "fallback",
            self.say("utter_default", state, nlu, ctx),
            nlu.intent,
            None,
            (),
            None,
            state,
            trace,
        )

    def _handoff(
        self,
        ask: HandoffRequest,
        nlu: NluResult,
        state: DialogueState,
        ctx: TurnContext,
        trace: dict[str, Any],
        *,
        flow: FlowPosition | None,
    ) -> Outcome:
        ask, matched = escalation.apply_metadata_rules(
            ask,
            rules=self.spec.escalation,
            slots=state.slots,
            context=escalation.condition_context(ctx.customer, ctx.channel, ctx.metadata),
        )
        trace["decision"] = f"handoff: {ask.reason} ({ask.detail})".replace(" ()", "")
        if matched:
            trace["priority_rules"] = matched
        state.consecutive_fallbacks = 0
        return Outcome(
            "human",
            self.say("utter_handoff", state, nlu, ctx),
            nlu.intent,
            flow,
            (),
            ask,
            state,
            trace,
        )

    def _did_you_mean(
        self, nlu: NluResult, state: DialogueState, ctx: TurnContext
    ) -> Outcome | None:
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
        return Outcome(
            "fallback",
            (BotMessage(first.text, buttons),),
            nlu.intent,
            None,
            (),
            None,
            state,
            {"decision": "ambiguous intents: offered a choice"},
        )
