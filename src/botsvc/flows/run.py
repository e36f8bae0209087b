"""Executing flow steps for one turn, on a private copy of the dialogue state.

`FlowRun` owns what a turn changes: the state copy, the messages said, the trace and any handoff.
The engine decides what a message means; this module carries it out.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from botsvc import escalation
from botsvc.domain import (
    BotMessage,
    Customer,
    DialogueState,
    FlowFrame,
    HandoffRequest,
    NluResult,
)
from botsvc.errors import ActionServerError
from botsvc.flows.actions import ActionClient, ActionResult, latest_message
from botsvc.flows.responses import render_response
from botsvc.flows.slotfill import Fill, from_answer, from_entity
from botsvc.spec.model import FlowSpec, is_response
from botsvc.spec.rasa_defaults import BUILTIN_ACTIONS, RUN_BUILTINS
from botsvc.spec.steps import (
    END,
    ActionStep,
    CallStep,
    CollectStep,
    Flow,
    HandoffStep,
    LinkStep,
    SetSlotsStep,
    Step,
)

__all__ = ["FlowRun"]

MAX_STEPS_PER_TURN = 100
MAX_FOLLOWUPS = 10
ACTION_FAILED_TEXT = (
    "Sorry, something went wrong on our side while I was working on that. "
    "I'm passing you to a colleague who can help."
)
CANCELLED_TEXT = "Okay, I've stopped that. Is there anything else I can help you with?"
ROUTED_TO_FLOWS = "route_session_to_calm"
CANCEL_PATTERN, COMPLETED_PATTERN = "pattern_cancel_flow", "pattern_completed"
CORRECTION_PATTERN = "pattern_correction"
CLARIFICATION_PATTERN = "pattern_clarification"
CHITCHAT_PATTERN = "pattern_chitchat"
CONTINUE_PATTERN = "pattern_continue_interrupted"
CORRECTED_TEXT = "Okay, I've updated that."
FLOW_CHANGED_TEXT = (
    "Sorry, what we were doing has just been changed on our side, so I had to stop it. "
    "Could you tell me again what you need?"
)
LOOP_TEXT = "Sorry, I got stuck there. I'm passing you to a colleague who can help."


class FlowRun:
    def __init__(
        self,
        *,
        spec: FlowSpec,
        actions: ActionClient | None,
        domain: dict[str, Any],
        nlu: NluResult,
        state: DialogueState,
        context: Mapping[str, Any],
        customer: Customer,
        rng: random.Random,
    ) -> None:
        self.spec, self.actions, self.domain = spec, actions, domain
        self.customer = customer
        self.nlu, self.context, self.rng = nlu, dict(context), rng  # patterns add to it
        self.state = state.model_copy(deep=True)
        self.messages: list[BotMessage] = []
        self.trace: list[dict[str, Any]] = []
        self.handoff: HandoffRequest | None = None
        self._steps = 0
        self._cancel_interrupted = False  # Rasa's action_cancel_interrupted_flows ran
        self.pending_questions: list[str] = []  # question actions (`action_ask_<slot>`) to run
        # an entity (by name and role) fills one slot once per message
        self._used_entities: set[tuple[str, str | None]] = set()

    # --- reading -----------------------------------------------------------------------------

    def slots(self) -> dict[str, Any]:
        """Slot values as conditions and templates see them: initial values under set ones."""
        initial = {
            n: s.initial_value for n, s in self.spec.slots.items() if s.initial_value is not None
        }
        return {**initial, **self.state.slots}

    def flow_of(self, frame: FlowFrame) -> Flow:
        return self.spec.flows[frame.flow_id]

    def note(self, event: str, **detail: Any) -> None:
        self.trace.append({"event": event, **detail})

    def render(self, name: str, extra: Mapping[str, Any] | None = None) -> BotMessage | None:
        messages = render_response(
            self.spec,
            name,
            slots=self.state.slots,
            customer=self.customer,
            sentiment=self.nlu.sentiment,
            extra=extra,
            rng=self.rng,
            context=self.context,  # Jinja responses read `context.*`, as patterns fill it
            languages=self.state.languages,
        )
        if not messages:
            self.note("response_missing", response=name)
            return None
        return messages[0]

    def say(self, name: str, extra: Mapping[str, Any] | None = None) -> None:
        message = self.render(name, extra)
        if message is not None:
            self.messages.append(message)

    def say_or(self, name: str, fallback: str) -> None:
        message = self.render(name) if name in self.spec.responses else None
        self.messages.append(message or BotMessage(text=fallback))

    # --- the stack ---------------------------------------------------------------------------

    async def start(self, flow: Flow, *, event: str, **detail: Any) -> None:
        """Put `flow` on top of the stack and run it until it waits or ends."""
        self.state.stack.append(FlowFrame(flow_id=flow.id, step_id=flow.first_step))
        self.note(event, flow=flow.id, **detail)
        if ROUTED_TO_FLOWS in self.spec.slots and not flow.id.startswith("pattern_"):
            # Rasa's coexistence router marks which side took the session: its flows (CALM),
            # or the NLU-based side, whose rules and forms botsvc runs as `nlu_based` flows
            calm = not flow.nlu_based
            if self.state.slots.get(ROUTED_TO_FLOWS) is not calm:
                self.state.slots[ROUTED_TO_FLOWS] = calm
                self.note("slot_set", slot=ROUTED_TO_FLOWS, value=calm)
        self.prefill(flow)
        await self.proceed(flow.first_step)

    def end_top(self, *, reset: tuple[str, ...], event: str, **detail: Any) -> None:
        frame = self.state.stack.pop()
        for slot in reset:
            self.state.slots.pop(slot, None)
        self.note(event, flow=frame.flow_id, step=frame.step_id, reset_slots=list(reset), **detail)

    def end_all(self, *, event: str, **detail: Any) -> None:
        """Leave every flow (a handoff or restart); slots stay for the agent to see."""
        flows = [f.flow_id for f in self.state.stack]
        self.state.stack.clear()
        if flows:
            self.note(event, flows=flows, **detail)

    async def resume(self) -> None:
        """Continue the flow now on top: re-ask its pending question, or go on after a `call`."""
        frame = self.state.active
        if frame is None:
            return
        step = self.flow_of(frame).step(frame.step_id)
        self.note("flow_resumed", flow=frame.flow_id, step=frame.step_id)
        frame.waiting_for, frame.rejections = None, 0
        if isinstance(step, CallStep):
            await self.proceed(self.follow(step))
        elif step is not None:
            await self.proceed(step.id)

    async def _completed(self, flow: Flow) -> bool:
        """Every flow has ended: Rasa's pattern_completed ("anything else?"), if the project has
        one, runs after a flow of the project's own or a cancellation."""
        pattern = self.spec.flows.get(COMPLETED_PATTERN)
        own = not flow.id.startswith("pattern_") or flow.id == CANCEL_PATTERN
        if pattern is None or not own or self.handoff is not None:
            return False
        await self.start(pattern, event="flow_started", reason="completed", after=flow.id)
        return True

    async def _continue_interrupted(self, ended: Flow) -> bool:
        """A flow that interrupted another one while it waited for an answer has ended: Rasa's
        pattern_continue_interrupted asks whether to go back to it, if the project has it."""
        pattern = self.spec.flows.get(CONTINUE_PATTERN)
        below = self.state.active
        if (
            pattern is None
            or below is None
            or below.waiting_for is None
            or ended.id.startswith("pattern_")
            or below.flow_id.startswith("pattern_")
        ):
            return False
        name = self.flow_of(below).name or below.flow_id
        self.context.update(
            interrupted_flow_options=name, previous_flow_name=name, multiple_flows_interrupted=False
        )
        await self.start(
            pattern, event="flow_started", reason="continue_interrupted", flow_below=below.flow_id
        )
        return True

    async def correct(self, corrected: dict[str, Any], step: CollectStep, frame: FlowFrame) -> None:
        """An earlier answer corrected: Rasa's pattern_correction confirms it if the project has
        one (its `action_correct_flow_slot` applies it); else it is applied and the question
        asked again."""
        self.note("correction", slots=dict(corrected))
        pattern = self.spec.flows.get(CORRECTION_PATTERN)
        if pattern is not None:
            self.state.corrections = dict(corrected)
            self.context["corrected_slots"] = dict(corrected)
            self.context["is_reset_only"] = False
            await self.start(pattern, event="flow_started", reason="correction")
            return
        self._apply_corrections(corrected)
        self.say_or("utter_corrected_previous_input", CORRECTED_TEXT)
        if frame.step_id != step.id:  # rewound to a reset slot's question
            await self.resume()
        else:
            self.ask(step, frame)

    def _apply_corrections(self, corrected: Mapping[str, Any]) -> None:
        for name, value in corrected.items():
            if value is None:
                self.state.slots.pop(name, None)
            else:
                self.state.slots[name] = value
            self.note("slot_set", slot=name, value=value, by="correction")
        self._rewind([name for name, value in corrected.items() if value is None])

    def _rewind(self, reset: list[str]) -> None:
        """A slot reset to be given again: the flow that collects it goes back to that question
        (its frame below any pattern), as Rasa moves a flow back to the corrected step."""
        for frame in reversed(self.state.stack):
            if frame.flow_id.startswith("pattern_"):
                continue
            steps = self.flow_of(frame).steps.values()
            back = next((s for s in steps if isinstance(s, CollectStep) and s.slot in reset), None)
            if back is not None:
                frame.step_id, frame.waiting_for = back.id, None
                self.note("flow_rewound", flow=frame.flow_id, step=back.id)
            return

    async def cancel(self) -> None:
        frame = self.state.stack[-1]
        flow = self.flow_of(frame)
        collected = tuple(
            dict.fromkeys(s.slot for s in flow.steps.values() if isinstance(s, CollectStep))
        )
        self.end_top(reset=collected, event="flow_cancelled")
        pattern = self.spec.flows.get(CANCEL_PATTERN)
        if pattern is None:
            self.say_or("utter_cancelled", CANCELLED_TEXT)
            await self.resume()
            return
        # Rasa's pattern_cancel_flow says so (and may branch on `context.canceled_name`); when it
        # ends, the flow below resumes
        self.context["canceled_name"] = flow.name or flow.id
        await self.start(pattern, event="flow_started", reason="cancel", cancelled=flow.id)

    async def chitchat(self) -> bool:
        """A message that is no answer and no request ("one moment", "what a day"): Rasa's
        pattern_chitchat answers it and the question is asked again, without counting it as a
        wrong answer. False when the project has no such pattern."""
        pattern = self.spec.flows.get(CHITCHAT_PATTERN)
        if pattern is None:
            return False
        await self.start(pattern, event="flow_started", reason="chitchat")
        return True

    async def clarify(self, flow_ids: tuple[str, ...]) -> bool:
        """Flows about equally likely: Rasa's pattern_clarification offers them by name
        (`context.names`, `context.clarification_options`), and the next message picks one.
        False when the project has no such pattern."""
        pattern = self.spec.flows.get(CLARIFICATION_PATTERN)
        if pattern is None:
            return False
        names = [self.spec.flows[f].name or self.spec.flows[f].id for f in flow_ids]
        self.context["names"] = names
        self.context["clarification_options"] = _either(names)
        self.state.clarification = list(flow_ids)
        await self.start(
            pattern, event="flow_started", reason="clarification", names=names, flows=list(flow_ids)
        )
        return True

    # --- running steps -----------------------------------------------------------------------

    async def proceed(self, step_id: str) -> None:
        """Run the top flow from `step_id` until a collect waits, the stack empties or a handoff."""
        current: str | None = step_id
        while current is not None and self.handoff is None and self.state.stack:
            self._steps += 1
            if self._steps > MAX_STEPS_PER_TURN:
                self.say_or("utter_flow_loop", LOOP_TEXT)
                self.handoff = HandoffRequest(reason="flow_loop", detail=f"stopped at {current}")
                self.end_all(event="flow_loop", step=current)
                return
            if current == END:
                flow = self.flow_of(self.state.stack[-1])
                self.end_top(reset=flow.slots_to_reset(), event="flow_completed")
                if not self.state.stack and await self._completed(flow):
                    return
                if self._cancel_interrupted and self.state.stack:
                    self._cancel_interrupted = False
                    await self.cancel()
                    return
                if await self._continue_interrupted(flow):
                    return
                await self.resume()
                return
            frame = self.state.stack[-1]
            step = self.flow_of(frame).steps[current]
            frame.step_id = step.id
            current = await self.execute(step, frame)

    def follow(self, step: Step) -> str:
        slots = self.slots()
        for branch in step.next:
            if branch.condition is None or branch.condition.evaluate(
                slots=slots, context=self.context
            ):
                return branch.target
        return END

    async def execute(self, step: Step, frame: FlowFrame) -> str | None:
        """Run one step; return the next step id, or None when the turn stops here."""
        if isinstance(step, CollectStep):
            return self.collect(step, frame)
        if isinstance(step, ActionStep):
            return self.follow(step) if await self.action(step.action) else None
        if isinstance(step, SetSlotsStep):
            self.state.slots.update(step.values)
            self.note("slots_set", step=step.id, slots=dict(step.values))
            return self.follow(step)
        if isinstance(step, LinkStep):
            self.end_top(reset=self.flow_of(frame).slots_to_reset(), event="flow_completed")
            await self.start(self.spec.flows[step.flow], event="flow_linked", by=frame.flow_id)
            return None
        if isinstance(step, CallStep):
            await self.start(self.spec.flows[step.flow], event="flow_called", by=frame.flow_id)
            return None
        if isinstance(step, HandoffStep):
            self.handoff = HandoffRequest(step.reason, step.priority, step.detail)
            self.note("handoff", step=step.id, reason=step.reason, priority=step.priority)
            self.end_all(event="flows_left_for_handoff")
            return None
        return self.follow(step)

    # --- collect -----------------------------------------------------------------------------

    def collect(self, step: CollectStep, frame: FlowFrame) -> str | None:
        if not step.ask_before_filling:
            value = self.slots().get(step.slot)
            if value is not None:
                # filled before it was asked (an earlier message, another flow): still validated
                self.note("slot_already_filled", slot=step.slot, step=step.id)
                return self.validate(step, frame)
            slot = self.spec.slots[step.slot]
            used = (slot.entity, slot.role) in self._used_entities
            fill = None if used else from_entity(slot, self.nlu)
            if fill is not None:
                return self.accept(step, frame, fill)
        self.ask(step, frame)
        return None

    def prefill(self, flow: Flow) -> None:
        """Entities of this message fill the flow's later slots before they are asked ("a ticket
        from Berlin to Munich"); each is validated by its collect step when the flow gets there."""
        for step in flow.steps.values():
            if not isinstance(step, CollectStep) or step.ask_before_filling:
                continue
            slot = self.spec.slots[step.slot]
            key = (slot.entity, slot.role)
            if self.state.slots.get(step.slot) is not None or key in self._used_entities:
                continue
            fill = from_entity(slot, self.nlu)
            if fill is None and slot.type == "categorical":
                # "set up a standing order payment" names the payment type before it is asked;
                # only the value itself, not a synonym (an aside is no answer yet)
                fill = from_answer(slot, self.nlu, strict=False)
            if fill is not None:
                self.state.slots[step.slot] = fill.value
                self._used_entities.add(key)
                self.note("slot_prefilled", slot=step.slot, value=fill.value)

    def ask(self, step: CollectStep, frame: FlowFrame) -> None:
        frame.step_id, frame.waiting_for = step.id, step.slot
        action = self.question_action(step)
        if action is None:
            self.say(step.utter)
        else:
            self.pending_questions.append(action)  # run by ask_pending(), which can await
        self.note("slot_requested", slot=step.slot, step=step.id, response=action or step.utter)

    def question_action(self, step: CollectStep) -> str | None:
        """Rasa asks with a custom action `action_ask_<slot>` (a form's `action_ask_<form>_<slot>`)
        when the project has no response for the question."""
        if step.utter in self.spec.responses:
            return None
        names = (f"action_ask_{step.utter.removeprefix('utter_ask_')}", f"action_ask_{step.slot}")
        return next((n for n in names if n in self.spec.action_names), None)

    async def ask_pending(self) -> None:
        """Run the question actions asked for this turn, in order; their messages are the
        questions."""
        while self.pending_questions and self.handoff is None:
            name = self.pending_questions.pop(0)
            result = await self.call(name)
            if result is not None:
                self.apply(name, result)

    def accept(self, step: CollectStep, frame: FlowFrame, fill: Fill) -> str | None:
        """Fill the slot; run the rejections; return the next step, or None if asked again."""
        self.state.slots[step.slot] = fill.value
        if fill.source == "entity":
            slot = self.spec.slots[step.slot]
            self._used_entities.add((slot.entity, slot.role))
        self.note("slot_filled", slot=step.slot, value=fill.value, source=fill.source)
        self.prefill(self.flow_of(frame))
        return self.validate(step, frame)

    def validate(self, step: CollectStep, frame: FlowFrame) -> str | None:
        slots = self.slots()
        for rejection in step.rejections:
            if rejection.condition.evaluate(slots=slots, context=self.context):
                self.reject(step, frame, rejection.utter, rule=rejection.condition.source)
                return None
        frame.waiting_for, frame.rejections = None, 0
        return self.follow(step)

    def reject(self, step: CollectStep, frame: FlowFrame, utter: str | None, *, rule: str) -> None:
        """The answer is not acceptable: say why, then ask again or, at the limit, hand off."""
        self.state.slots.pop(step.slot, None)
        frame.rejections += 1
        self.note("slot_rejected", slot=step.slot, rule=rule, rejections=frame.rejections)
        if utter:
            self.say(utter)
        exhausted = escalation.rejections_exhausted(
            step.slot, frame.rejections, self.spec.escalation
        )
        if exhausted is not None:
            self.handoff = exhausted
            self.note("handoff", reason="too_many_rejections", slot=step.slot)
            self.end_all(event="flows_left_for_handoff")
            return
        self.ask(step, frame)

    # --- custom actions ----------------------------------------------------------------------

    async def action(self, name: str) -> bool:
        """Say a response or run a custom action (and its follow-ups); False stops the turn."""
        queue, done = [name], 0
        while queue:
            current = queue.pop(0)
            if is_response(current, self.spec.responses):
                self.say(current)
                self.note("response", response=current)
                continue
            if current in BUILTIN_ACTIONS:
                self.builtin(current)
                continue
            done += 1
            if done > MAX_FOLLOWUPS:
                self.note("followups_stopped", action=current, limit=MAX_FOLLOWUPS)
                break
            result = await self.call(current)
            if result is None:
                return False
            queue += self.apply(current, result)
            if self.handoff is not None or not self.state.stack:
                return False
        return True

    def builtin(self, name: str) -> None:
        """One of Rasa's built-in actions, run here rather than on the action server."""
        if name == "action_restart":
            self.state.slots.clear()
            self.end_all(event="flows_restarted", action=name)
        elif name == "action_clean_stack":
            self.end_all(event="flows_cleaned", action=name)
        elif name == "action_cancel_interrupted_flows":
            self._cancel_interrupted = True  # when the pattern ends, the flow below it is cancelled
        elif name == "action_trigger_chitchat":
            self.say("utter_free_chitchat_response")
        elif name == "action_correct_flow_slot":
            self._apply_corrections(self.state.corrections)
            self.state.corrections = {}
        self.note("action_called", action=name, builtin=True, done=name in RUN_BUILTINS)

    async def call(self, name: str) -> ActionResult | None:
        try:
            if self.actions is None:
                raise ActionServerError("no action server is configured (actions.endpoint)")
            result = await self.actions.run(
                name,
                sender_id=self.context["conversation_id"],
                slots=self.slots(),
                latest_message=latest_message(self.nlu, metadata=self.context["metadata"]),
                events=self._events(),
                domain=self.domain,
                stack=[
                    {"type": "flow", "flow_id": f.flow_id, "step_id": f.step_id}
                    for f in self.state.stack
                ],
                input_channel=self.context["channel"],
            )
        except ActionServerError as exc:
            self.note("action_failed", action=name, error=str(exc))
            self.say_or("utter_action_failed", ACTION_FAILED_TEXT)
            self.handoff = HandoffRequest(reason="action_failed", detail=f"{name}: {exc}")
            self.end_all(event="flows_left_for_handoff")
            return None
        self.note(
            "action_called",
            action=name,
            events=[e.event for e in result.events],
            responses=len(result.responses),
        )
        return result

    def _events(self) -> list[dict[str, Any]]:
        slot_events = [{"event": "slot", "name": k, "value": v} for k, v in self.slots().items()]
        user = {
            "event": "user",
            "text": self.nlu.text,
            "input_channel": self.context["channel"],
            "parse_data": latest_message(self.nlu, metadata=self.context["metadata"]),
        }
        return [*slot_events, user]

    def apply(self, name: str, result: ActionResult) -> list[str]:
        """Apply an action's events, then say its responses; return follow-up actions to run."""
        said: list[BotMessage] = []
        followups: list[str] = []
        for e in result.events:
            if e.event == "slot" and e.name:
                if e.value is None:
                    self.state.slots.pop(e.name, None)
                else:
                    self.state.slots[e.name] = e.value
            elif e.event in ("reset_slots", "restart"):
                self.state.slots.clear()
                if e.event == "restart":
                    self.end_all(event="flows_restarted", action=name)
            elif e.event == "followup" and e.name:
                followups.append(e.name)
            elif e.event == "pause":
                self.handoff = HandoffRequest(reason="action_requested_handoff", detail=name)
                self.end_all(event="flows_left_for_handoff")
            elif e.event == "bot" and e.text:
                said.append(BotMessage(text=e.text, buttons=e.buttons))
            elif e.event not in ("resume", "action", "user"):
                self.note("action_event_ignored", action=name, event_type=e.event)
        for r in result.responses:
            message = self.render(r.response, r.kwargs) if r.response else None
            if message is not None and r.buttons:  # the action's own buttons, as Rasa sends them
                message = replace(message, buttons=message.buttons + tuple(r.buttons))
            if message is None and (r.text or r.image or r.custom or r.attachment):
                message = BotMessage(text=r.text or "", buttons=r.buttons)
            if message is not None and (r.image or r.custom or r.attachment):
                message = replace(message, image=r.image, custom=r.custom, attachment=r.attachment)
            if message is not None:
                self.messages.append(message)
        self.messages.extend(said)
        return followups


def _either(names: list[str]) -> str:
    """ "a, b or c", as Rasa words `context.clarification_options`."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
