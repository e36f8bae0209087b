"""Rendering responses: the variant for the slots and the customer's mood, filled.

A variant is chosen as Rasa chooses: among the variants whose `condition`s all hold, else among
those without conditions; then by language (the conversation's, else those without `lang`, else
the bot's own); then by tone. `{slot}` / `{customer_name}` placeholders are filled, or,
for a `template: jinja` variant, the Jinja template is rendered (sandboxed) with every slot by
name, `slots`, `context` and the action's variables. A template that fails is shown as written.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache, partial
from typing import Any

from jinja2 import Template

from botsvc.domain import BotMessage, Button, Customer
from botsvc.spec.model import FlowSpec
from botsvc.spec.variants import (
    PLACEHOLDER,
    ConditionValue,
    ResponseVariant,
    SlotCondition,
    Tone,
    jinja_environment,
)

__all__ = [
    "EMPATHETIC_BELOW",
    "eligible_variants",
    "in_language",
    "render",
    "render_response",
    "template_values",
    "tone_for",
]

log = logging.getLogger(__name__)

EMPATHETIC_BELOW = -0.3  # a sentiment at or below this picks the empathetic variants
CUSTOMER_NAME_FALLBACK = "there"


def tone_for(sentiment: float) -> Tone:
    return "empathetic" if sentiment <= EMPATHETIC_BELOW else "neutral"


def eligible_variants(
    variants: Sequence[ResponseVariant],
    *,
    slots: Mapping[str, Any],
    context: Mapping[str, Any] | None = None,
) -> list[ResponseVariant]:
    """Rasa's rule: the variants whose conditions all hold, else the unconditioned ones."""
    matching = [
        v
        for v in variants
        if (v.conditions or v.predicate)
        and all(_holds(c, slots) for c in v.conditions)
        and (v.predicate is None or v.predicate.evaluate(slots=slots, context=context or {}))
    ]
    return matching or [v for v in variants if not v.conditions and v.predicate is None]


def in_language(
    variants: Sequence[ResponseVariant], languages: Sequence[str]
) -> list[ResponseVariant]:
    """The variants written in `languages[0]` (the conversation's), else those without `lang`,
    else those in the later languages in order (the bot's own); else all of them, so that a
    response never goes silent for want of a translation (`botsvc validate` warns of that)."""
    for wanted in (*languages[:1], None, *languages[1:]):
        chosen = [v for v in variants if v.lang == wanted]
        if chosen:
            return chosen
    return list(variants)


def render(
    variants: Sequence[ResponseVariant],
    *,
    values: Mapping[str, Any],
    sentiment: float,
    rng: random.Random,
    name: str | None = None,
    slots: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    languages: Sequence[str] = (),
) -> BotMessage:
    """Pick a variant for the slots, the conversation's language and the customer's mood, and
    fill it.

    `values` holds slots, `customer_name` and any action-supplied variables; `slots` (default:
    `values`) decides the variants' conditions and is a Jinja template's `slots`; `context` is its
    `context`; `languages` is the conversation's preference (DialogueState.languages; () picks
    the variants without `lang` first). A missing value renders as an empty string
    (`customer_name` as "there"), and a failing Jinja template as its text, never as an error.
    When no variant is eligible any is used (render_response says nothing instead).
    """
    slots = values if slots is None else slots
    eligible = eligible_variants(variants, slots=slots, context=context) or list(variants)
    candidates = in_language(eligible, languages)
    tone = tone_for(sentiment)
    variant = rng.choice([v for v in candidates if v.tone in (None, tone)] or candidates)
    if variant.template == "jinja":
        variables = _jinja_variables(values, slots=slots, context=context)
        fill = partial(_render_jinja, variables=variables, name=name)
    else:
        fill = partial(_fill, values=values)
    return BotMessage(
        text=fill(variant.text),
        buttons=tuple(
            Button(title=fill(b.title), payload=fill(b.payload)) for b in variant.buttons
        ),
        response=name,
        image=fill(variant.image) if variant.image else None,
        custom=variant.custom,
        attachment=variant.attachment,
    )


def render_response(
    spec: FlowSpec,
    name: str,
    *,
    slots: Mapping[str, Any],
    customer: Customer | None = None,
    sentiment: float = 0.0,
    extra: Mapping[str, Any] | None = None,
    rng: random.Random | None = None,
    context: Mapping[str, Any] | None = None,
    languages: Sequence[str] = (),
) -> tuple[BotMessage, ...]:
    """Response `name` of the project, rendered as the engine renders it; () if it is not defined
    or (as in Rasa) no variant is eligible: every variant has a condition and none holds.

    Placeholders see the slots (initial values under set ones), `customer_name` (the slot of
    that name, else the customer's name) and `extra` (an action's template variables); a Jinja
    template also sees `slots` and `context` (a pattern's context: `context.canceled_name`, ...).
    `languages`: the conversation's (see render).
    """
    variants = spec.responses.get(name)
    if not variants:
        return ()
    slot_values = {**_initial_values(spec), **slots}
    if not eligible_variants(variants, slots=slot_values, context=context):
        return ()
    values = template_values(spec, slots=slots, customer=customer, extra=extra)
    rng = rng or random.Random()
    message = render(
        variants,
        values=values,
        sentiment=sentiment,
        rng=rng,
        name=name,
        slots=slot_values,
        context=context,
        languages=languages,
    )
    return (message,)


def template_values(
    spec: FlowSpec,
    *,
    slots: Mapping[str, Any],
    customer: Customer | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    values = {**_initial_values(spec), **slots, **(extra or {})}
    values["customer_name"] = values.get("customer_name") or (customer.name if customer else None)
    return values


def _initial_values(spec: FlowSpec) -> dict[str, Any]:
    return {n: s.initial_value for n, s in spec.slots.items() if s.initial_value is not None}


def _holds(condition: SlotCondition, slots: Mapping[str, Any]) -> bool:
    """Rasa's comparison, read as the slot's own type: text ignores case, numbers compare as
    numbers, `value: null` means the slot is unset."""
    value, wanted = slots.get(condition.slot), condition.value
    if wanted is None or value is None:
        return wanted is None and value is None
    if isinstance(value, bool):
        return _as_bool(wanted) is value
    if isinstance(value, int | float):
        return not isinstance(wanted, bool) and _as_number(wanted) == value
    if isinstance(value, str):
        text = str(wanted).lower() if isinstance(wanted, bool) else str(wanted)
        return value.casefold() == text.casefold()
    return bool(value == wanted)


def _as_bool(wanted: ConditionValue) -> bool | None:
    if isinstance(wanted, bool):
        return wanted
    return {"true": True, "false": False}.get(str(wanted).casefold())


def _as_number(wanted: ConditionValue) -> float | None:
    try:
        return float(wanted) if wanted is not None else None
    except ValueError:
        return None


def _jinja_variables(
    values: Mapping[str, Any], *, slots: Mapping[str, Any], context: Mapping[str, Any] | None
) -> dict[str, Any]:
    return {
        **values,
        "customer_name": values.get("customer_name") or CUSTOMER_NAME_FALLBACK,
        "slots": dict(slots),
        "context": dict(context or {}),
    }


@lru_cache(maxsize=512)
def _compiled(text: str) -> Template:
    return jinja_environment().from_string(text)


def _render_jinja(text: str, *, variables: Mapping[str, Any], name: str | None) -> str:
    try:
        return _compiled(text).render(variables)
    except Exception as exc:  # a template must never break a turn: any error shows the text
        log.warning("response %r: its Jinja template failed (%s); shown as written", name, exc)
        return text


def _fill(text: str, *, values: Mapping[str, Any]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        return _show(name, values.get(name)) if name else m.group(0)[0]

    return PLACEHOLDER.sub(one, text)


def _show(name: str, value: Any) -> str:
    if value is None or value == "":
        return CUSTOMER_NAME_FALLBACK if name == "customer_name" else ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
