"""Load `flows/*.yml`: YAML (with lines) → shape (pydantic) → frozen objects → cross-checks.

Every `*.yml` / `*.yaml` under the folder may hold `slots`, `responses`, `actions`, `flows` and
`escalation`; they merge. Loading either returns a `FlowSpec` (with its warnings) or raises
`ProjectError` listing every problem found, each with its file and line.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from botsvc.errors import Problem, ProjectError
from botsvc.spec.checks import SpecParts, check_references
from botsvc.spec.flowbuild import build_flow
from botsvc.spec.model import EscalationRules, FlowSpec, MetadataRule, SlotSpec, is_response
from botsvc.spec.rasa_layout import RULES_DOCUMENT
from botsvc.spec.schema import TOP_LEVEL_KEYS
from botsvc.spec.sections import Sections, read_sections
from botsvc.spec.steps import ActionStep, CallStep, CollectStep, Flow, LinkStep
from botsvc.spec.variants import ResponseVariant
from botsvc.spec.yamlio import Source, read_yaml

__all__ = [
    "EscalationRules",
    "FlowSpec",
    "MetadataRule",
    "SlotSpec",
    "load_flow_documents",
    "load_flow_spec",
    "load_flows_from_str",
]


def load_flow_spec(flows_dir: Path, *, intents: Collection[str] | None = None) -> FlowSpec:
    """Load every YAML file under `flows_dir` (files are named relative to its parent folder)."""
    if not flows_dir.is_dir():
        raise ProjectError([Problem(str(flows_dir), None, "the flows folder does not exist")])
    paths = sorted({*flows_dir.rglob("*.yml"), *flows_dir.rglob("*.yaml")})
    documents = []
    for path in paths:
        name = path.relative_to(flows_dir.parent).as_posix()
        try:
            documents.append((name, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise ProjectError([Problem(name, None, f"cannot read the file: {exc}")]) from exc
    return _load(documents, intents)


def load_flows_from_str(
    text: str, *, file: str = "<string>", intents: Collection[str] | None = None
) -> FlowSpec:
    return _load([(file, text)], intents)


def load_flow_documents(
    documents: Iterable[tuple[str, str]],
    *,
    intents: Collection[str] | None = None,
    fallback_endpoint: tuple[str, str] | None = None,
    defaults: Iterable[tuple[str, str]] = (),
    rasa_project: bool = False,
) -> FlowSpec:
    """Load (file, text) documents gathered by another layout (spec/rasa_layout.py).
    `fallback_endpoint`: (url, the file that sets it), used when no `actions.endpoint` is set.
    `defaults`: documents whose responses and linked flows apply where the project has none.
    `rasa_project`: a Rasa project, whose triggers' thresholds were written for Rasa's DIET
    classifier and whose messages Rasa reads up to 420 characters."""
    spec = _load(documents, intents, fallback_endpoint, defaults)
    return replace(spec, diet_thresholds=True, max_message_chars=420) if rasa_project else spec


@dataclass
class _Merged:
    slots: dict[str, SlotSpec] = field(default_factory=dict)
    responses: dict[str, tuple[ResponseVariant, ...]] = field(default_factory=dict)
    response_files: dict[str, str] = field(default_factory=dict)
    flows: dict[str, Flow] = field(default_factory=dict)
    seen: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) -> file:line
    endpoint: str | None = None
    action_names: tuple[str, ...] | None = None
    escalation: EscalationRules | None = None
    escalation_at: tuple[str, int | None] = ("", None)
    sources: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def claim(self, kind: str, name: str, source: Source, path: tuple[str | int, ...]) -> bool:
        """Record a definition; a second one anywhere in the project is an error."""
        where = f"{source.file}:{source.line(path)}"
        first = self.seen.setdefault((kind, name), where)
        if first != where:
            self.problems.append(
                source.problem(
                    path,
                    f"{kind} {name!r} is already defined at {first}; "
                    f"rename one of them or remove the duplicate",
                )
            )
            return False
        return True


def _load(
    documents: Iterable[tuple[str, str]],
    intents: Collection[str] | None,
    fallback_endpoint: tuple[str, str] | None = None,
    defaults: Iterable[tuple[str, str]] = (),
) -> FlowSpec:
    merged = _Merged()
    _merge_documents(documents, merged)
    if merged.endpoint is None and fallback_endpoint is not None:
        merged.endpoint, merged.sources["actions"] = fallback_endpoint
    _add_defaults(defaults, merged)
    escalation = merged.escalation or EscalationRules()
    parts = SpecParts(
        slots=merged.slots,
        responses=merged.responses,
        response_files=merged.response_files,
        flows=merged.flows,
        endpoint=merged.endpoint,
        action_names=merged.action_names,
        escalation=escalation,
        escalation_at=merged.escalation_at,
    )
    problems = merged.problems + check_references(parts, intents)
    problems.sort(key=lambda p: (p.file, p.line or 0))
    if any(p.severity == "error" for p in problems):
        raise ProjectError(problems)
    return FlowSpec(
        slots=MappingProxyType(merged.slots),
        responses=MappingProxyType(merged.responses),
        flows=MappingProxyType(merged.flows),
        action_endpoint=merged.endpoint,
        escalation=escalation,
        warnings=tuple(problems),
        action_names=_custom_actions(merged.flows.values(), merged.responses, merged.action_names),
        sources=MappingProxyType(dict(merged.sources)),
    )


def _merge_documents(documents: Iterable[tuple[str, str]], m: _Merged) -> None:
    for file, text in documents:
        source, problems = read_yaml(text, file=file)
        m.problems += problems
        if source is not None and source.data is not None:
            _merge_file(source, m)


# Default patterns the runtime starts by itself, as Rasa does: added unless the project has its own
SELF_STARTED = frozenset(
    {"pattern_chitchat", "pattern_clarification", "pattern_continue_interrupted"}
)


def _add_defaults(documents: Iterable[tuple[str, str]], m: _Merged) -> None:
    """The defaults' responses the project does not define, their flows that a flow links to or
    calls but the project does not define (an unused default flow would only be noise), and
    the patterns the runtime starts by itself (with the slots they collect).
    A project's own definition simply wins: it is never a duplicate of a default."""
    d = _Merged()
    _merge_documents(documents, d)
    m.problems += d.problems
    for name, variants in d.responses.items():
        if name not in m.responses:
            m.responses[name] = variants
            m.response_files[name] = d.response_files[name]
    targets = {
        s.flow
        for f in m.flows.values()
        for s in f.steps.values()
        if isinstance(s, (LinkStep, CallStep))
    }
    for flow_id, flow in d.flows.items():
        if (flow_id in targets or flow_id in SELF_STARTED) and flow_id not in m.flows:
            m.flows[flow_id] = flow
            for step in flow.steps.values():
                if isinstance(step, CollectStep) and step.slot in d.slots:
                    m.slots.setdefault(step.slot, d.slots[step.slot])


def _merge_file(source: Source, m: _Merged) -> None:
    data: Any = source.data
    if not isinstance(data, dict):
        m.problems.append(source.problem((), "the file must be a mapping of top-level keys"))
        return
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            m.problems.append(
                source.problem(
                    (key,),
                    f"top-level key {key!r} is not used by flows/ and is "
                    f"ignored (known: {', '.join(TOP_LEVEL_KEYS)})",
                    severity="warning",
                )
            )
    sections = read_sections(source)
    m.problems += sections.problems
    _merge_sections(source, sections, m)
    flows = data.get("flows")
    if flows is not None and not isinstance(flows, dict):
        m.problems.append(source.problem(("flows",), "`flows` must map flow ids to flows"))
        return
    for flow_id, raw in (flows or {}).items():
        if not m.claim("flow", str(flow_id), source, ("flows", flow_id)):
            continue
        flow, problems = build_flow(source, str(flow_id), raw)
        m.problems += problems
        if flow is not None:
            nlu_based = source.file.endswith(RULES_DOCUMENT)  # Rasa rules and forms as flows
            m.flows[flow.id] = replace(flow, nlu_based=True) if nlu_based else flow


def _merge_sections(source: Source, s: Sections, m: _Merged) -> None:
    for name, slot in s.slots.items():
        if m.claim("slot", name, source, ("slots", name)):
            m.slots[name] = slot
    for name, variants in s.responses.items():
        if m.claim("response", name, source, ("responses", name)):
            m.responses[name] = variants
            m.response_files[name] = source.file
    if s.endpoint is not None and m.claim("actions endpoint", "", source, ("actions", "endpoint")):
        m.endpoint = s.endpoint
        m.sources["actions"] = source.file
    if s.action_names is not None:
        m.action_names = (m.action_names or ()) + s.action_names
    if s.escalation is not None and m.claim("escalation", "rules", source, ("escalation",)):
        m.escalation = s.escalation
        m.escalation_at = (source.file, source.line(("escalation",)))
        m.sources["escalation"] = source.file


def _custom_actions(
    flows: Iterable[Flow], responses: Collection[str], declared: Iterable[str] | None
) -> tuple[str, ...]:
    """The custom actions the flows call, and the declared question actions
    (`action_ask_<slot>`), which a collect runs when it has no response to ask with."""
    names = {
        s.action
        for f in flows
        for s in f.steps.values()
        if isinstance(s, ActionStep) and not is_response(s.action, responses)
    }
    names |= {a for a in declared or () if a.startswith("action_ask_")}
    return tuple(sorted(names))
