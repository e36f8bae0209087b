"""One `flows/*.yml` file's `slots`, `responses`, `actions` and `escalation`, shaped and frozen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botsvc.domain import Button
from botsvc.errors import Problem
from botsvc.spec.conditions import ConditionError, parse_condition
from botsvc.spec.model import EscalationRules, MetadataRule, SlotSpec
from botsvc.spec.schema import (
    IGNORED_RESPONSE_KEYS,
    ActionsModel,
    EscalationModel,
    SlotModel,
    VariantModel,
)
from botsvc.spec.variants import ResponseVariant
from botsvc.spec.yamlio import Source, check_model

__all__ = ["Sections", "read_sections"]


@dataclass
class Sections:
    slots: dict[str, SlotSpec] = field(default_factory=dict)
    responses: dict[str, tuple[ResponseVariant, ...]] = field(default_factory=dict)
    response_lines: dict[str, int | None] = field(default_factory=dict)
    endpoint: str | None = None
    action_names: tuple[str, ...] | None = None
    escalation: EscalationRules | None = None
    problems: list[Problem] = field(default_factory=list)


def read_sections(source: Source) -> Sections:
    data: dict[str, Any] = source.data
    out = Sections()
    _read_slots(source, data.get("slots"), out)
    _read_responses(source, data.get("responses"), out)
    _read_actions(source, data.get("actions"), out)
    if data.get("escalation") is not None:
        out.escalation = _read_escalation(source, data["escalation"], out.problems)
    return out


def _mapping(source: Source, value: Any, key: str, problems: list[Problem]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(source.problem((key,), f"`{key}` must be a mapping of names to entries"))
        return {}
    return value


def _read_slots(source: Source, raw: Any, out: Sections) -> None:
    for name, body in _mapping(source, raw, "slots", out.problems).items():
        path = ("slots", name)
        model, problems = check_model(SlotModel, body, source=source, base=path, what="slot")
        out.problems += problems
        if model is None:
            continue
        if model.validation is not None:
            out.problems.append(
                source.problem(
                    path + ("validation",),
                    f"slot {name!r}: Rasa's slot `validation` is not enforced by botsvc yet; "
                    "put its `rejections` on the collect steps to check the value",
                    severity="warning",
                )
            )
        values = tuple(str(v) for v in model.values or ())
        if model.type == "categorical" and not values:
            out.problems.append(
                source.problem(path, f"categorical slot {name!r} needs `values: [...]`")
            )
        elif model.type != "categorical" and values:
            out.problems.append(
                source.problem(path, f"slot {name!r} has `values` but is not categorical")
            )
        mapping = next(
            (m for m in model.mappings or () if m.type == "from_entity" and m.entity), None
        )
        entity = mapping.entity if mapping and mapping.entity else name
        role = mapping.role if mapping else None
        out.slots[name] = SlotSpec(
            name=name,
            type=model.type,
            values=values,
            initial_value=model.initial_value,
            entity=entity,
            role=role,
            file=source.file,
            line=source.line(path),
        )


def _read_responses(source: Source, raw: Any, out: Sections) -> None:
    for name, variants in _mapping(source, raw, "responses", out.problems).items():
        path = ("responses", name)
        out.response_lines[name] = source.line(path)
        if not isinstance(variants, list) or not variants:
            out.problems.append(
                source.problem(path, f"response {name!r} must be a list of `- text: ...` variants")
            )
            continue
        built = [_variant(source, path + (i,), v, out.problems) for i, v in enumerate(variants)]
        if all(v is not None for v in built):
            out.responses[name] = tuple(v for v in built if isinstance(v, ResponseVariant))


class _Skipped:
    """A Rasa variant with nothing botsvc can show (only `custom`, `image`, ...): left out."""


def _variant(
    source: Source, path: tuple[str | int, ...], raw: Any, problems: list[Problem]
) -> ResponseVariant | _Skipped | None:
    if isinstance(raw, dict):
        problems += _ignored_keys(source, path, raw)
        if "text" not in raw and any(k in raw for k in IGNORED_RESPONSE_KEYS):
            return _Skipped()
        raw = {k: v for k, v in raw.items() if k not in IGNORED_RESPONSE_KEYS}
    model, found = check_model(VariantModel, raw, source=source, base=path, what="response")
    problems += found
    if model is None:
        return None
    buttons = tuple(Button(title=b.title, payload=b.payload) for b in model.buttons)
    return ResponseVariant(
        text=model.text, buttons=buttons, tone=model.tone, line=source.line(path)
    )


def _ignored_keys(
    source: Source, path: tuple[str | int, ...], raw: dict[str, Any]
) -> list[Problem]:
    out = [
        source.problem(
            path + (key,),
            f"response key `{key}` is not supported by botsvc and is ignored",
            severity="warning",
        )
        for key in raw
        if key in IGNORED_RESPONSE_KEYS
    ]
    metadata = raw.get("metadata")
    if isinstance(metadata, dict) and metadata.get("template") == "jinja":
        out.append(
            source.problem(
                path + ("metadata", "template"),
                "botsvc does not render Jinja templates: `{{ ... }}` is shown as written; "
                "use `{slot_name}` placeholders",
                severity="warning",
            )
        )
    return out


def _read_actions(source: Source, raw: Any, out: Sections) -> None:
    if raw is None:
        return
    if isinstance(raw, list):  # Rasa domain style: `- action_x` or `- action_x: {send_domain: ...}`
        out.action_names = _action_list(source, raw, out.problems)
        return
    model, problems = check_model(
        ActionsModel, raw, source=source, base=("actions",), what="actions"
    )
    out.problems += problems
    if model is not None:
        out.endpoint = model.endpoint
        out.action_names = tuple(model.names) if model.names is not None else None


def _action_list(source: Source, raw: list[Any], problems: list[Problem]) -> tuple[str, ...]:
    names = []
    for i, item in enumerate(raw):
        if isinstance(item, dict) and len(item) == 1:
            item = next(iter(item))  # Rasa's per-action options (`send_domain`) mean nothing here
        if isinstance(item, str):
            names.append(item)
        else:
            problems.append(source.problem(("actions", i), "each action is a name (a string)"))
    return tuple(names)


def _read_escalation(source: Source, raw: Any, problems: list[Problem]) -> EscalationRules | None:
    base = ("escalation",)
    model, found = check_model(EscalationModel, raw, source=source, base=base, what="escalation")
    problems += found
    if model is None:
        return None
    rules = []
    for i, rule in enumerate(model.metadata_rules):
        path = base + ("metadata_rules", i, "if")
        try:
            condition = parse_condition(rule.if_)
        except ConditionError as exc:
            problems.append(source.problem(path, f"metadata rule condition: {exc}"))
            continue
        reason = rule.reason or "metadata_rule"
        rules.append(MetadataRule(condition, rule.priority, reason, source.file, source.line(path)))
    low = model.low_confidence
    return EscalationRules(
        kb_min_score=low.kb_min_score if low else None,
        intent_min_confidence=low.intent_min_confidence if low else None,
        max_consecutive_fallbacks=model.max_consecutive_fallbacks,
        negative_sentiment_threshold=(
            model.negative_sentiment.threshold if model.negative_sentiment else None
        ),
        human_request_intents=tuple(model.human_request_intents),
        human_request_keywords=tuple(model.human_request_keywords),
        metadata_rules=tuple(rules),
        max_rejections=model.max_rejections,
    )
