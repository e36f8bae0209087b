"""Rasa's end-to-end test format (`test_cases:`), read into our ConversationTests and checked.

    fixtures:                      # slots set before the first message
      - premium: [{membership: premium}, {logged_in: true}]
    metadata:                      # sent with the messages that name it
      - device: {os: linux}
    stub_custom_actions:           # answers for custom actions, instead of the action server
      check_balance: {events: [{event: slot, name: balance, value: 100}], responses: []}
      user_checks_balance::check_balance: {...}     # for one test case only
    test_cases:
      - test_case: user_checks_balance
        fixtures: [premium]
        metadata: device
        steps:
          - user: Show my balance
            metadata: device
            assertions:
              - flow_started: check_balance
              - flow_completed: {flow_id: check_balance, flow_step_id: ...}
              - flow_cancelled: {flow_id: ...}
              - slot_was_set: [{name: balance, value: 100}]
              - slot_was_not_set: [{name: balance}]
              - action_executed: check_balance
              - bot_uttered: {utter_name: utter_current_balance, text_matches: "..."}
              - bot_did_not_utter: {utter_name: ...}
              - pattern_clarification_contains: [flow names]
          - bot: "the exact text the bot says"    # after a user step: the turn's next message
          - utter: utter_can_do_something_else     # the same, by response name
          - slot_was_set: [balance, {currency: EUR}]   # the older step form

Each user step is one turn; its `bot`/`utter` steps and assertions are checked against what the
bot did on that turn: the messages (with their response names) and the flow events of the turn.
Assertions that need an LLM to judge (`generative_response_is_*`) fail with a reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botsvc.convtests.expectations import Mismatch, TurnExpectation
from botsvc.errors import Problem
from botsvc.spec.yamlio import Source

__all__ = ["E2E_CHECK", "RasaTestFile", "check_e2e", "is_rasa_e2e", "read_rasa_e2e"]

E2E_CHECK = "rasa_e2e"  # the key of a turn's checks that holds its Rasa expectations
_STARTED = ("flow_started", "flow_pushed", "flow_linked", "flow_called")
_SLOT_EVENTS = ("slot_filled", "slot_prefilled", "slot_set")
_LLM_ONLY = ("generative_response_is_relevant", "generative_response_is_grounded")
_KNOWN = frozenset(
    {
        "flow_started",
        "flow_completed",
        "flow_cancelled",
        "slot_was_set",
        "slot_was_not_set",
        "action_executed",
        "bot_uttered",
        "bot_did_not_utter",
        "pattern_clarification_contains",
        *_LLM_ONLY,
    }
)


@dataclass(frozen=True)
class RasaTurn:
    """What a Rasa test says about one user step."""

    bot: tuple[str, ...] = ()  # `bot:` steps, in order
    utter: tuple[str, ...] = ()  # `utter:` steps, in order
    assertions: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class RasaCase:
    name: str
    line: int | None
    turns: tuple[TurnExpectation, ...]
    slots: Mapping[str, Any] = field(default_factory=dict)  # from fixtures
    metadata: tuple[Mapping[str, Any], ...] = ()  # per turn


@dataclass(frozen=True)
class RasaTestFile:
    cases: tuple[RasaCase, ...]
    stubs: Mapping[str, Mapping[str, Any]]  # action name (or "case::action") -> answer


def is_rasa_e2e(data: Any) -> bool:
    return isinstance(data, Mapping) and "test_cases" in data


def read_rasa_e2e(source: Source) -> tuple[RasaTestFile, list[Problem]]:
    data: Any = source.data
    problems: list[Problem] = []
    fixtures = _named_mappings(source, data.get("fixtures"), "fixtures", problems, slots=True)
    metadata = _named_mappings(source, data.get("metadata"), "metadata", problems, slots=False)
    stubs = data.get("stub_custom_actions") or {}
    if not isinstance(stubs, Mapping):
        problems.append(source.problem(("stub_custom_actions",), "must map action names"))
        stubs = {}
    cases = []
    raw_cases = data.get("test_cases")
    if not isinstance(raw_cases, list):
        problems.append(source.problem(("test_cases",), "`test_cases` must be a list"))
        raw_cases = []
    for i, raw in enumerate(raw_cases):
        case = _case(source, i, raw, fixtures, metadata, problems)
        if case is not None:
            cases.append(case)
    return RasaTestFile(tuple(cases), {str(k): dict(v or {}) for k, v in stubs.items()}), problems


def _named_mappings(
    source: Source, raw: Any, key: str, problems: list[Problem], *, slots: bool
) -> dict[str, dict[str, Any]]:
    """`fixtures` / `metadata`: a list of `{name: ...}`; a fixture's body is a list of one-slot
    mappings, a metadata's body a mapping."""
    out: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(raw or []):
        if not isinstance(item, Mapping) or len(item) != 1:
            problems.append(source.problem((key, i), f"each {key} entry is `name: ...`"))
            continue
        [(name, body)] = item.items()
        if slots and isinstance(body, list):
            out[str(name)] = {
                k: v for one in body if isinstance(one, Mapping) for k, v in one.items()
            }
        elif not slots and isinstance(body, Mapping):
            out[str(name)] = dict(body)
        else:
            problems.append(source.problem((key, i, name), f"{key} {name!r} has the wrong shape"))
    return out


def _case(
    source: Source,
    i: int,
    raw: Any,
    fixtures: Mapping[str, dict[str, Any]],
    metadata: Mapping[str, dict[str, Any]],
    problems: list[Problem],
) -> RasaCase | None:
    base: tuple[str | int, ...] = ("test_cases", i)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("steps"), list):
        problems.append(source.problem(base, "a test case needs `test_case` and `steps`"))
        return None
    name = str(raw.get("test_case") or f"test case {i + 1}")
    slots: dict[str, Any] = {}
    for fixture in raw.get("fixtures") or []:
        if fixture not in fixtures:
            problems.append(source.problem(base + ("fixtures",), f"no fixture named {fixture!r}"))
        slots.update(fixtures.get(fixture, {}))
    case_meta = _metadata(source, base, raw.get("metadata"), metadata, problems)
    turns: list[TurnExpectation] = []
    metas: list[Mapping[str, Any]] = []
    rasa: list[RasaTurn] = []
    for j, step in enumerate(raw["steps"]):
        where = base + ("steps", j)
        if not isinstance(step, Mapping):
            problems.append(source.problem(where, "a step is a mapping (`user:`, `bot:`, ...)"))
            continue
        if "user" in step:
            turns.append(TurnExpectation(str(step["user"]), {}, source.line(where)))
            metas.append(
                {**case_meta, **_metadata(source, where, step.get("metadata"), metadata, problems)}
            )
            rasa.append(RasaTurn(assertions=tuple(_assertions(source, where, step, problems))))
        elif not rasa:
            problems.append(source.problem(where, "the first step must be a `user` step"))
        elif "bot" in step:
            rasa[-1] = _with(rasa[-1], bot=(*rasa[-1].bot, str(step["bot"])))
        elif "utter" in step:
            rasa[-1] = _with(rasa[-1], utter=(*rasa[-1].utter, str(step["utter"])))
        elif "slot_was_set" in step or "slot_was_not_set" in step:
            key = "slot_was_set" if "slot_was_set" in step else "slot_was_not_set"
            old = {key: [_slot_item(s) for s in step[key] or []]}
            rasa[-1] = _with(rasa[-1], assertions=(*rasa[-1].assertions, old))
        else:
            problems.append(source.problem(where, f"unknown step {', '.join(map(str, step))}"))
    expectations = tuple(
        TurnExpectation(t.user, {E2E_CHECK: r}, t.line) for t, r in zip(turns, rasa, strict=True)
    )
    return RasaCase(name, source.line(base), expectations, slots, tuple(metas))


def _with(turn: RasaTurn, **changes: Any) -> RasaTurn:
    values = {"bot": turn.bot, "utter": turn.utter, "assertions": turn.assertions, **changes}
    return RasaTurn(**values)


def _metadata(
    source: Source,
    where: tuple[str | int, ...],
    name: Any,
    metadata: Mapping[str, dict[str, Any]],
    problems: list[Problem],
) -> dict[str, Any]:
    if name is None:
        return {}
    if str(name) not in metadata:
        problems.append(source.problem(where + ("metadata",), f"no metadata named {name!r}"))
        return {}
    return dict(metadata[str(name)])


def _assertions(
    source: Source, where: tuple[str | int, ...], step: Mapping[str, Any], problems: list[Problem]
) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for k, a in enumerate(step.get("assertions") or []):
        if not isinstance(a, Mapping) or len(a) != 1 or next(iter(a)) not in _KNOWN:
            shown = ", ".join(map(str, a)) if isinstance(a, Mapping) else repr(a)
            problems.append(source.problem(where + ("assertions", k), f"unknown assertion {shown}"))
            continue
        out.append(dict(a))
    return out


def _slot_item(item: Any) -> dict[str, Any]:
    """The older step form: `slot` or `{slot: value}`; assertions use `{name, value}`."""
    if isinstance(item, Mapping) and "name" not in item and len(item) == 1:
        [(name, value)] = item.items()
        return {"name": name, "value": value}
    return dict(item) if isinstance(item, Mapping) else {"name": str(item)}


# --- checking ------------------------------------------------------------------------------------


def check_e2e(expected: RasaTurn, outcome: Mapping[str, Any]) -> list[Mismatch]:
    """One user step's expectations against the turn's outcome: `messages` (each with its
    `response`), `events` (the flows' event log), `actions` and `slots_set` of the turn."""
    out: list[Mismatch] = []
    messages: list[Mapping[str, Any]] = list(outcome.get("messages") or ())
    texts = [str(m.get("text") or "") for m in messages]
    names = [m.get("response") for m in messages]
    if expected.bot and not _in_order(list(expected.bot), texts):
        out.append(Mismatch("bot", list(expected.bot), texts))
    if expected.utter and not _in_order(list(expected.utter), names):
        out.append(Mismatch("utter", list(expected.utter), names))
    for assertion in expected.assertions:
        [(kind, want)] = assertion.items()
        actual, ok = _ASSERT[kind](want, outcome, messages)
        if not ok:
            out.append(Mismatch(kind, want, actual))
    return out


def _in_order(wanted: Sequence[Any], said: Sequence[Any]) -> bool:
    it = iter(said)
    return all(any(w == s for s in it) for w in wanted)


def _events(outcome: Mapping[str, Any], kinds: Sequence[str]) -> list[Mapping[str, Any]]:
    return [e for e in outcome.get("events") or () if e.get("event") in kinds]


def _flow_started(want: Any, outcome: Mapping[str, Any], _: Any) -> tuple[Any, bool]:
    started = [e.get("flow") for e in _events(outcome, _STARTED)]
    return started, str(want) in started


def _flow_ended(kind: str) -> Any:
    def check(want: Any, outcome: Mapping[str, Any], _: Any) -> tuple[Any, bool]:
        want = want if isinstance(want, Mapping) else {"flow_id": want}
        ended = [(e.get("flow"), e.get("step")) for e in _events(outcome, (kind,))]
        step = want.get("flow_step_id")
        ok = any(f == want.get("flow_id") and (step is None or s == step) for f, s in ended)
        return ended, ok

    return check


def _slot_was_set(want: Any, outcome: Mapping[str, Any], _: Any) -> tuple[Any, bool]:
    """Each slot named was set this turn (to the value given, by any of its SlotSets)."""
    got: Mapping[str, list[Any]] = outcome.get("slots_set") or {}
    items = [_slot_item(w) for w in (want or [])]
    ok = all(
        i["name"] in got and ("value" not in i or any(_same(v, i["value"]) for v in got[i["name"]]))
        for i in items
    )
    return _shown_slots(got), ok


def _slot_was_not_set(want: Any, outcome: Mapping[str, Any], _: Any) -> tuple[Any, bool]:
    got: Mapping[str, list[Any]] = outcome.get("slots_set") or {}
    items = [_slot_item(w) for w in (want or [])]
    ok = all(
        i["name"] not in got
        or ("value" in i and not any(_same(v, i["value"]) for v in got[i["name"]]))
        for i in items
    )
    return _shown_slots(got), ok


def _shown_slots(got: Mapping[str, list[Any]]) -> dict[str, Any]:
    """One value per slot where it was set once, else the values in order."""
    return {name: values[0] if len(values) == 1 else values for name, values in got.items()}


def _action_executed(want: Any, outcome: Mapping[str, Any], _: Any) -> tuple[Any, bool]:
    ran = list(outcome.get("actions") or ())
    return ran, str(want) in ran


def _uttered(want: Any, m: Mapping[str, Any]) -> bool:
    want = want or {}
    if "utter_name" in want and m.get("response") != want["utter_name"]:
        return False
    pattern = want.get("text_matches")
    if pattern is not None and not re.search(str(pattern), str(m.get("text") or "")):
        return False
    if "buttons" in want:
        got = [
            {"title": b.get("title"), "payload": b.get("payload")} for b in m.get("buttons") or ()
        ]
        if got != [{"title": b.get("title"), "payload": b.get("payload")} for b in want["buttons"]]:
            return False
    return True


def _bot_uttered(want: Any, _: Mapping[str, Any], messages: list[Any]) -> tuple[Any, bool]:
    return _shown(messages), any(_uttered(want, m) for m in messages)


def _bot_did_not_utter(want: Any, _: Mapping[str, Any], messages: list[Any]) -> tuple[Any, bool]:
    return _shown(messages), not any(_uttered(want, m) for m in messages)


def _clarification(want: Any, outcome: Mapping[str, Any], messages: list[Any]) -> tuple[Any, bool]:
    """The flows pattern_clarification offered (by name, as Rasa's `context.names`), or the
    buttons of a choice when the project offers it with buttons."""
    offered = [
        str(name)
        for e in _events(outcome, _STARTED)
        if e.get("flow") == "pattern_clarification"
        for name in e.get("names") or ()
    ]
    offered += [str(b.get("title") or "") for m in messages for b in m.get("buttons") or ()]
    wanted = [str(w) for w in (want if isinstance(want, list) else [want])]
    ok = all(any(w.lower() in o.lower() for o in offered) for w in wanted)
    return offered, ok


def _needs_llm(want: Any, _: Mapping[str, Any], __: Any) -> tuple[Any, bool]:
    return "botsvc judges no generated text: this assertion needs an LLM", False


def _shown(messages: list[Any]) -> list[str]:
    return [f"{m.get('response') or '-'}: {m.get('text')}" for m in messages]


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected or str(actual).lower() == str(expected).lower()
    if isinstance(actual, (int, float, str)) and isinstance(expected, (int, float, str)):
        try:  # a text slot holding "50" was set to 50
            return float(actual) == float(expected)
        except ValueError:
            pass
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.strip().lower() == expected.strip().lower()
    return bool(actual == expected)


_ASSERT: dict[str, Any] = {
    "flow_started": _flow_started,
    "flow_completed": _flow_ended("flow_completed"),
    "flow_cancelled": _flow_ended("flow_cancelled"),
    "slot_was_set": _slot_was_set,
    "slot_was_not_set": _slot_was_not_set,
    "action_executed": _action_executed,
    "bot_uttered": _bot_uttered,
    "bot_did_not_utter": _bot_did_not_utter,
    "pattern_clarification_contains": _clarification,
    **{k: _needs_llm for k in _LLM_ONLY},
}
