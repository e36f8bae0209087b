"""Rasa's entity annotations inside one training example, parsed to plain text plus entities.

The three forms Rasa accepts (``rasa/shared/nlu/training_data/entities_parser.py``):
``[text](entity)``, ``[text](entity:value)`` and ``[text]{"entity": "e", "value": "v",
"role": "r", "group": "g"}``, plus ``[text][{...}, {...}]`` for several entities on one span.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from botsvc.domain import Entity

# The same pattern Rasa uses, so that exactly the same annotations are recognised.
_ENTITY = re.compile(
    r"\[(?P<entity_text>[^\]]+?)\]"
    r"(\((?P<entity>[^:)]+?)(?:\:(?P<value>[^)]+))?\)"
    r"|\{(?P<entity_dict>[^}]+?)\}"
    r"|\[(?P<list_entity_dicts>.*?)\])"
)
_LEFTOVER = re.compile(r"\[[^\]]*\]\s*[({]")
EXTRACTOR = "annotation"


class AnnotationError(ValueError):
    """An annotation that cannot be read; the message says how to write it."""


@dataclass(frozen=True)
class ParsedExample:
    text: str
    entities: tuple[Entity, ...]


def parse_annotated(example: str) -> ParsedExample:
    """Removes the annotation markup and returns the plain text with its entities' offsets."""
    plain: list[str] = []
    entities: list[Entity] = []
    cursor = 0
    offset = 0  # length of the plain text built so far
    for match in _ENTITY.finditer(example):
        plain.append(example[cursor : match.start()])
        offset += match.start() - cursor
        surface = match.group("entity_text")
        for spec in _specs(match):
            entities.append(_entity(spec, surface, offset))
        plain.append(surface)
        offset += len(surface)
        cursor = match.end()
    plain.append(example[cursor:])
    text = "".join(plain)
    leftover = _LEFTOVER.search(text)
    if leftover:
        raise AnnotationError(
            f"the annotation starting at {leftover.group(0)!r} in {example!r} is not closed "
            'properly; write [text](entity), [text](entity:value) or [text]{"entity": "name"}'
        )
    return ParsedExample(text=text, entities=tuple(entities))


def _specs(match: re.Match[str]) -> list[dict[str, object]]:
    if match.group("entity"):
        spec: dict[str, object] = {"entity": match.group("entity").strip()}
        if match.group("value"):
            spec["value"] = match.group("value").strip()
        return [spec]
    if match.group("entity_dict") is not None:
        return [_json_spec("{" + match.group("entity_dict") + "}", match.group(0))]
    raw = match.group("list_entity_dicts") or ""
    try:
        items = json.loads("[" + raw + "]")
    except json.JSONDecodeError as exc:
        raise AnnotationError(_bad_json(match.group(0), exc)) from exc
    if not items or not all(isinstance(i, dict) for i in items):
        raise AnnotationError(
            f"{match.group(0)!r}: a list annotation must hold JSON objects such as "
            '[text][{"entity": "a"}, {"entity": "b"}]'
        )
    return [_check_spec(i, match.group(0)) for i in items]


def _json_spec(raw: str, whole: str) -> dict[str, object]:
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise AnnotationError(_bad_json(whole, exc)) from exc
    return _check_spec(spec, whole)


def _check_spec(spec: object, whole: str) -> dict[str, object]:
    if not isinstance(spec, dict) or not isinstance(spec.get("entity"), str) or not spec["entity"]:
        raise AnnotationError(
            f'{whole!r}: the JSON annotation needs an "entity" key with a name, '
            'e.g. [Berlin]{"entity": "city", "role": "destination"}'
        )
    return spec


def _bad_json(whole: str, exc: json.JSONDecodeError) -> str:
    return (
        f"{whole!r} is not valid JSON ({exc.msg}); use double quotes, e.g. "
        '[text]{"entity": "name", "value": "canonical"}'
    )


def _entity(spec: dict[str, object], surface: str, start: int) -> Entity:
    value = spec.get("value", surface)
    role, group = spec.get("role"), spec.get("group")
    return Entity(
        entity=str(spec["entity"]),
        value=value,
        start=start,
        end=start + len(surface),
        extractor=EXTRACTOR,
        role=None if role is None else str(role),
        group=None if group is None else str(group),
    )
