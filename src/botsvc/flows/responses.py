"""Rendering responses: the variant for the customer's mood, `{slot}` / `{customer_name}` filled."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from botsvc.domain import BotMessage, Button, Customer
from botsvc.spec.model import FlowSpec
from botsvc.spec.variants import PLACEHOLDER, ResponseVariant, Tone

__all__ = ["EMPATHETIC_BELOW", "render", "render_response", "template_values", "tone_for"]

EMPATHETIC_BELOW = -0.3  # a sentiment at or below this picks the empathetic variants
CUSTOMER_NAME_FALLBACK = "there"


def tone_for(sentiment: float) -> Tone:
    return "empathetic" if sentiment <= EMPATHETIC_BELOW else "neutral"


def render(
    variants: Sequence[ResponseVariant],
    *,
    values: Mapping[str, Any],
    sentiment: float,
    rng: random.Random,
    name: str | None = None,
) -> BotMessage:
    """Pick a variant for the customer's mood and fill its placeholders.

    `values` holds slots, `customer_name` and any action-supplied variables. A missing value
    renders as an empty string (`customer_name` as "there"), never as an error.
    """
    tone = tone_for(sentiment)
    suitable = [v for v in variants if v.tone in (None, tone)] or list(variants)
    variant = rng.choice(suitable)
    return BotMessage(
        text=_fill(variant.text, values),
        buttons=tuple(
            Button(title=_fill(b.title, values), payload=_fill(b.payload, values))
            for b in variant.buttons
        ),
        response=name,
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
) -> tuple[BotMessage, ...]:
    """Response `name` of the project, rendered as the engine renders it; () if it is not defined.

    Placeholders see the slots (initial values under set ones), `customer_name` (the slot of
    that name, else the customer's name) and `extra` (an action's template variables).
    """
    variants = spec.responses.get(name)
    if not variants:
        return ()
    values = template_values(spec, slots=slots, customer=customer, extra=extra)
    rng = rng or random.Random()
    return (render(variants, values=values, sentiment=sentiment, rng=rng, name=name),)


def template_values(
    spec: FlowSpec,
    *,
    slots: Mapping[str, Any],
    customer: Customer | None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    initial = {n: s.initial_value for n, s in spec.slots.items() if s.initial_value is not None}
    values = {**initial, **slots, **(extra or {})}
    values["customer_name"] = values.get("customer_name") or (customer.name if customer else None)
    return values


def _fill(text: str, values: Mapping[str, Any]) -> str:
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
