"""The flow engine: what a message means for the conversation's flows, and what the bot does.

`FlowEngine.handle` takes the understood message, the dialogue state and who is talking, and
returns a `FlowResult` with the new state (the input is never mutated). No active flow: start the
flow whose `nlu_trigger` matches, or answer "not_handled" so the pipeline tries the knowledge
base. A flow waiting for a slot reads the message in this order:

1. a human request (`escalation.human_request`, the pipeline's own test): start the flow that
   handles it if there is one, else "not_handled" so the pipeline hands off;
2. cancel (intent `cancel`, or "cancel" / "stop" / "never mind" / "forget it" alone): leave it;
3. the slot's value: an entity of the slot's name, or a typed slot's whole-message answer;
4. a confident trigger of another flow: push it, and resume this one when it ends;
5. a knowledge question (intent `faq`, or a question): "digression", the state unchanged and
   `reprompt` holding the slot's question for after the KB's answer;
6. a typed answer inside a longer message, or (text / any slots) the whole message;
7. anything else is an answer not understood: counted as a rejection and asked again.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
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
from botsvc.flows.run import FLOW_CHANGED_TEXT, FlowRun
from botsvc.flows.slotfill import (
    FAQ_INTENT,
    Fill,
    from_answer,
    from_entity,
    is_cancel,
    is_question,
)
from botsvc.spec.model import FlowSpec
from botsvc.spec.steps import CallStep, CollectStep, Flow

__all__ = ["FlowEngine", "FlowResult"]

Status = Literal["handled", "not_handled", "digression"]


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
    ) -> None:
        self.spec = spec
        self._actions = actions
        self._rng = rng or random.Random()
        self._domain = rasa_domain(spec, intents=intents)

    async def handle(self, nlu: NluResult, state: DialogueState, ctx: TurnContext) -> FlowResult:
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
            return await self._start(run)
        step = self.spec.flows[frame.flow_id].step(frame.step_id)
        if frame.waiting_for is None or not isinstance(step, CollectStep):
            await run.resume()
            return _result(run, "handled")
        return await self._answer(run, frame, step)

    def triggered_flow(self, run: FlowRun) -> Flow | None:
        """The first flow whose nlu_trigger accepts this message's intent (and whose `if` holds)."""
        intent = run.nlu.intent
        if intent.name == FALLBACK_INTENT:
            return None
        for flow in self.spec.flows_triggered_by(intent.name):
            thresholds = [t.confidence_threshold for t in flow.triggers if t.intent == intent.name]
            if not any(t is None or intent.confidence >= t for t in thresholds):
                run.note("trigger_below_threshold", flow=flow.id, confidence=intent.confidence)
                continue
            if flow.guard and not flow.guard.evaluate(slots=run.slots(), context=run.context):
                run.note("flow_guard_false", flow=flow.id, guard=flow.guard.source)
                continue
            return flow
        return None

    async def _start(self, run: FlowRun) -> FlowResult:
        flow = self.triggered_flow(run)
        if flow is None:
            run.note("no_flow_triggered", intent=run.nlu.intent.name)
            return _result(run, "not_handled")
        intent = run.nlu.intent
        await run.start(
            flow, event="flow_started", intent=intent.name, confidence=intent.confidence
        )
        return _result(run, "handled")

    async def _answer(self, run: FlowRun, frame: FlowFrame, step: CollectStep) -> FlowResult:
        nlu, slot = run.nlu, self.spec.slots[step.slot]
        if escalation.human_request(nlu, self.spec.escalation) is not None:
            return await self._human_request(run)
        if is_cancel(nlu):
            await run.cancel()
            return _result(run, "handled")
        # a confident trigger of another flow wins over reading this message as the answer:
        # "where is order NW-447120?" while the refund waits for a number checks that order
        other = self.triggered_flow(run)
        if other is not None and all(f.flow_id != other.id for f in run.state.stack):
            await run.start(
                other,
                event="flow_pushed",
                interrupted=frame.flow_id,
                intent=nlu.intent.name,
                confidence=nlu.intent.confidence,
            )
            return _result(run, "handled")
        fill = from_entity(slot, nlu, asked=True) or from_answer(slot, nlu, strict=True)
        if fill is not None:
            return await self._fill(run, frame, step, fill)
        if other is not None:
            run.note("flow_already_active", flow=other.id)
            run.ask(step, frame)
            return _result(run, "handled")
        if nlu.intent.name == FAQ_INTENT or is_question(nlu.text):
            run.note("digression", flow=frame.flow_id, slot=step.slot, intent=nlu.intent.name)
            question = run.render(step.utter)
            return _result(run, "digression", reprompt=(question,) if question else ())
        fill = from_answer(slot, nlu, strict=False)
        if fill is None and slot.type in ("text", "any"):
            fill = Fill(nlu.text, "text")
        if fill is not None:
            return await self._fill(run, frame, step, fill)
        run.reject(step, frame, None, rule="answer not understood")
        return _result(run, "handled")

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
