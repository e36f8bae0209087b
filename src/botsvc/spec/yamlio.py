"""YAML with line numbers: ruamel.yaml reads a document once; `Source` answers "which line?"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from botsvc.errors import Problem

__all__ = ["Path", "Source", "check_model", "read_yaml", "validation_problems"]

M = TypeVar("M", bound=BaseModel)

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Source:
    """One parsed YAML file: its plain data and the ruamel tree that remembers lines."""

    file: str
    data: Any
    _tree: Any

    def line(self, path: Path) -> int | None:
        """The 1-based line of the deepest node of `path` that exists (None for an empty doc)."""
        node, line = self._tree, 1 if self._tree is not None else None
        for key in path:
            if isinstance(node, CommentedMap) and key in node:
                line = node.lc.key(key)[0] + 1
                node = node[key]
            elif isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
                line = node.lc.item(key)[0] + 1
                node = node[key]
            # a path part the document lacks (pydantic's union tags, a missing key): skip it
        return line

    def problem(self, path: Path, message: str, *, severity: str = "error") -> Problem:
        return Problem(file=self.file, line=self.line(path), message=message, severity=severity)


def read_yaml(text: str, *, file: str) -> tuple[Source | None, list[Problem]]:
    """Parse `text`; a syntax error or a duplicate key becomes a Problem with its line."""
    yaml = YAML(typ="rt")
    try:
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "invalid YAML"
        return None, [Problem(file, line, f"YAML syntax: {what}; fix the indentation or quoting")]
    except YAMLError as exc:
        return None, [Problem(file, None, f"YAML syntax: {exc}")]
    return Source(file=file, data=_plain(tree), _tree=tree), []


def _plain(node: Any) -> Any:
    """ruamel's round-trip types turned into plain dict/list/str/int/float/bool/None."""
    if isinstance(node, dict):
        return {str(k) if not isinstance(k, (int, bool)) else k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def validation_problems(
    source: Source, base: Path, exc: ValidationError, *, what: str
) -> list[Problem]:
    """pydantic's errors as Problems that point at the offending line.

    For a union (`intent: str | {name, confidence_threshold}`) pydantic reports every member's
    failure; we keep the member that got furthest into the input, or say which kinds would do.
    """
    data = _data_at(source.data, base)
    groups: dict[tuple[Any, ...], list[tuple[Path, int | None, Any]]] = {}
    for n, err in enumerate(exc.errors()):
        doc, tag_at = _split(data, tuple(err["loc"]))
        key = (n,) if tag_at is None else ("union", doc[:tag_at])
        groups.setdefault(key, []).append((doc, tag_at, err))
    problems = []
    for members in groups.values():
        depth = max(len(err["loc"]) for _, _, err in members)
        deepest = [m for m in members if len(m[2]["loc"]) == depth]
        tag_at = members[0][1]
        if tag_at is not None and depth <= tag_at + 1 and len(members) > 1:
            kinds = sorted({_KINDS.get(err["type"], err["type"]) for _, _, err in members})
            doc = members[0][0]
            message = f"should be {' or '.join(kinds)}"
            problems.append(_problem(source, base + doc, what, message))
            continue
        for doc, _, err in deepest:
            message = _friendly(err["type"], err["msg"], err["loc"])
            problems.append(_problem(source, base + doc, what, message))
    return problems


_KINDS = {
    "string_type": "a string",
    "model_type": "a mapping",
    "dict_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "literal_error": "true",
    "int_type": "a whole number",
    "float_type": "a number",
}


def _problem(source: Source, path: Path, what: str, message: str) -> Problem:
    shown = ".".join(str(p) for p in path) or what
    return source.problem(path, f"{what} `{shown}`: {message}")


def _has(data: Any, key: str | int) -> bool:
    """`data[key]` exists: a key of a mapping, or an index of a sequence."""
    if isinstance(data, dict):
        return key in data
    return isinstance(data, list) and isinstance(key, int) and key < len(data)


def _data_at(data: Any, path: Path) -> Any:
    for key in path:
        if not _has(data, key):
            return None
        data = data[key]
    return data


def _split(data: Any, loc: tuple[str | int, ...]) -> tuple[Path, int | None]:
    """The part of pydantic's `loc` that is in the document, and where a union tag sat in it."""
    doc: list[str | int] = []
    tag_at = None
    for part in loc:
        if _has(data, part):
            data = data[part]
            doc.append(part)
        elif isinstance(data, dict) and isinstance(part, str) and _is_field(part):
            doc.append(part)  # a missing or unknown key: still point at its mapping
            data = None
        elif tag_at is None:
            tag_at = len(doc)  # a union member's tag (`str`, `IntentTriggerModel`, ...)
    return tuple(doc), tag_at


def _is_field(part: str) -> bool:
    return part.isidentifier() and not part[:1].isupper() and part not in _TAGS


_TAGS = {"str", "int", "float", "bool", "list", "dict", "none"}


def _friendly(kind: str, msg: str, loc: Sequence[str | int]) -> str:
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r}; check the spelling or remove it"
    if kind == "missing":
        return f"the key {loc[-1]!r} is required"
    return msg[0].lower() + msg[1:] if msg else kind


def check_model(
    model: type[M], data: Any, *, source: Source, base: Path, what: str
) -> tuple[M | None, list[Problem]]:
    """Validate `data` (found at `base` in `source`) against `model`."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, validation_problems(source, base, exc, what=what)
