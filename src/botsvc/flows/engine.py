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
from botsvc.flows.clarification import chosen
from botsvc.flows.corrections import find_correction
from botsvc.flows.descriptions import FlowMatch
from botsvc.flows.run import CONTINUE_PATTERN, FLOW_CHANGED_TEXT, FlowRun
from botsvc.flows.slotfill import (
    FAQ_INTENT,
    Fill,
    direct_answer,
    from_answer,
    from_entity,
    generic_kind,
    is_cancel,
    is_question,
)
from botsvc.spec.model import FlowSpec, SlotSpec
from botsvc.spec.steps import CallStep, CollectStep, Flow

__all__ = ["FlowEngine", "FlowResult"]

VALUE_SHARE = 0.4  # of a message's characters, for a value alone to start its flow
# built-in entities that answer many questions: no reason alone to start a flow
_GENERIC_ENTITIES = frozenset({"number", "amount_of_money", "time", "person", "phone_number"})

# "it's @barts", "that is Joe": the words before a free-text answer are not part of it
_LEAD_IN = re.compile(r"^\s*(?:it'?s|it is|that'?s|that is|this is)\s+(?=\S)", re.IGNORECASE)

# Rasa's default responses for an answer that is not a value of the slot's type (said when the
# project has them: every Rasa project does)
_TYPE_REJECTIONS = {
    "categorical": "utter_categorical_slot_rejection",
    "bool": "utter_boolean_slot_rejection",
    "float": "utter_float_slot_rejection",
}

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
        """`described`: the flows whose description the message matches."""
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
        result = await self._handle(run, described)
        if not run.pending_questions:
            return result
        # a question asked by a custom action: run it now, its messages go where the
        # question goes (after a digression's answer too)
        said = len(run.messages)
        await run.ask_pending()
        if result.status == "digression":
            asked = tuple(run.messages[said:])
            del run.messages[said:]
            return _result(run, result.status, reprompt=result.reprompt + asked)
        return _result(run, result.status, reprompt=result.reprompt)

    async def _handle(self, run: FlowRun, described: FlowMatch | None) -> FlowResult:
        if self._drop_vanished(run):
            await run.resume()
            return _result(run, "handled")
        frame = run.state.active
        offered, run.state.clarification = run.state.clarification, []
        if frame is None and offered:
            picked = self._picked(run, offered)
            if picked is not None:
                await run.start(picked, event="flow_started", reason="clarified")
                return _result(run, "handled")
        if frame is None:
            return await self._start(run, described)
        step = self.spec.flows[frame.flow_id].step(frame.step_id)
        if frame.waiting_for is None or not isinstance(step, CollectStep):
            await run.resume()
            return _result(run, "handled")
        return await self._answer(run, frame, step, described)

    def triggered_flow(
        self, run: FlowRun, described: FlowMatch | None = None, *, waiting: bool = False
    ) -> Flow | None:
        """The first flow whose nlu_trigger accepts this message's intent (and whose `if` holds),
        else the flow whose description the message matched, unless that is ambiguous. While a
        question waits (`waiting`) or the message is a question, a description starts only a
        flow without an nlu_trigger: a
        flow the classifier knows needs its intent to interrupt ("I lost my card" answers why the
        card is replaced; it is no request to add a card)."""
        intent = run.nlu.intent
        by_intent = self._by_intent(run, described) if intent.name != FALLBACK_INTENT else None
        if by_intent is not None or described is None or described.candidates:
            return by_intent
        flows = [
            self.spec.flows[f]
            for f in described.confident
            if f in self.spec.flows and not self._contradicted(run, self.spec.flows[f])
        ]
        best = self.spec.flows.get(described.flow_id)
        if not flows and described.leading and best is not None and self._fills_a_slot(run, best):
            flows = [best]
        if waiting or is_question(run.nlu.text):
            # ...and a question about a flow the classifier knows ("how do I reset my
            # password?") asks for information: the knowledge base's, not the flow's
            flows = [f for f in flows if not f.triggers]
        flow = flows[0] if flows else None
        if flow is None or not _guard_holds(run, flow):
            return None
        run.note("flow_matched_description", flow=flow.id, score=round(described.score, 3))
        return flow

    def _value_said(self, slot: SlotSpec, nlu: NluResult) -> Fill | None:
        """A value of the slot in the message: its entity, or a value of a typed slot."""
        fill = from_entity(slot, nlu, asked=True, synonyms=self._synonyms)
        if fill is None and slot.type in ("categorical", "bool", "float"):
            fill = from_answer(slot, nlu, strict=False, synonyms=self._synonyms)
        return fill

    def _fills_a_slot(self, run: FlowRun, flow: Flow) -> bool:
        """Whether an entity of the message fills one of the flow's slots."""
        return any(
            from_entity(self.spec.slots[s.slot], run.nlu, synonyms=self._synonyms) is not None
            for s in flow.steps.values()
            if isinstance(s, CollectStep) and s.slot in self.spec.slots
        )

    def _contradicted(self, run: FlowRun, flow: Flow) -> bool:
        """A flow the classifier knows (it has an nlu_trigger) is not started by its description
        when the classifier names another flow's intent: one sentence of description is weaker
        evidence than the examples it was trained on ("change my subscription" reads close to
        "change the email address" and is the plan's intent)."""
        intent = run.nlu.intent.name
        if not flow.triggers or intent == FALLBACK_INTENT:
            return False
        return all(t.intent != intent for t in flow.triggers) and any(
            f.id != flow.id for f in self.spec.flows_triggered_by(intent)
        )

    def _by_intent(self, run: FlowRun, described: FlowMatch | None) -> Flow | None:
        nlu = run.nlu
        for flow in self.spec.flows_triggered_by(nlu.intent.name):
            thresholds = [
                t.confidence_threshold for t in flow.triggers if t.intent == nlu.intent.name
            ]
            met = any(t is None or nlu.intent.confidence >= t for t in thresholds)
            # below its threshold, a clear winner still triggers unless the message is closer
            # to another flow's description
            if not met and not (
                self.spec.diet_thresholds
                and any(_clear_winner(t, nlu) for t in thresholds)
                and not _described_elsewhere(self.spec, flow, described)
            ):
                run.note("trigger_below_threshold", flow=flow.id, confidence=nlu.intent.confidence)
                continue
            if _guard_holds(run, flow):
                return flow
        # a flow without nlu_trigger named like the intent: Rasa projects often train an intent
        # per flow ("verify_account") for their NLU side
        named = self.spec.flows.get(nlu.intent.name)
        if named is not None and not named.triggers and _guard_holds(run, named):
            run.note("flow_named_like_intent", flow=named.id)
            return named
        return None

    def _picked(self, run: FlowRun, offered: list[str]) -> Flow | None:
        """The flow the reply to a clarification picks, if it picks one still defined."""
        flows = [self.spec.flows[f] for f in offered if f in self.spec.flows]
        flow_id = chosen([(f.id, f.name or f.id.replace("_", " ")) for f in flows], run.nlu.text)
        flow = self.spec.flows.get(flow_id) if flow_id else None
        if flow is None or not _guard_holds(run, flow):
            return None
        run.note("clarification_answered", flow=flow.id, offered=offered)
        return flow

    async def _start(self, run: FlowRun, described: FlowMatch | None) -> FlowResult:
        flow = self.triggered_flow(run, described)
        ambiguous = flow is None and described is not None and bool(described.candidates)
        if ambiguous and described is not None and await run.clarify(described.candidates):
            return _result(run, "handled")
        if flow is None and not ambiguous:
            flow = self._asked_first_by(run)
        if flow is None:
            run.note("no_flow_triggered", intent=run.nlu.intent.name)
            return _result(run, "not_handled")
        intent = run.nlu.intent
        await run.start(
            flow, event="flow_started", intent=intent.name, confidence=intent.confidence
        )
        return _result(run, "handled")

    def _asked_first_by(self, run: FlowRun) -> Flow | None:
        """A message that is only a value ("NW-447120") with no flow waiting for it starts the
        flow whose first question that value answers: an entity of the slot's own (an order
        number), not a number, date or name that could answer anything. Of several such flows,
        the one whose intent the classifier ranks higher."""
        text = run.nlu.text.strip()
        if is_question(text) or not text:
            return None
        found = []
        for flow in self.spec.flows.values():
            if flow.id.startswith("pattern_") or not flow.triggers:
                continue
            first = flow.steps.get(flow.first_step)
            if not isinstance(first, CollectStep) or first.slot not in self.spec.slots:
                continue
            slot = self.spec.slots[first.slot]
            if slot.entity in _GENERIC_ENTITIES:
                continue
            spans = [e.end - e.start for e in run.nlu.entities if e.entity == slot.entity]
            # the value is most of the message ("NW-447120", "sorry, NW-447120"), not a word
            # in a sentence about something else
            if spans and max(spans) >= VALUE_SHARE * len(text) and _guard_holds(run, flow):
                found.append(flow)
        if len(found) > 1:
            # several flows ask for it first: the one whose intent the classifier ranks higher
            odds = {r.name: r.confidence for r in run.nlu.ranking}
            score = {f.id: max(odds.get(t.intent, 0.0) for t in f.triggers) for f in found}
            found.sort(key=lambda f: -score[f.id])
            if score[found[0].id] <= score[found[1].id]:
                return None
        if not found:
            return None
        run.note("flow_started_by_value", flow=found[0].id, slot=found[0].first_step)
        return found[0]

    async def _answer(
        self, run: FlowRun, frame: FlowFrame, step: CollectStep, described: FlowMatch | None
    ) -> FlowResult:
        nlu, slot = run.nlu, self.spec.slots[step.slot]
        if frame.flow_id == CONTINUE_PATTERN and len(run.state.stack) > 1:
            below = self._beyond_continue_question(run, slot)
            if below is not None:
                return await self._answer(run, *below, described)
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
        other = self.triggered_flow(run, described, waiting=True)
        stacked = other is not None and any(f.flow_id == other.id for f in run.state.stack)
        if other is not None and not stacked and _states_the_slot(slot, nlu.text):
            # ...unless it says it answers: "my email is ana.k@example.com" while the password
            # reset asks for the email is no request to change the email
            run.note("trigger_read_as_answer", flow=other.id, slot=step.slot)
            other, stacked = None, False
        # a start only from a description or a DIET-scale threshold yields to a value of the
        # slot asked for: "credit card" asked how to pay is no request to add a card
        weak = other is not None and not stacked and not _met_at_face_value(other, nlu)
        if weak and other is not None and self._value_said(slot, nlu) is not None:
            run.note("answer_over_flow", flow=other.id, slot=step.slot)
            other = None
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
        fill = self._loose(slot, nlu, step)
        if fill is not None:
            return await self._fill(run, frame, step, fill)
        if slot.type not in ("categorical", "bool") and await run.chitchat():
            return _result(run, "handled")
        run.reject(step, frame, _TYPE_REJECTIONS.get(slot.type), rule="answer not understood")
        return _result(run, "handled")

    def _beyond_continue_question(
        self, run: FlowRun, slot: SlotSpec
    ) -> tuple[FlowFrame, CollectStep] | None:
        """Asked whether to go back to an interrupted flow, the customer does more than say yes
        or no: an answer to its question ("I owe him $500") or a cancel ("never mind") is meant
        for that flow, so the question is dropped and the message goes to the flow below."""
        if from_answer(slot, run.nlu, strict=False) is not None and not is_cancel(run.nlu):
            return None
        below = run.state.stack[-2]
        step = self.spec.flows[below.flow_id].step(below.step_id)
        if below.waiting_for is None or not isinstance(step, CollectStep):
            return None
        run.end_top(reset=(), event="flow_completed", reason="answered the flow below")
        return below, step

    async def _retrigger(
        self, run: FlowRun, frame: FlowFrame, step: CollectStep, flow: Flow
    ) -> FlowResult:
        """A flow on the stack triggered again: the classifier heard what the flow is about,
        which is often the very answer ("I lost my card"). An answer the step would reject is
        no answer but the request repeated, so it is asked again without counting."""
        fill = self._loose(self.spec.slots[step.slot], run.nlu, step)
        if fill is not None and _acceptable(run, step, fill.value):
            run.note("flow_retriggered_as_answer", flow=flow.id, slot=step.slot)
            return await self._fill(run, frame, step, fill)
        run.note("flow_already_active", flow=flow.id)
        slot = self.spec.slots[step.slot]
        by_intent = any(t.intent == run.nlu.intent.name for t in flow.triggers)
        if fill is None and not by_intent and slot.type in ("categorical", "bool"):
            # "a gift card" asked debit or credit is only close to the flow's description: not
            # the request repeated but no option, so say so
            run.reject(step, frame, _TYPE_REJECTIONS[slot.type], rule="answer not understood")
            return _result(run, "handled")
        run.ask(step, frame)
        return _result(run, "handled")

    def _loose(self, slot: SlotSpec, nlu: NluResult, step: CollectStep) -> Fill | None:
        fill = from_answer(slot, nlu, strict=False, synonyms=self._synonyms)
        # a text slot named for an amount, a date, an email... takes that or nothing ("one
        # moment" is no amount of money), unless the step's rejections judge the text; a
        # person's name may be any text
        free = generic_kind(slot) in (None, "person") or bool(step.rejections)
        if fill is None and slot.type in ("text", "any") and free:
            fill = Fill(_LEAD_IN.sub("", nlu.text).strip() or nlu.text, "text")
        return fill

    def _digression(self, run: FlowRun, frame: FlowFrame, step: CollectStep) -> FlowResult:
        run.note("digression", flow=frame.flow_id, slot=step.slot, intent=run.nlu.intent.name)
        action = run.question_action(step)
        if action is not None:
            run.pending_questions.append(action)
            return _result(run, "digression")
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


def _met_at_face_value(flow: Flow, nlu: NluResult) -> bool:
    """The message's intent triggers the flow at the threshold as written."""
    return any(
        t.intent == nlu.intent.name
        and (t.confidence_threshold is None or nlu.intent.confidence >= t.confidence_threshold)
        for t in flow.triggers
    )


def _described_elsewhere(spec: FlowSpec, flow: Flow, described: FlowMatch | None) -> bool:
    """The message is closest to the description of a flow the classifier cannot name (one
    without an nlu_trigger): an intent below its threshold is then only the nearest it knows."""
    if described is None or flow.id in (described.flow_id, *described.candidates):
        return False
    best = spec.flows.get(described.flow_id)
    return best is not None and not best.triggers


def _clear_winner(threshold: float | None, nlu: NluResult) -> bool:
    """An nlu_trigger's `confidence_threshold` is written for Rasa's DIET, whose confidences crowd
    near 1 when it sees one clear answer; botsvc's classifier is calibrated, so one clear answer
    reads lower ("verify my account": 0.88 against 0.9). Below the threshold, the intent still
    counts when it is the classifier's confident answer and leads the runner-up by at least half
    the threshold: as clear a winner as the threshold asks for."""
    if threshold is None or nlu.intent.name == FALLBACK_INTENT:
        return False
    runner_up = max((r.confidence for r in nlu.ranking if r.name != nlu.intent.name), default=0.0)
    return nlu.intent.confidence - runner_up >= threshold / 2


def _guard_holds(run: FlowRun, flow: Flow) -> bool:
    """The flow's `if`, which every way of starting it must pass."""
    if flow.guard is None or flow.guard.evaluate(slots=run.slots(), context=run.context):
        return True
    run.note("flow_guard_false", flow=flow.id, guard=flow.guard.source)
    return False
