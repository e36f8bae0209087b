"""Conversation tests: YAML scripts of customer turns with expectations on what the bot did.

    # tests/conversations/refunds.yml
    conversations:
      - name: refund with the order number in the first message
        customer: {id: c-42, name: Ana, metadata: {plan: pro}}   # optional
        channel: web                                             # optional (default: web)
        metadata: {page: /help}                                  # optional, sent with each turn
        turns:
          - user: I want a refund for NW-123456
            bot: "refund for NW-123456"   # substrings of the bot's messages, in order, any case
            bot_matches: "on its way"     # a regex searched in the bot's messages
            bot_not: ["sorry"]            # substrings that must not appear
            buttons: ["Yes", "No"]        # button titles shown (in order)
            handled_by: flow              # flow | kb | fallback | human
            intent: request_refund
            flow: request_refund          # the active flow after the turn; null: none
            step: ask_order               # its step id
            slots: {order_id: NW-123456}  # these slots have these values (null: unset)
            handoff: {reason: refund_not_eligible, priority: high}   # or true/false, or a reason
            sources: ["Refund policy"]    # substrings of KB source titles that must be cited

Only the expectations written are checked. `run_conversation_tests` sends each turn through a
`send` callable (the real pipeline, in `botsvc test`) that returns the API's turn response:
`{"messages": [{"text", "buttons"?}], "handled_by", "intent": {"name", "confidence"} | None,
"flow": {"id", "step"} | None, "sources": [{"title", ...}], "handoff": {"reason", ...} | None}`,
plus `"slots": {...}` when tests check slots. Each test runs in a fresh conversation.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import Field

from botsvc.convtests.expectations import Mismatch, TurnExpectation, check_turn
from botsvc.convtests.rasa_e2e import E2E_CHECK, check_e2e, is_rasa_e2e, read_rasa_e2e
from botsvc.domain import Customer
from botsvc.errors import Problem, ProjectError
from botsvc.spec.model import FlowSpec
from botsvc.spec.schema import Shape
from botsvc.spec.yamlio import Source, check_model, read_yaml

__all__ = [
    "ConversationReport",
    "ConversationTest",
    "Mismatch",
    "Send",
    "TurnExpectation",
    "TurnReport",
    "check_tests_against_spec",
    "check_turn",
    "format_report",
    "load_conversation_tests",
    "load_conversation_tests_from_str",
    "load_test_paths",
    "run_conversation_test",
    "run_conversation_tests",
]


# --- the format ----------------------------------------------------------------------------------


class _Customer(Shape):
    id: str = "test-customer"
    name: str | None = None
    email: str | None = None
    metadata: dict[str, Any] = {}


class _Handoff(Shape):
    reason: str | None = None
    priority: str | None = None


class _Turn(Shape):
    user: str
    bot: str | list[str] | None = None
    bot_matches: str | None = None
    bot_not: str | list[str] | None = None
    buttons: list[str] | None = None
    handled_by: Literal["flow", "kb", "fallback", "human"] | None = None
    intent: str | None = None
    flow: str | None = None
    step: str | None = None
    slots: dict[str, Any] | None = None
    handoff: bool | str | _Handoff | None = None
    sources: list[str] | None = None


class _Conversation(Shape):
    name: str
    description: str | None = None
    customer: _Customer = _Customer()
    channel: str = "web"
    metadata: dict[str, Any] = {}
    turns: list[_Turn] = Field(min_length=1)


class _File(Shape):
    conversations: list[Any]


@dataclass(frozen=True)
class ConversationTest:
    name: str
    turns: tuple[TurnExpectation, ...]
    customer: Customer = field(default_factory=lambda: Customer(id="test-customer"))
    channel: str = "web"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    file: str = ""
    line: int | None = None
    # Rasa e2e tests: slots set before the first message (fixtures), metadata per turn, and
    # answers for custom actions instead of the action server (stub_custom_actions)
    slots: Mapping[str, Any] = field(default_factory=dict)
    turn_metadata: tuple[Mapping[str, Any], ...] = ()
    stubs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def load_conversation_tests(directory: Path) -> list[ConversationTest]:
    """Every `*.yml` / `*.yaml` under `directory`, in either format (ours: `conversations:`;
    Rasa's e2e: `test_cases:`); raises ProjectError listing every problem."""
    return load_test_paths([directory])


def load_test_paths(paths: Sequence[Path]) -> list[ConversationTest]:
    """Test files, and every `*.yml` / `*.yaml` under test folders, in either format."""
    tests: list[ConversationTest] = []
    problems: list[Problem] = []
    for given in paths:
        if given.is_dir():
            files = sorted({*given.rglob("*.yml"), *given.rglob("*.yaml")})
            named = [(p, p.relative_to(given.parent).as_posix()) for p in files]
        elif given.is_file():
            named = [(given, given.as_posix())]
        else:
            problems.append(Problem(str(given), None, "no such test file or folder"))
            continue
        for path, name in named:
            found, errs = _load(path.read_text(encoding="utf-8"), name)
            tests += found
            problems += errs
    if problems:
        raise ProjectError(problems)
    return tests


def load_conversation_tests_from_str(
    text: str, *, file: str = "<string>"
) -> list[ConversationTest]:
    tests, problems = _load(text, file)
    if problems:
        raise ProjectError(problems)
    return tests


def _load(text: str, file: str) -> tuple[list[ConversationTest], list[Problem]]:
    source, problems = read_yaml(text, file=file)
    if source is None or source.data is None:
        return [], problems
    if is_rasa_e2e(source.data):
        return _load_rasa(source, problems)
    top, errs = check_model(_File, source.data, source=source, base=(), what="conversation file")
    if top is None:
        return [], errs
    tests = []
    for i, raw in enumerate(top.conversations):
        test, errs = _conversation(source, i, raw)
        problems += errs
        if test is not None:
            tests.append(test)
    return tests, problems


def _load_rasa(
    source: Source, problems: list[Problem]
) -> tuple[list[ConversationTest], list[Problem]]:
    found, errs = read_rasa_e2e(source)
    tests = [
        ConversationTest(
            name=case.name,
            turns=case.turns,
            file=source.file,
            line=case.line,
            slots=case.slots,
            turn_metadata=case.metadata,
            stubs={
                k.split("::", 1)[-1]: v
                for k, v in found.stubs.items()
                if "::" not in k or k.split("::", 1)[0] == case.name
            },
        )
        for case in found.cases
    ]
    return tests, problems + errs


def _conversation(
    source: Source, i: int, raw: Any
) -> tuple[ConversationTest | None, list[Problem]]:
    base = ("conversations", i)
    model, problems = check_model(_Conversation, raw, source=source, base=base, what="conversation")
    if model is None:
        return None, problems
    turns = []
    for j, turn in enumerate(model.turns):
        written = [k for k in _Turn.model_fields if k in turn.model_fields_set and k != "user"]
        checks = {k: getattr(turn, k) for k in written}
        if "bot_matches" in checks and checks["bot_matches"] is not None:
            try:
                re.compile(checks["bot_matches"])
            except re.error as exc:
                problems.append(
                    source.problem(
                        base + ("turns", j, "bot_matches"),
                        f"bot_matches is not a valid regex: {exc}",
                    )
                )
        turns.append(TurnExpectation(turn.user, checks, source.line(base + ("turns", j))))
    c = model.customer
    test = ConversationTest(
        name=model.name,
        turns=tuple(turns),
        customer=Customer(id=c.id, name=c.name, email=c.email, metadata=dict(c.metadata)),
        channel=model.channel,
        metadata=dict(model.metadata),
        file=source.file,
        line=source.line(base),
    )
    return test, problems


def check_tests_against_spec(tests: Iterable[ConversationTest], spec: FlowSpec) -> list[Problem]:
    """Expectations naming flows or slots the project does not define (typos in tests)."""
    problems = []
    for test in tests:
        for turn in test.turns:
            flow = turn.checks.get("flow")
            if flow is not None and flow not in spec.flows:
                problems.append(
                    Problem(
                        test.file, turn.line, f"expects flow {flow!r}, which flows/ does not define"
                    )
                )
            for slot in turn.checks.get("slots") or {}:
                if slot not in spec.slots:
                    problems.append(
                        Problem(
                            test.file,
                            turn.line,
                            f"expects slot {slot!r}, which flows/ does not define",
                        )
                    )
    return problems


# --- running -------------------------------------------------------------------------------------


class Send(Protocol):
    """Send one customer message through the bot; return the API's turn response as a dict."""

    def __call__(
        self,
        conversation_id: str,
        text: str,
        *,
        customer: Customer,
        channel: str,
        metadata: Mapping[str, Any],
    ) -> Awaitable[Mapping[str, Any]]: ...


@dataclass(frozen=True)
class TurnReport:
    index: int
    expectation: TurnExpectation
    outcome: Mapping[str, Any]
    mismatches: tuple[Mismatch, ...]


@dataclass(frozen=True)
class ConversationReport:
    test: ConversationTest
    conversation_id: str
    turns: tuple[TurnReport, ...]  # up to and including the first failing turn
    error: str | None = None  # `send` raised

    @property
    def passed(self) -> bool:
        return self.error is None and all(not t.mismatches for t in self.turns)


async def run_conversation_test(
    test: ConversationTest, send: Send, *, conversation_id: str | None = None
) -> ConversationReport:
    """Play the turns in a fresh conversation; stop at the first turn that fails (as Rasa does)."""
    cid = conversation_id or f"convtest-{_slug(test.name)}-{uuid.uuid4().hex[:8]}"
    reports: list[TurnReport] = []
    for i, turn in enumerate(test.turns):
        metadata = {**test.metadata, **(test.turn_metadata[i] if test.turn_metadata else {})}
        try:
            outcome = await send(
                cid, turn.user, customer=test.customer, channel=test.channel, metadata=metadata
            )
        except Exception as exc:  # noqa: BLE001 - a crash in the bot is a failed test, reported
            return ConversationReport(test, cid, tuple(reports), f"turn {i + 1}: {exc!r}")
        rasa = turn.checks.get(E2E_CHECK)
        mismatches = tuple(check_e2e(rasa, outcome) if rasa else check_turn(turn, outcome))
        reports.append(TurnReport(i, turn, outcome, mismatches))
        if mismatches:
            break
    return ConversationReport(test, cid, tuple(reports))


async def run_conversation_tests(
    tests: Sequence[ConversationTest], send: Send
) -> list[ConversationReport]:
    return [await run_conversation_test(t, send) for t in tests]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "test"


def format_report(reports: Sequence[ConversationReport]) -> str:
    """Readable results: one line per passing test, the transcript and a diff for each failure."""
    lines = []
    for r in reports:
        where = f"{r.test.file}:{r.test.line}" if r.test.line else r.test.file
        if r.passed:
            lines.append(f"PASSED  {r.test.name}")
            continue
        lines.append(f"FAILED  {r.test.name}  ({where})")
        for t in r.turns:
            lines += _turn_lines(t)
        if r.error:
            lines.append(f"    error: {r.error}")
    passed = sum(r.passed for r in reports)
    lines.append(f"{passed} passed, {len(reports) - passed} failed")
    return "\n".join(lines)


def _turn_lines(t: TurnReport) -> list[str]:
    line = f", line {t.expectation.line}" if t.expectation.line else ""
    out = [f"  turn {t.index + 1}{line}", f"    > {t.expectation.user}"]
    for m in t.outcome.get("messages") or ():
        out.append(f"    < {m.get('text', '')}")
    for m in t.mismatches:
        out.append(f"    {m.what}:")
        out.append(f"      - expected: {_show(m.expected)}")
        out.append(f"      + actual:   {_show(m.actual)}")
    return out


def _show(value: Any) -> str:
    if isinstance(value, Shape):
        return repr(value.model_dump(exclude_none=True))
    return repr(value)
