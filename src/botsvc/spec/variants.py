"""A response as ops write it: its variants, each with text, buttons and an optional tone.

A variant may carry Rasa's `condition:` (slot values it is meant for), Rasa's
`metadata: {template: jinja}` (its text is a Jinja template rather than `{slot}` placeholders)
and `lang:` (the ISO 639-1 code of the language its text is written in; without it the variant
suits every language).
Rendering (picking a variant, filling it) is the runtime's job, in flows/responses.py; this
module holds only what is loaded and checked, and the one Jinja environment both sides use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from jinja2 import TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from lingua import Language

from botsvc.domain import Button
from botsvc.spec.conditions import Condition

__all__ = [
    "JINJA_NAMES",
    "LANGUAGE_CODES",
    "PLACEHOLDER",
    "ConditionValue",
    "ResponseVariant",
    "SlotCondition",
    "TemplateKind",
    "Tone",
    "declared_languages",
    "jinja_environment",
    "jinja_syntax_error",
    "template_names",
]

Tone = Literal["neutral", "empathetic"]
TemplateKind = Literal["format", "jinja"]  # `{slot}` placeholders, or Rasa's `template: jinja`
ConditionValue = str | int | float | bool | None
# `{name}` is a placeholder; `{{` and `}}` are literal braces, as in Rasa's (str.format) templates
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
JINJA_NAMES = frozenset({"slots", "context"})  # what a Jinja template sees besides each slot
# what `lang:` may name: the languages customers' messages can be recognised in (nlu/language.py
# detects them with lingua), so that every language a bot answers in can also be followed
LANGUAGE_CODES = frozenset(lang.iso_code_639_1.name.lower() for lang in Language.all())


@dataclass(frozen=True)
class SlotCondition:
    """One item of Rasa's `condition:`: slot `slot` holds `value` (None: the slot is unset)."""

    slot: str
    value: ConditionValue


@dataclass(frozen=True)
class ResponseVariant:
    text: str
    buttons: tuple[Button, ...] = ()
    tone: Tone | None = None  # None: suits every tone
    line: int | None = None
    conditions: tuple[SlotCondition, ...] = ()  # (): suits every slot value
    predicate: Condition | None = None  # Rasa Pro's `condition: slots.x is true` form
    template: TemplateKind = "format"
    image: str | None = None  # a URL; placeholders are filled as in the text
    custom: Any = field(default=None, compare=False)
    attachment: Any = field(default=None, compare=False)
    lang: str | None = None  # ISO 639-1; None: suits every language


def declared_languages(responses: Mapping[str, Sequence[ResponseVariant]]) -> frozenset[str]:
    """Every language some variant is written in (`lang:`)."""
    return frozenset(v.lang for variants in responses.values() for v in variants if v.lang)


@cache
def jinja_environment() -> SandboxedEnvironment:
    """The sandboxed environment Jinja responses are parsed and rendered in (None shows as "")."""
    return SandboxedEnvironment(autoescape=False, finalize=_blank_none)


def _blank_none(value: object) -> object:
    return "" if value is None else value


def jinja_syntax_error(text: str) -> str | None:
    """Why `text` is not a Jinja template (with its line when it has several), else None."""
    try:
        jinja_environment().parse(text)
    except TemplateSyntaxError as exc:
        where = f" on line {exc.lineno} of the template" if "\n" in text.strip() else ""
        return f"{exc.message}{where}"
    return None


def template_names(variant: ResponseVariant) -> set[str]:
    """Every variable the variant's text and buttons read (`{name}`, or a Jinja variable)."""
    texts = [
        variant.text,
        *(b.title for b in variant.buttons),
        *(b.payload for b in variant.buttons),
    ]
    if variant.template == "jinja":
        return {n for t in texts for n in _jinja_names(t)} - JINJA_NAMES
    return {m.group(1) for t in texts for m in PLACEHOLDER.finditer(t) if m.group(1)}


def _jinja_names(text: str) -> set[str]:
    try:
        return set(meta.find_undeclared_variables(jinja_environment().parse(text)))
    except TemplateSyntaxError:
        return set()  # reported by the loader as a syntax error
