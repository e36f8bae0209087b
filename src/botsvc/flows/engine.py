"""The flow engine: what a message means for the conversation's flows, and what the bot does.

`FlowEngine.handle` takes the understood message, the dialogue state and who is talking, and
returns a `FlowResult` with the new state (the input is never mutated). No active flow: start the
flow whose `nlu_trigger` matches, or answer "not_handled" so the pipeline tries the knowledge
base. A flow waiting for a slot reads the message in this order, and the first that applies
decides; a slot never takes its value from a cancel, a human request or a question:

1. a human request (`escalation.human_request`, the pipeline's own test): start the flow that
   handles it if there is one, else "not_handled" so the pipeline hands off;
2. cancel (intent `cancel`, or "cancel" / "stop" / "never mind" / "forget it" alone): leave it;
3. a confident trigger of a flow not on the stack: push it, and resume this one when it ends;
4. a question (`is_question`): "digression", the state unchanged and `reprompt` holding the
   slot's question for after the KB's answer; unless the whole message is one value of the
   slot and a question mark ("max?", "yes?"), which is the answer;
5. the slot's value: an entity of the slot's name, or a typed slot's whole-message answer;
6. a trigger of a flow already on the stack ("I lost my card" while the card flow asks what
   happened): the answer, read as in 8, if the step's rejections accept it; else the question
   is asked again without counting a rejection;
7. a knowledge question by intent (`faq`): "digression", as in 4;
8. a typed answer inside a longer message ("max please"), or (text / any slots) the whole
   message;
9. anything else is an answer not understood: counted as a rejection and asked again.

Categorical values also match through `synonyms` (from the NLU training data) and light typos.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from botsvc import escalation
from botsvc.domain import (
    FALLBACK_INTENT,
    BotMessage,
    DialogueState,
    FlowFrame,
    FlowPosition,
    HandoffRequest,
    NluResult,
    TurnContext,
    condition_context,
)
from botsvc.flows.actions import ActionClient, rasa_domain
from botsvc.flows.corrections import find_correction
from botsvc.flows.descriptions import FlowMatch
from botsvc.flows.run import FLOW_CHANGED_TEXT, FlowRun
from botsvc.flows.slotfill import (
    FAQ_INTENT,
    Fill,
    direct_answer,
    from_answer,
    from_entity,
    is_cancel,
    is_question,
)
from botsvc.spec.model import FlowSpec, SlotSpec
from botsvc.spec.steps import CallStep, CollectStep, Flow

__all__ = ["FlowEngine", "FlowResult"]

Status = Literal["handled", "not_handled", "digression"]

_NO_SYNONYMS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class FlowResult:
    """What the flows did with one message.

    `messages` may be non-empty even when "not_handled" (a notice that a flow was dropped after a
    reload); send them first. `state` is always the state to store, whatever the status.
    """

    status: Status
    messages: tuple[BotMessage, ...]
    position: FlowPosition | None  # active flow and step after this turn (None: no flow)
    handoff: HandoffRequest | None  # a handoff step ran, rejections ran out, an action failed
    reprompt: tuple[BotMessage, ...]  # with "digression": the question to ask after the KB answer
    trace: tuple[dict[str, Any], ...]  # what the engine did and why; JSON-serialisable
    state: DialogueState


class FlowEngine:
    def __init__(
        self,
        spec: FlowSpec,
        *,
        actions: ActionClient | None,
        rng: random.Random | None = None,
        intents: Sequence[str] = (),
        synonyms: Mapping[str, str] = _NO_SYNONYMS,
    ) -> None:
        """`synonyms`: lower-cased synonym -> canonical value, as in the NLU training data;
        a synonym of one of a categorical slot's values fills it ("premium" -> max)."""
        self.spec = spec
        self._actions = actions
        self._rng = rng or random.Random()
        self._domain = rasa_domain(spec, intents=intents)
        self._synonyms = {k.lower(): v for k, v in synonyms.items()}

    async def handle(
        self,
        nlu: NluResult,
        state: DialogueState,
        ctx: TurnContext,
        *,
        described: FlowMatch | None = None,
    ) -> FlowResult:
        """`described`: the flow without nlu_trigger whose description the message matches."""
        run = FlowRun(
            spec=self.spec,
            actions=self._actions,
            domain=self._domain,
            nlu=nlu,
            state=state,
            context=condition_context(ctx, nlu),
            customer=ctx.customer,
            rng=self._rng,
        )
        if self._drop_vanished(run):
            await run.resume()
            return _result(run, "handled")
        frame = run.state.active
        if frame is None:
            return await self._start(run, described)
        step = self.spec.flows[frame.flow_id].step(frame.step_id)
        if frame.waiting_for is None or not isinstance(step, CollectStep):
            await run.resume()
            return _result(run, "handled")
        return await self._answer(run, frame, step, described)

    def triggered_flow(self, run: FlowRun, described: FlowMatch | None = None) -> Flow | None:
        """The first flow whose nlu_trigger accepts this message's intent (and whose `if` holds),
        else the flow whose description the message matched."""
        intent = run.nlu.intent
        by_intent = self._by_intent(run) if intent.name != FALLBACK_INTENT else None
        if by_intent is not None or described is None:
            return by_intent
        flow = self.spec.flows.get(described.flow_id)
        if flow is None or not _guard_holds(run, flow):
            return None
        run.note("flow_matched_description", flow=flow.id, score=round(described.score, 3))
        return flow

    def _by_intent(self, run: FlowRun) -> Flow | None:
        intent = run.nlu.intent
        for flow in self.spec.flows_triggered_by(intent.name):
            thresholds = [t.confidence_threshold for t in flow.triggers if t.intent == intent.name]
            if not any(t is None or intent.confidence >= t for t in thresholds):
                run.note("trigger_below_threshold", flow=flow.id, confidence=intent.confidence)
                continue
            if _guard_holds(run, flow):
                return flow
        # a flow without nlu_trigger named like the intent: Rasa projects often train an intent
        # per flow ("verify_account") for their NLU side
        named = self.spec.flows.get(intent.name)
        if named is not None and not named.triggers and _guard_holds(run, named):
            run.note("flow_named_like_intent", flow=named.id)
            return named
        return None

    async def _start(self, run: FlowRun, described: FlowMatch | None) -> FlowResult:
        flow = self.triggered_flow(run, described)
        if flow is None:
            run.note("no_flow_triggered", intent=run.nlu.intent.name)
            return _result(run, "not_handled")
        intent = run.nlu.intent
        await run.start(
            flow, event="flow_started", intent=intent.name, confidence=intent.confidence
        )
        return _result(run, "handled")

    async def _answer(
        self, run: FlowRun, frame: FlowFrame, step: CollectStep, described: FlowMatch | None
    ) -> FlowResult:
        nlu, slot = run.nlu, self.spec.slots[step.slot]
        if escalation.human_request(nlu, self.spec.escalation) is not None:
            return await self._human_request(run)
        if is_cancel(nlu):
            await run.cancel()
            return _result(run, "handled")
        corrected = find_correction(
            nlu,
            spec=self.spec,
            flow=self.spec.flows[frame.flow_id],
            asking=step.slot,
            slots=run.state.slots,
        )
        if corrected:
            await run.correct(corrected, step, frame)
            return _result(run, "handled")
        # a confident trigger of another flow wins over reading this message as the answer:
        # "where is order NW-447120?" while the refund waits for a number checks that order
        other = self.triggered_flow(run, described)
        stacked = other is not None and any(f.flow_id == other.id for f in run.state.stack)
        if other is not None and not stacked and _states_the_slot(slot, nlu.text):
            # ...unless it says it answers: "my email is ana.k@example.com" while the password
            # reset asks for the email is no request to change the email
            run.note("trigger_read_as_answer", flow=other.id, slot=step.slot)
            other, stacked = None, False
        if other is not None and not stacked:
            await run.start(
                other,
                event="flow_pushed",
                interrupted=frame.flow_id,
                intent=nlu.intent.name,
                confidence=nlu.intent.confidence,
            )
            return _result(run, "handled")
        # "how much is the max plan?" names a value but asks about it; "max?" answers
        if is_question(nlu.text):
            fill = direct_answer(slot, nlu, synonyms=self._synonyms)
            if fill is None:
                return self._digression(run, frame, step)
            return await self._fill(run, frame, step, fill)
        fill = from_entity(slot, nlu, asked=True, synonyms=self._synonyms) or from_answer(
            slot, nlu, strict=True, synonyms=self._synonyms
        )
        if fill is not None:
            return await self._fill(run, frame, step, fill)
        if other is not None:
            return await self._retrigger(run, frame, step, other)
        if nlu.intent.name == FAQ_INTENT:
            return self._digression(run, frame, step)
        fill = self._loose(slot, nlu)
        if fill is not None:
            return await self._fill(run, frame, step, fill)
        run.reject(step, frame, None, rule="answer not understood")
        return _result(run, "handled")

    async def _retrigger(
        self, run: FlowRun, frame: FlowFrame, step: CollectStep, flow: Flow
    ) -> FlowResult:
        """A flow on the stack triggered again: the classifier heard what the flow is about,
        which is often the very answer ("I lost my card"). An answer the step would reject is
        no answer but the request repeated, so it is asked again without counting."""
        fill = self._loose(self.spec.slots[step.slot], run.nlu)
        if fill is not None and _acceptable(run, step, fill.value):
            run.note("flow_retriggered_as_answer", flow=flow.id, slot=step.slot)
            return await self._fill(run, frame, step, fill)
        run.note("flow_already_active", flow=flow.id)
        run.ask(step, frame)
        return _result(run, "handled")

    def _loose(self, slot: SlotSpec, nlu: NluResult) -> Fill | None:
        fill = from_answer(slot, nlu, strict=False, synonyms=self._synonyms)
        if fill is None and slot.type in ("text", "any"):
            fill = Fill(nlu.text, "text")
        return fill

    def _digression(self, run: FlowRun, frame: FlowFrame, step: CollectStep) -> FlowResult:
        run.note("digression", flow=frame.flow_id, slot=step.slot, intent=run.nlu.intent.name)
        question = run.render(step.utter)
        return _result(run, "digression", reprompt=(question,) if question else ())

    async def _fill(
        self, run: FlowRun, frame: FlowFrame, step: CollectStep, fill: Fill
    ) -> FlowResult:
        following = run.accept(step, frame, fill)
        if following is not None:
            await run.proceed(following)
        return _result(run, "handled")

    async def _human_request(self, run: FlowRun) -> FlowResult:
        flow = self.triggered_flow(run)
        if flow is not None and all(f.flow_id != flow.id for f in run.state.stack):
            await run.start(flow, event="flow_pushed", reason="human_request")
            return _result(run, "handled")
        run.note("human_request", intent=run.nlu.intent.name)
        return _result(run, "not_handled")

    def _drop_vanished(self, run: FlowRun) -> bool:
        """Drop frames naming a flow or step the spec no longer has; True if the top one went."""
        stack = run.state.stack
        valid = [self._is_valid(f, top=i == len(stack) - 1) for i, f in enumerate(stack)]
        if all(valid):
            return False
        for frame, ok in zip(stack, valid, strict=True):
            if not ok:
                run.note(
                    "flow_dropped",
                    flow=frame.flow_id,
                    step=frame.step_id,
                    reason="the flow or step is no longer defined",
                )
        top_dropped = not valid[-1]
        run.state.stack = [f for f, ok in zip(stack, valid, strict=True) if ok]
        if top_dropped:
            run.say_or("utter_flow_changed", FLOW_CHANGED_TEXT)
        return top_dropped

    def _is_valid(self, frame: FlowFrame, *, top: bool) -> bool:
        flow = self.spec.flows.get(frame.flow_id)
        step = flow.step(frame.step_id) if flow else None
        if step is None:
            return False
        if frame.waiting_for is not None:
            return isinstance(step, CollectStep) and step.slot == frame.waiting_for
        return top or isinstance(step, (CollectStep, CallStep))


def _acceptable(run: FlowRun, step: CollectStep, value: Any) -> bool:
    """Whether the step's rejections would let `value` through (nothing is changed)."""
    slots = {**run.slots(), step.slot: value}
    return not any(r.condition.evaluate(slots=slots, context=run.context) for r in step.rejections)


def _result(run: FlowRun, status: Status, reprompt: tuple[BotMessage, ...] = ()) -> FlowResult:
    top = run.state.active
    return FlowResult(
        status=status,
        messages=tuple(run.messages),
        position=FlowPosition(top.flow_id, top.step_id) if top else None,
        handoff=run.handoff,
        reprompt=reprompt,
        trace=tuple(run.trace),
        state=run.state,
    )


def _states_the_slot(slot: SlotSpec, text: str) -> bool:
    """The message states the value of the slot asked for: "my email is ...", "email: ..."."""
    words = r"[\s_-]+".join(re.escape(w) for w in re.split(r"[_\W]+", slot.name) if w)
    if not words:
        return False
    pattern = rf"^\s*(?:(?:my|the|our|new)\s+)*{words}\s*(?:is|was|=|:|'s)(?:\s|$)"
    return re.search(pattern, text, re.IGNORECASE) is not None


def _guard_holds(run: FlowRun, flow: Flow) -> bool:
    """The flow's `if`, which every way of starting it must pass."""
    if flow.guard is None or flow.guard.evaluate(slots=run.slots(), context=run.context):
        return True
    run.note("flow_guard_false", flow=flow.id, guard=flow.guard.source)
    return False
