from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from botsvc.convtests.format import (
    TurnExpectation,
    check_tests_against_spec,
    check_turn,
    format_report,
    load_conversation_tests,
    load_conversation_tests_from_str,
    run_conversation_test,
    run_conversation_tests,
)
from botsvc.domain import (
    FALLBACK_INTENT,
    Customer,
    DialogueState,
    Entity,
    IntentScore,
    NluResult,
    TurnContext,
)
from botsvc.errors import ProjectError
from botsvc.flows.engine import FlowEngine
from botsvc.spec.loader import load_flows_from_str
from botsvc.spec.model import FlowSpec

pytestmark = pytest.mark.anyio

FLOWS = """\
slots:
  order_id: {type: text}
responses:
  utter_ask_order_id: [{text: "What is your order number?"}]
  utter_tracking: [{text: "Order {order_id} is on its way, {customer_name}."}]
  utter_invalid: [{text: "That is not an order number."}]
flows:
  track:
    description: Track an order.
    nlu_trigger: [{intent: track_order}]
    steps:
      - collect: order_id
        rejections:
          - if: not (slots.order_id matches "^NW-[0-9]+$")
            utter: utter_invalid
      - action: utter_tracking
  human:
    description: Talk to a person.
    nlu_trigger: [{intent: talk_to_human}]
    steps: [{handoff: {reason: customer_asked, priority: high}}]
escalation:
  max_rejections: 2
"""

TESTS = """\
conversations:
  - name: tracking with the number in the first message
    customer: {id: c-1, name: Ana}
    turns:
      - user: where is NW-42
        bot: ["on its way", "Ana"]
        handled_by: flow
        intent: track_order
        flow: null
        slots: {order_id: null}
        handoff: null
  - name: asked for the number
    turns:
      - user: track my order
        bot: order number
        flow: track
        step: 0_collect_order_id
      - user: how long does shipping take?
        handled_by: kb
        sources: [shipping]
      - user: NW-7
        bot_matches: "Order NW-7 is on its way, there"
        bot_not: sorry
  - name: a human
    turns:
      - user: a human please
        handoff: {reason: customer_asked, priority: high}
      - user: hello?
        handled_by: human
"""


class MiniBot:
    """Just enough pipeline for the checker: keyword NLU, the flow engine, a pretend KB."""

    def __init__(self, spec: FlowSpec) -> None:
        self.engine = FlowEngine(spec, actions=None)
        self.states: dict[str, DialogueState] = {}
        self.with_human: set[str] = set()

    async def send(
        self,
        conversation_id: str,
        text: str,
        *,
        customer: Customer,
        channel: str,
        metadata: Mapping[str, Any],
    ) -> dict[str, Any]:
        if conversation_id in self.with_human:
            return {
                "messages": [],
                "handled_by": "human",
                "intent": None,
                "flow": None,
                "sources": [],
                "handoff": {"reason": "customer_asked"},
                "slots": {},
            }
        intent = next(
            (
                i
                for k, i in [
                    ("track", "track_order"),
                    ("where", "track_order"),
                    ("human", "talk_to_human"),
                ]
                if k in text
            ),
            FALLBACK_INTENT,
        )
        entities = tuple(
            Entity("order_id", w, 0, 1, "regex") for w in text.split() if w.startswith("NW-")
        )
        nlu = NluResult(text, IntentScore(intent, 0.9), (), entities)
        state = self.states.get(conversation_id, DialogueState())
        ctx = TurnContext(
            conversation_id=conversation_id, customer=customer, channel=channel, metadata=metadata
        )
        result = await self.engine.handle(nlu, state, ctx)
        self.states[conversation_id] = result.state
        messages = [{"text": m.text} for m in result.messages]
        handled_by, sources = "flow", []
        if result.status != "handled":
            handled_by, sources = "kb", [{"title": "Shipping times", "score": 0.8}]
            messages += [
                {"text": "Shipping takes 2 days."},
                *({"text": m.text} for m in result.reprompt),
            ]
        if result.handoff:
            self.with_human.add(conversation_id)
        return {
            "messages": messages,
            "handled_by": handled_by,
            "intent": {"name": intent, "confidence": 0.9},
            "flow": {"id": result.position.flow_id, "step": result.position.step_id}
            if result.position
            else None,
            "sources": sources,
            "handoff": {"reason": result.handoff.reason, "priority": result.handoff.priority}
            if result.handoff
            else None,
            "slots": result.state.slots,
        }


@pytest.fixture
def bot() -> MiniBot:
    return MiniBot(load_flows_from_str(FLOWS))


def test_the_format_loads_with_only_the_written_expectations() -> None:
    tests = load_conversation_tests_from_str(TESTS, file="tests/conversations/t.yml")
    assert [t.name for t in tests] == [
        "tracking with the number in the first message",
        "asked for the number",
        "a human",
    ]
    first = tests[0]
    assert first.customer == Customer("c-1", "Ana") and first.channel == "web"
    assert (first.file, first.line) == ("tests/conversations/t.yml", 2)
    (turn,) = first.turns
    assert turn.user == "where is NW-42" and turn.line == 5
    assert dict(turn.checks) == {
        "bot": ["on its way", "Ana"],
        "handled_by": "flow",
        "intent": "track_order",
        "flow": None,
        "slots": {"order_id": None},
        "handoff": None,
    }
    assert set(tests[1].turns[0].checks) == {"bot", "flow", "step"}


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("conversations:\n  - name: x\n    turns:\n      - usr: hi\n", [4, 4]),  # unknown + missing
        (
            "conversations:\n  - name: x\n    turns:\n      - user: hi\n        handled_by: bot\n",
            [5],
        ),
        ("conversations:\n  - name: x\n    turns: []\n", [3]),
        (
            "conversations:\n  - name: x\n    turns:\n      - user: hi\n        bot_matches: '('\n",
            [5],
        ),
        ("conversation: []\n", [1, 1]),
    ],
)
def test_format_errors_have_lines(text: str, lines: list[int]) -> None:
    with pytest.raises(ProjectError) as info:
        load_conversation_tests_from_str(text, file="c.yml")
    assert sorted(p.line or 0 for p in info.value.problems) == lines
    assert {p.file for p in info.value.problems} == {"c.yml"}


def test_a_folder_of_test_files_loads(tmp_path: Path) -> None:
    folder = tmp_path / "conversations"
    folder.mkdir()
    (folder / "a.yml").write_text(TESTS)
    (folder / "b.yml").write_text("conversations:\n  - name: bad\n    turns: [{user: 1}]\n")
    with pytest.raises(ProjectError) as info:
        load_conversation_tests(folder)
    assert [(p.file, p.line) for p in info.value.problems] == [("conversations/b.yml", 3)]
    (folder / "b.yml").unlink()
    assert len(load_conversation_tests(folder)) == 3


def test_expectations_naming_unknown_flows_or_slots_are_reported() -> None:
    tests = load_conversation_tests_from_str(
        "conversations:\n  - name: x\n    turns:\n      - user: hi\n        flow: trak\n"
        "        slots: {order: 1}\n"
    )
    found = check_tests_against_spec(tests, load_flows_from_str(FLOWS))
    assert [p.line for p in found] == [4, 4]


OUTCOME = {
    "messages": [{"text": "Order NW-1 is on its way.", "buttons": [{"title": "Thanks"}]}],
    "handled_by": "flow",
    "intent": {"name": "track_order", "confidence": 0.9},
    "flow": {"id": "track", "step": "1_action_utter_tracking"},
    "sources": [{"title": "Shipping times"}],
    "handoff": {"id": "h1", "status": "open", "reason": "customer_asked", "priority": "high"},
    "slots": {"order_id": "NW-1", "amount": 1.0},
}


@pytest.mark.parametrize(
    ("checks", "failing"),
    [
        ({"bot": "on its WAY"}, []),
        ({"bot": ["order", "way"]}, []),
        ({"bot": ["way", "order"]}, ["bot"]),  # in order
        ({"bot_matches": r"NW-\d is on"}, []),
        ({"bot_not": ["sorry"]}, []),
        ({"bot_not": "its way"}, ["bot_not"]),
        ({"buttons": ["Thanks"]}, []),
        ({"handled_by": "kb"}, ["handled_by"]),
        ({"intent": "track_order", "flow": "track", "step": "1_action_utter_tracking"}, []),
        ({"flow": None}, ["flow"]),
        ({"slots": {"order_id": "NW-1", "missing": None}}, []),
        ({"slots": {"amount": 1}}, []),
        ({"slots": {"amount": True}}, ["slots"]),
        ({"handoff": True}, []),
        ({"handoff": "customer_asked"}, []),
        ({"handoff": None}, ["handoff"]),
        ({"sources": ["shipping"]}, []),
        ({"sources": ["returns"]}, ["sources"]),
    ],
)
def test_check_turn(checks: dict[str, Any], failing: list[str]) -> None:
    mismatches = check_turn(TurnExpectation("hi", checks), OUTCOME)
    assert [m.what for m in mismatches] == failing


def test_slots_cannot_be_checked_when_the_outcome_has_none() -> None:
    outcome = {k: v for k, v in OUTCOME.items() if k != "slots"}
    (m,) = check_turn(TurnExpectation("hi", {"slots": {"order_id": "NW-1"}}), outcome)
    assert m.what == "slots"


async def test_conversations_run_through_send(bot: MiniBot) -> None:
    tests = load_conversation_tests_from_str(TESTS, file="t.yml")
    reports = await run_conversation_tests(tests, bot.send)
    assert [r.passed for r in reports] == [True, True, True]
    assert len({r.conversation_id for r in reports}) == 3  # a fresh conversation each
    assert format_report(reports).splitlines()[-1] == "3 passed, 0 failed"


async def test_a_failure_stops_the_conversation_and_shows_a_diff(bot: MiniBot) -> None:
    (test,) = load_conversation_tests_from_str(
        dedent(
            """\
            conversations:
              - name: wrong expectation
                turns:
                  - user: track my order
                    bot: order number
                  - user: NW-x
                    bot: on its way
                    flow: null
                  - user: never reached
            """
        ),
        file="t.yml",
    )
    report = await run_conversation_test(test, bot.send)
    assert not report.passed
    assert len(report.turns) == 2
    assert [m.what for m in report.turns[1].mismatches] == ["bot", "flow"]
    text = format_report([report])
    assert "FAILED  wrong expectation  (t.yml:2)" in text
    assert "    > NW-x" in text and "    < That is not an order number." in text
    assert "      - expected: None" in text and "      + actual:   'track'" in text
    assert text.endswith("0 passed, 1 failed")


async def test_a_crash_in_send_fails_the_test() -> None:
    async def send(conversation_id: str, text: str, **_: Any) -> Mapping[str, Any]:
        raise RuntimeError("pipeline down")

    (test,) = load_conversation_tests_from_str(TESTS)[:1]
    report = await run_conversation_test(test, send, conversation_id="fixed")
    assert not report.passed and report.error is not None and report.conversation_id == "fixed"
