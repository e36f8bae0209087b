"""One flow's YAML → a frozen `Flow`: step ids, fall-through, branches, reachability.

References that need the whole project (slots, responses, other flows, intents) are checked
afterwards by `checks.py`; this module checks what one flow can check on its own. A slot's own
`validation` (Rasa Pro) joins its collect steps once every file is read (`with_slot_rejections`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, TypedDict

from pydantic import BaseModel

from botsvc.errors import Problem
from botsvc.spec import schema as sc
from botsvc.spec.conditions import Condition, ConditionError, parse_condition
from botsvc.spec.steps import (
    END,
    ActionStep,
    Branch,
    CallStep,
    CollectStep,
    Flow,
    HandoffStep,
    LinkStep,
    NoopStep,
    Rejection,
    SetSlotsStep,
    Step,
    Trigger,
)
from botsvc.spec.yamlio import Path, Source, check_model

__all__ = ["FLOW_ID", "build_flow", "with_slot_rejections"]

FLOW_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NO_NEXT = (sc.LinkModel, sc.HandoffModel)  # terminal steps


@dataclass
class _Draft:
    id: str
    kind: str
    model: sc.StepModel
    path: Path
    line: int | None
    branches: list[Branch] | None = None  # None: fall through to the following step
    following: str = END


@dataclass
class _Builder:
    source: Source
    flow_id: str
    drafts: dict[str, _Draft] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    counter: int = 0

    def error(self, path: Path, message: str) -> None:
        self.problems.append(self.source.problem(path, f"flow {self.flow_id!r}: {message}"))

    def condition(self, raw: str | bool, path: Path) -> Condition | None:
        try:
            return parse_condition(raw)
        except ConditionError as exc:
            self.error(path, f"the condition {raw!r} does not parse: {exc}")
            return None

    def sequence(self, raw: list[Any], path: Path) -> list[str]:
        ids = [self.step(item, path + (i,)) for i, item in enumerate(raw)]
        built = [i for i in ids if i is not None]
        for k, here in enumerate(built):
            self.drafts[here].following = built[k + 1] if k + 1 < len(built) else END
        return built

    def step(self, raw: Any, path: Path) -> str | None:
        index, self.counter = self.counter, self.counter + 1
        kinds = [k for k in sc.STEP_KINDS if isinstance(raw, dict) and k in raw]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            self.error(
                path, f"a step needs exactly one of {', '.join(sc.STEP_KINDS)} (found {found})"
            )
            return None
        kind = kinds[0]
        model, problems = check_model(
            sc.STEP_MODELS[kind], raw, source=self.source, base=path, what="step"
        )
        self.problems += problems
        if model is None:
            return None
        step_id = model.id or f"{index}_{_postfix(model, kind)}"
        if step_id == END or step_id in self.drafts:
            self.error(path, f"duplicate step id {step_id!r}; step ids must be unique in a flow")
            return None
        draft = _Draft(step_id, kind, model, path, self.source.line(path))
        self.drafts[step_id] = draft
        if model.next is not None:
            if isinstance(model, _NO_NEXT):
                self.error(path + ("next",), f"a {kind} step ends the flow; remove its `next`")
            else:
                draft.branches = self.next(model.next, path + ("next",))
        elif kind == "noop":
            self.error(path, "a `noop` step needs a `next`")
        return step_id

    def next(self, raw: str | list[Any], path: Path) -> list[Branch]:
        if isinstance(raw, str):
            return [Branch(None, raw, self.source.line(path))]
        if not raw:
            self.error(path, "`next` is an empty list; give a step id, END or branches")
            return []
        branches: list[Branch] = []
        for i, item in enumerate(raw):
            branch = self.branch(item, path + (i,), is_last=i == len(raw) - 1)
            if branch is not None:
                branches.append(branch)
        last = raw[-1]
        if isinstance(last, dict) and "else" not in last:
            self.error(path, "the branches need a final `- else: <step id | END>`")
        return branches

    def branch(self, raw: Any, path: Path, *, is_last: bool) -> Branch | None:
        model, problems = check_model(
            sc.BranchModel, raw, source=self.source, base=path, what="branch"
        )
        self.problems += problems
        if model is None:
            return None
        if model.else_ is not None:
            if model.if_ is not None or model.then is not None:
                self.error(path, "a branch has either `if` + `then` or `else`, not both")
            if not is_last:
                self.error(path, "`else` must be the last branch")
            return Branch(None, self.target(model.else_, path + ("else",)), self.source.line(path))
        if model.if_ is None or model.then is None:
            self.error(path, "a branch needs both `if` and `then` (or is the final `else`)")
            return None
        condition = self.condition(model.if_, path + ("if",))
        target = self.target(model.then, path + ("then",))
        return Branch(condition, target, self.source.line(path)) if condition else None

    def target(self, raw: str | list[Any], path: Path) -> str:
        if isinstance(raw, str):
            return raw
        ids = self.sequence(raw, path) if raw else []
        if not ids:
            self.error(path, "an inline list of steps must hold at least one valid step")
            return END
        return ids[0]


def _postfix(model: BaseModel, kind: str) -> str:
    """Rasa's default id postfix: `collect_order_id`, `action_utter_x`, `set_slots`, `noop`."""
    value = getattr(model, kind, None)
    if isinstance(value, sc.HandoffSpecModel):
        value = value.reason
    return f"{kind}_{value}" if isinstance(value, str) else kind


def build_flow(source: Source, flow_id: str, raw: Any) -> tuple[Flow | None, list[Problem]]:
    """Build one flow. It is returned whenever it has steps, even with problems, so that the
    project-wide checks can still report its references; any error refuses the project anyway.
    """
    path: Path = ("flows", flow_id)
    b = _Builder(source, flow_id)
    if not FLOW_ID.match(flow_id):
        b.error(path, "a flow id is letters, digits and underscores, not starting with a digit")
    model, problems = check_model(sc.FlowModel, raw, source=source, base=path, what="flow")
    if model is None:
        if isinstance(raw, dict) and isinstance(raw.get("steps"), list):
            b.sequence(raw["steps"], path + ("steps",))  # report the steps' problems too
        return None, problems + b.problems
    roots = b.sequence(model.steps, path + ("steps",))
    steps = {sid: _freeze(b, d) for sid, d in b.drafts.items()}
    _check_links(b, steps, roots[0] if roots else None)
    guard = b.condition(model.if_, path + ("if",)) if model.if_ is not None else None
    if not roots:
        return None, b.problems
    if not model.description:
        b.problems.append(
            source.problem(path, f"flow {flow_id!r} has no description", severity="warning")
        )
    flow = Flow(
        id=flow_id,
        description=model.description or "",
        steps=MappingProxyType(steps),
        first_step=roots[0],
        triggers=_triggers(source, path, model),
        guard=guard,
        name=model.name or "",
        file=source.file,
        line=source.line(path),
        persisted_slots=frozenset(model.persisted_slots or ()),
    )
    return flow, b.problems


def _triggers(source: Source, path: Path, model: sc.FlowModel) -> tuple[Trigger, ...]:
    out = []
    for i, t in enumerate(model.nlu_trigger or ()):
        line = source.line(path + ("nlu_trigger", i))
        if isinstance(t.intent, str):
            out.append(Trigger(t.intent, None, line))
        else:
            out.append(Trigger(t.intent.name, t.intent.confidence_threshold, line))
    return tuple(out)


class _Common(TypedDict):
    id: str
    line: int | None
    next: tuple[Branch, ...]


def _freeze(b: _Builder, d: _Draft) -> Step:
    nxt: tuple[Branch, ...] = ()
    if not isinstance(d.model, _NO_NEXT):
        nxt = tuple(d.branches) if d.branches is not None else (Branch(None, d.following, d.line),)
    base = _Common(id=d.id, line=d.line, next=nxt)
    m = d.model
    if isinstance(m, sc.CollectModel):
        return CollectStep(
            **base,
            slot=m.collect,
            utter=m.utter or f"utter_ask_{m.collect}",
            rejections=_rejections(b, d),
            ask_before_filling=m.ask_before_filling,
            reset_after_flow_ends=m.reset_after_flow_ends,
        )
    if isinstance(m, sc.ActionModel):
        return ActionStep(**base, action=m.action)
    if isinstance(m, sc.SetSlotsModel):
        return SetSlotsStep(**base, values=MappingProxyType(_slot_values(b, d, m)))
    if isinstance(m, sc.LinkModel):
        return LinkStep(**base, flow=m.link)
    if isinstance(m, sc.CallModel):
        return CallStep(**base, flow=m.call)
    if isinstance(m, sc.HandoffModel):
        h = m.handoff
        if isinstance(h, sc.HandoffSpecModel):
            return HandoffStep(**base, reason=h.reason, priority=h.priority, detail=h.detail)
        return HandoffStep(**base, reason=h if isinstance(h, str) else "flow_handoff")
    return NoopStep(**base)


def _rejections(b: _Builder, d: _Draft) -> tuple[Rejection, ...]:
    assert isinstance(d.model, sc.CollectModel)
    out = []
    for i, r in enumerate(d.model.rejections):
        path = d.path + ("rejections", i)
        condition = b.condition(r.if_, path + ("if",))
        if condition is not None:
            out.append(Rejection(condition=condition, utter=r.utter, line=b.source.line(path)))
    return tuple(out)


def with_slot_rejections(
    flows: Mapping[str, Flow], rejections: Mapping[str, tuple[Rejection, ...]]
) -> dict[str, Flow]:
    """Rasa Pro's slot-level `validation`: a slot's rejections (by slot name) are checked at
    every collect of that slot, after the step's own, and so also on a value filled before the
    flow reached the collect. A rejection a step already holds is not added twice.

    The slot's `refill_utter` is not merged: a collect step has one question, asked again after
    a rejection (`checks.py` warns about it).
    """
    out: dict[str, Flow] = {}
    for flow_id, flow in flows.items():
        steps = {sid: _with_rejections(s, rejections) for sid, s in flow.steps.items()}
        changed = any(steps[sid] is not flow.steps[sid] for sid in steps)
        out[flow_id] = replace(flow, steps=MappingProxyType(steps)) if changed else flow
    return out


def _with_rejections(step: Step, rejections: Mapping[str, tuple[Rejection, ...]]) -> Step:
    if not isinstance(step, CollectStep):
        return step
    extra = tuple(r for r in rejections.get(step.slot, ()) if r not in step.rejections)
    return replace(step, rejections=step.rejections + extra) if extra else step


def _slot_values(b: _Builder, d: _Draft, m: sc.SetSlotsModel) -> dict[str, Any]:
    if isinstance(m.set_slots, dict):
        return dict(m.set_slots)
    values: dict[str, Any] = {}
    for i, item in enumerate(m.set_slots):
        if len(item) != 1:
            b.error(d.path + ("set_slots", i), "each `set_slots` entry is one `slot: value` pair")
        values.update(item)
    return values


def _check_links(b: _Builder, steps: dict[str, Step], first: str | None) -> None:
    for step in steps.values():
        for branch in step.next:
            if branch.target != END and branch.target not in steps:
                b.problems.append(
                    Problem(
                        b.source.file,
                        branch.line,
                        f"flow {b.flow_id!r}: step {step.id!r} goes to {branch.target!r}, "
                        f"which is not a step id of this flow (or END)",
                    )
                )
    if first is None:
        return
    reached = _reachable(steps, first)
    for sid in steps:
        if sid not in reached:
            b.error(
                b.drafts[sid].path,
                f"step {sid!r} can never be reached; point a `next` at it or remove it",
            )


def _reachable(steps: dict[str, Step], first: str) -> set[str]:
    seen: set[str] = set()
    todo = [first]
    while todo:
        sid = todo.pop()
        if sid in seen or sid not in steps:
            continue
        seen.add(sid)
        todo.extend(b.target for b in steps[sid].next)
    return seen
