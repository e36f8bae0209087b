"""A response as ops write it: its variants, each with text, buttons and an optional tone.

Rendering (picking a variant for the customer's mood, filling `{slot}`) is the runtime's job,
in flows/responses.py; this module holds only what is loaded and checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from botsvc.domain import Button

__all__ = ["PLACEHOLDER", "ResponseVariant", "Tone", "template_names"]

Tone = Literal["neutral", "empathetic"]
# `{name}` is a placeholder; `{{` and `}}` are literal braces, as in Rasa's (str.format) templates
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class ResponseVariant:
    text: str
    buttons: tuple[Button, ...] = ()
    tone: Tone | None = None  # None: suits every tone
    line: int | None = None


def template_names(variant: ResponseVariant) -> set[str]:
    """Every `{name}` the variant's text and buttons use."""
    texts = [
        variant.text,
        *(b.title for b in variant.buttons),
        *(b.payload for b in variant.buttons),
    ]
    return {m.group(1) for t in texts for m in PLACEHOLDER.finditer(t) if m.group(1)}
