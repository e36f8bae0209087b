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
    SlotValidationModel,
    VariantModel,
)
from botsvc.spec.steps import Rejection
from botsvc.spec.variants import (
    LANGUAGE_CODES,
    ResponseVariant,
    SlotCondition,
    TemplateKind,
    jinja_syntax_error,
)
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
        out.problems += _slot_problems(source, name, model)
        mapping = next(
            (m for m in model.mappings or () if m.type == "from_entity" and m.entity), None
        )
        validation = model.validation
        out.slots[name] = SlotSpec(
            name=name,
            type=model.type,
            values=tuple(str(v) for v in model.values or ()),
            initial_value=model.initial_value,
            entity=mapping.entity if mapping and mapping.entity else name,
            role=mapping.role if mapping else None,
            rejections=_slot_rejections(source, name, validation, out.problems),
            refill_utter=validation.refill_utter if validation else None,
            file=source.file,
            line=source.line(path),
        )


def _slot_problems(source: Source, name: str, model: SlotModel) -> list[Problem]:
    path = ("slots", name)
    if model.type == "categorical" and not model.values:
        return [source.problem(path, f"categorical slot {name!r} needs `values: [...]`")]
    if model.type != "categorical" and model.values:
        return [source.problem(path, f"slot {name!r} has `values` but is not categorical")]
    low, high = model.min_value, model.max_value
    if model.type == "float" and low is not None and high is not None and low >= high:
        # as Rasa refuses it; the bounds only shape Rasa's features and reject no value
        return [source.problem(path, f"float slot {name!r} needs `min_value` < `max_value`")]
    return []


def _slot_rejections(
    source: Source, name: str, validation: SlotValidationModel | None, problems: list[Problem]
) -> tuple[Rejection, ...]:
    out = []
    for i, r in enumerate(validation.rejections if validation else ()):
        path = ("slots", name, "validation", "rejections", i)
        try:
            condition = parse_condition(r.if_)
        except ConditionError as exc:
            problems.append(
                source.problem(
                    path + ("if",),
                    f"slot {name!r}: the rejection condition {r.if_!r} does not parse: {exc}",
                )
            )
            continue
        out.append(Rejection(condition=condition, utter=r.utter, line=source.line(path)))
    return tuple(out)


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
            shown = tuple(v for v in built if isinstance(v, ResponseVariant))
            out.responses[name] = shown
            if shown and all(v.conditions or v.predicate for v in shown):
                out.problems.append(
                    source.problem(
                        path,
                        f"response {name!r} has a `condition` on every variant, so it says "
                        "nothing when none holds; add a variant without `condition`",
                        severity="warning",
                    )
                )


class _Skipped:
    """A Rasa variant with nothing botsvc can show (only `custom`, `image`, ...): left out."""


def _variant(
    source: Source, path: tuple[str | int, ...], raw: Any, problems: list[Problem]
) -> ResponseVariant | _Skipped | None:
    lang, wrong_lang = None, False
    if isinstance(raw, dict):
        problems += _ignored_keys(source, path, raw)
        if "text" not in raw and any(k in raw for k in IGNORED_RESPONSE_KEYS):
            return _Skipped()
        if "lang" in raw:
            # checked here rather than by the shape, for a message that names the codes
            lang = _language(source, path + ("lang",), raw["lang"], problems)
            wrong_lang = lang is None
        raw = {k: v for k, v in raw.items() if k not in IGNORED_RESPONSE_KEYS and k != "lang"}
    model, found = check_model(VariantModel, raw, source=source, base=path, what="response")
    problems += found
    if model is None or wrong_lang:
        return None
    predicate = None
    if isinstance(model.condition, str):  # Rasa Pro's predicate form: `slots.x is true`
        try:
            predicate = parse_condition(model.condition)
        except ConditionError as exc:
            problems.append(source.problem(path + ("condition",), f"response condition: {exc}"))
            return None
        conditions: tuple[SlotCondition, ...] | None = ()
    else:
        conditions = _conditions(source, path + ("condition",), model.condition, problems)
    if conditions is None:
        return None
    if not (model.text or model.image or model.custom is not None or model.attachment):
        problems.append(
            source.problem(
                path, f"response {path[1]!r}: a variant needs `text`, `image` or `custom`"
            )
        )
        return None
    template = _template_kind(source, path, model.metadata or {}, problems)
    buttons = tuple(Button(title=b.title, payload=b.payload) for b in model.buttons)
    variant = ResponseVariant(
        text=model.text,
        buttons=buttons,
        tone=model.tone,
        line=source.line(path),
        conditions=conditions,
        predicate=predicate,
        template=template,
        lang=lang,
        image=model.image,
        custom=model.custom,
        attachment=model.attachment,
    )
    if template == "jinja":
        problems += _jinja_problems(source, path, variant)
    return variant


def _language(
    source: Source, path: tuple[str | int, ...], raw: Any, problems: list[Problem]
) -> str | None:
    """`lang: de`: a two-letter ISO 639-1 code (any case) of a language botsvc can recognise;
    None, with the problem recorded, otherwise."""
    code = raw.strip().lower() if isinstance(raw, str) else None
    if code in LANGUAGE_CODES:
        return code
    if code and len(code) > 2 and code[:2] in LANGUAGE_CODES and code[2] in "-_":
        hint = f"write the language alone, `lang: {code[:2]}` (regions are not told apart)"
    else:
        hint = "write a two-letter ISO 639-1 code such as `lang: de`, `lang: fr` or `lang: es`"
    problems.append(
        source.problem(
            path,
            f"response {path[1]!r}: `lang: {raw}` is not a language botsvc can recognise in "
            f"customers' messages; {hint}",
        )
    )
    return None


def _conditions(
    source: Source, path: tuple[str | int, ...], raw: Any, problems: list[Problem]
) -> tuple[SlotCondition, ...] | None:
    """Rasa's `condition: [{type: slot, name: <slot>, value: <value>}]`; None if malformed."""
    if raw is None:
        return ()
    shape = "`- {type: slot, name: <slot>, value: <value>}`"
    if not isinstance(raw, list):
        problems.append(
            source.problem(path, f"a response `condition` is a predicate or a list of {shape}")
        )
        return None
    out, ok = [], True
    for i, item in enumerate(raw):
        wrong = _condition_problem(item)
        if wrong is not None:
            problems.append(source.problem(path + (i,), f"response condition: {wrong}; {shape}"))
            ok = False
        else:
            out.append(SlotCondition(slot=item["name"], value=item.get("value")))
    return tuple(out) if ok else None


def _condition_problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "each item must be a mapping"
    unknown = sorted(str(k) for k in item if k not in ("type", "name", "value"))
    if unknown:
        return f"unknown key {unknown[0]!r}"
    if item.get("type") != "slot":
        return f"the type must be `slot` (Rasa's only kind), not {item.get('type')!r}"
    if not isinstance(item.get("name"), str) or not item["name"]:
        return "`name` must name a slot"
    if isinstance(item.get("value"), list | dict):
        return "`value` must be a string, a number, true/false or null"
    return None


def _template_kind(
    source: Source, path: tuple[str | int, ...], metadata: dict[str, Any], problems: list[Problem]
) -> TemplateKind:
    """Rasa's `metadata: {template: jinja}`; every other metadata key (`rephrase`) is kept out."""
    kind = metadata.get("template")
    if kind is None or kind == "jinja":
        return "jinja" if kind else "format"
    problems.append(
        source.problem(
            path + ("metadata", "template"),
            f"response template {kind!r} is not known; use `template: jinja` or leave it out "
            "for `{slot}` placeholders (used meanwhile)",
            severity="warning",
        )
    )
    return "format"


def _jinja_problems(
    source: Source, path: tuple[str | int, ...], variant: ResponseVariant
) -> list[Problem]:
    texts: list[tuple[tuple[str | int, ...], str]] = [(("text",), variant.text)]
    for i, b in enumerate(variant.buttons):
        texts += [(("buttons", i, "title"), b.title), (("buttons", i, "payload"), b.payload)]
    out = []
    for at, text in texts:
        error = jinja_syntax_error(text)
        if error is not None:
            out.append(
                source.problem(
                    path + at,
                    f"response {path[1]!r}: the Jinja template does not parse ({error}); "
                    "it is shown as written until fixed",
                    severity="warning",
                )
            )
    return out


def _ignored_keys(
    source: Source, path: tuple[str | int, ...], raw: dict[str, Any]
) -> list[Problem]:
    return [
        source.problem(
            path + (key,),
            f"response key `{key}` is not supported by botsvc and is ignored",
            severity="warning",
        )
        for key in raw
        if key in IGNORED_RESPONSE_KEYS
    ]


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
