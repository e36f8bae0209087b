"""A small, safe condition language for flows: parsed once at load time, evaluated per turn.

    condition  := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := operand [op operand]
    op         := == | = | != | < | <= | > | >= | is [not] | [not] in | contains | matches
    operand    := path | literal | list | "(" condition ")"
    path       := ("slots" | "context") ("." name)+
    literal    := "string" | 'string' | number | true | false | null

A bare operand is tested for truth (`slots.refund_eligible`). Comparing values of different types
is false rather than an error, a missing path is null, and `matches` searches with a regex that is
compiled (and checked) when the condition is parsed. Nothing here calls Python's `eval`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botsvc.errors import BotError

__all__ = ["Condition", "ConditionError", "parse_condition"]

ROOTS = ("slots", "context")
_TOKEN = re.compile(
    r"""(?:
      (?P<num>-?\d+(?:\.\d+)?)
    | (?P<str>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')
    | (?P<op>==|!=|<=|>=|<|>|=|\(|\)|\[|\]|,)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "is", "contains", "matches", "true", "false", "null", "none"}


class ConditionError(BotError):
    """A condition that does not parse; `column` is 1-based within the condition's source."""

    def __init__(self, message: str, column: int) -> None:
        self.message = message
        self.column = column
        super().__init__(f"{message} (column {column})")


@dataclass(frozen=True)
class _Tok:
    kind: str  # num | str | op | word | kw | end
    text: str
    col: int


Node = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Condition:
    """A parsed condition. `slot_refs` names every `slots.<name>` it reads (checked at load)."""

    source: str
    slot_refs: frozenset[str] = field(compare=False)
    _node: Node = field(repr=False, compare=False)

    def evaluate(self, *, slots: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
        return _truthy(self._node(slots, context))


def parse_condition(source: str | bool) -> Condition:
    """Parse `source`; raises ConditionError with a column for anything malformed."""
    if isinstance(source, bool):  # YAML `if: true`
        value = source
        return Condition(str(source).lower(), frozenset(), lambda s, c: value)
    parser = _Parser(str(source))
    node = parser.parse()
    return Condition(str(source), frozenset(parser.slot_refs), node)


def _tokenize(source: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while True:
        while pos < len(source) and source[pos].isspace():
            pos += 1
        if pos >= len(source):
            break
        m = _TOKEN.match(source, pos)
        if m is None or m.lastgroup is None:
            if source[pos] in "\"'":
                raise ConditionError("this string is never closed; end it with a quote", pos + 1)
            raise ConditionError(f"unexpected character {source[pos]!r}", pos + 1)
        kind, text = m.lastgroup, m.group(m.lastgroup)
        if kind == "word" and text.lower() in _KEYWORDS:
            kind, text = "kw", text.lower()
        tokens.append(_Tok(kind, text, pos + 1))
        pos = m.end()
    tokens.append(_Tok("end", "", len(source) + 1))
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.i = 0
        self.slot_refs: set[str] = set()

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ConditionError("the condition is empty", 1)
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "end":
            raise ConditionError(f"unexpected {tok.text!r}; expected and/or or the end", tok.col)
        return node

    def peek(self, ahead: int = 0) -> _Tok:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, kind: str, text: str) -> bool:
        tok = self.peek()
        if tok.kind == kind and tok.text == text:
            self.i += 1
            return True
        return False

    def expect(self, kind: str, text: str) -> None:
        if not self.accept(kind, text):
            tok = self.peek()
            raise ConditionError(f"expected {text!r} but found {tok.text or 'the end'!r}", tok.col)

    def parse_or(self) -> Node:
        left = self.parse_and()
        while self.accept("kw", "or"):
            left = _or(left, self.parse_and())
        return left

    def parse_and(self) -> Node:
        left = self.parse_not()
        while self.accept("kw", "and"):
            left = _and(left, self.parse_not())
        return left

    def parse_not(self) -> Node:
        if self.accept("kw", "not"):
            inner = self.parse_not()
            return lambda s, c: not _truthy(inner(s, c))
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        left = self.parse_operand()
        tok = self.peek()
        if tok.kind == "op" and tok.text in _COMPARE:
            self.take()
            return _binary(_COMPARE[tok.text], left, self.parse_operand())
        if tok.kind != "kw" or tok.text not in ("is", "in", "contains", "matches", "not"):
            return left
        self.take()
        if tok.text == "is":
            negate = self.accept("kw", "not")
            fn = _ne if negate else _eq
            return _binary(fn, left, self.parse_operand())
        if tok.text == "not":
            if not self.accept("kw", "in"):
                raise ConditionError("expected 'in' after 'not'", self.peek().col)
            return _binary(lambda a, b: not _in(a, b), left, self.parse_operand())
        if tok.text == "matches":
            return self.parse_matches(left)
        fn = _in if tok.text == "in" else _contains
        return _binary(fn, left, self.parse_operand())

    def parse_matches(self, left: Node) -> Node:
        tok = self.peek()
        if tok.kind != "str":
            raise ConditionError("'matches' needs a quoted regular expression", tok.col)
        self.take()
        try:
            pattern = re.compile(_unquote(tok.text))
        except re.error as exc:
            raise ConditionError(f"invalid regular expression: {exc}", tok.col) from exc

        def node(s: Mapping[str, Any], c: Mapping[str, Any]) -> bool:
            value = left(s, c)
            if value is None or isinstance(value, (dict, list)):
                return False
            return pattern.search(_as_text(value)) is not None

        return node

    def parse_operand(self) -> Node:
        tok = self.take()
        if tok.kind == "op" and tok.text == "(":
            node = self.parse_or()
            self.expect("op", ")")
            return node
        if tok.kind == "op" and tok.text == "[":
            values = self.parse_list()
            return lambda s, c: values
        if tok.kind in ("num", "str") or (tok.kind == "kw" and tok.text in _CONSTANTS):
            value = _literal(tok)
            return lambda s, c: value
        if tok.kind == "word":
            return self.parse_path(tok)
        raise ConditionError(f"expected a value but found {tok.text or 'the end'!r}", tok.col)

    def parse_list(self) -> list[Any]:
        values: list[Any] = []
        if self.accept("op", "]"):
            return values
        while True:
            tok = self.take()
            if tok.kind not in ("num", "str") and not (tok.kind == "kw" and tok.text in _CONSTANTS):
                raise ConditionError("a list holds only literal values", tok.col)
            values.append(_literal(tok))
            if self.accept("op", "]"):
                return values
            self.expect("op", ",")

    def parse_path(self, tok: _Tok) -> Node:
        parts = tok.text.split(".")
        if parts[0] not in ROOTS:
            hint = (
                f"did you mean slots.{tok.text}?" if len(parts) == 1 else "use slots.* or context.*"
            )
            raise ConditionError(f"unknown name {tok.text!r}; {hint}", tok.col)
        if len(parts) < 2:
            raise ConditionError(f"{tok.text!r} needs a name after it, like {tok.text}.x", tok.col)
        if parts[0] == "slots":
            if len(parts) > 2:
                raise ConditionError(f"a slot path has one name: slots.{parts[1]}", tok.col)
            self.slot_refs.add(parts[1])
        root, keys = parts[0], tuple(parts[1:])
        return lambda s, c: _lookup(s if root == "slots" else c, keys)


_CONSTANTS = {"true": True, "false": False, "null": None, "none": None}


def _literal(tok: _Tok) -> Any:
    if tok.kind == "num":
        return float(tok.text) if "." in tok.text else int(tok.text)
    if tok.kind == "str":
        return _unquote(tok.text)
    return _CONSTANTS[tok.text]


def _unquote(text: str) -> str:
    """Strip quotes; only an escaped quote is unescaped so regex backslashes stay as written."""
    quote = text[0]
    return text[1:-1].replace("\\" + quote, quote)


def _lookup(root: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    value: Any = root
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _truthy(value: Any) -> bool:
    return bool(value)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _same_kind(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return True
    return type(a) is type(b)


def _eq(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, str) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return _number(a) == b
    if isinstance(b, str) and isinstance(a, (int, float)) and not isinstance(a, bool):
        return _number(b) == a
    return _same_kind(a, b) and bool(a == b)


def _ne(a: Any, b: Any) -> bool:
    return not _eq(a, b)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if isinstance(a, str) and isinstance(b, (int, float)):
            a = _number(a)
        if isinstance(b, str) and isinstance(a, (int, float)):
            b = _number(b)
        if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
            return False
        if not _same_kind(a, b) or isinstance(a, (dict, list)):
            return False
        return op(a, b)

    return compare


def _in(a: Any, b: Any) -> bool:
    if isinstance(b, list):
        return any(_eq(a, item) for item in b)
    if isinstance(b, str) and isinstance(a, str):
        return a in b
    return False


def _contains(a: Any, b: Any) -> bool:
    return _in(b, a)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": _eq,
    "=": _eq,
    "!=": _ne,
    "<": _ordered(lambda a, b: a < b),
    "<=": _ordered(lambda a, b: a <= b),
    ">": _ordered(lambda a, b: a > b),
    ">=": _ordered(lambda a, b: a >= b),
}


def _binary(fn: Callable[[Any, Any], bool], left: Node, right: Node) -> Node:
    return lambda s, c: fn(left(s, c), right(s, c))


def _or(left: Node, right: Node) -> Node:
    return lambda s, c: _truthy(left(s, c)) or _truthy(right(s, c))


def _and(left: Node, right: Node) -> Node:
    return lambda s, c: _truthy(left(s, c)) and _truthy(right(s, c))
