from __future__ import annotations

from pathlib import Path
from textwrap import dedent, indent

import pytest

from botsvc.errors import Problem, ProjectError
from botsvc.spec.loader import load_flow_spec, load_flows_from_str
from botsvc.spec.model import FlowSpec
from botsvc.spec.steps import END, ActionStep, CollectStep, HandoffStep

DESIGN_EXAMPLE = dedent(
    """\
    slots:
      order_id: {type: text}
      refund_eligible: {type: bool}
    responses:
      utter_ask_order_id:
        - text: "What is your order number? It looks like AB-123456."
      utter_invalid_order_id:
        - text: "That does not look like an order number."
      utter_refund_started:
        - text: "Done, {customer_name}: the refund for {order_id} is on its way."
          tone: neutral
        - text: "I'm sorry about this, {customer_name}. The refund for {order_id} is on its way."
          tone: empathetic
    actions:
      endpoint: http://localhost:5055/webhook
    flows:
      request_refund:
        description: The customer wants their money back for an order.
        nlu_trigger:
          - intent: {name: request_refund, confidence_threshold: 0.6}
          - intent: refund_please
        steps:
          - collect: order_id
            rejections:
              - if: not (slots.order_id matches "^[A-Z]{2}-[0-9]{6}$")
                utter: utter_invalid_order_id
          - action: action_check_refund
            next:
              - if: slots.refund_eligible
                then: done
              - else: escalate
          - id: done
            action: utter_refund_started
            next: END
          - id: escalate
            handoff: {reason: refund_not_eligible, priority: high}
    escalation:
      low_confidence: {kb_min_score: 0.55, intent_min_confidence: 0.5}
      max_consecutive_fallbacks: 2
      negative_sentiment: {threshold: -0.6}
      human_request_intents: [talk_to_human]
      human_request_keywords: [agent, real person]
      metadata_rules:
        - if: context.customer.metadata.plan == "enterprise"
          priority: high
          reason: enterprise_customer
      max_rejections: 4
    """
)


def with_flows(snippet: str) -> str:
    """BASE followed by `snippet` (written at any indent) as the body of `flows:`."""
    return BASE + indent(dedent(snippet), "  ")


def problems(text: str, **kwargs: object) -> list[Problem]:
    with pytest.raises(ProjectError) as info:
        load_flows_from_str(text, file="flows/test.yml", **kwargs)  # type: ignore[arg-type]
    return info.value.problems


def errors_at(text: str, **kwargs: object) -> list[int]:
    return sorted(p.line or 0 for p in problems(text, **kwargs) if p.severity == "error")


BASE = """\
slots:
  order_id: {type: text}
  size: {type: categorical, values: [S, M, L]}
responses:
  utter_ask_order_id:
    - text: Your order number?
  utter_ask_size:
    - text: Which size?
flows:
"""  # flows start at line 10


def test_the_design_example_loads_into_frozen_objects() -> None:
    spec = load_flows_from_str(
        DESIGN_EXAMPLE, intents={"request_refund", "refund_please", "talk_to_human"}
    )
    flow = spec.flows["request_refund"]
    assert [(t.intent, t.confidence_threshold) for t in flow.triggers] == [
        ("request_refund", 0.6),
        ("refund_please", None),
    ]
    assert list(flow.steps) == [
        "0_collect_order_id",
        "1_action_action_check_refund",
        "done",
        "escalate",
    ]
    collect = flow.steps["0_collect_order_id"]
    assert isinstance(collect, CollectStep)
    assert collect.utter == "utter_ask_order_id" and collect.reset_after_flow_ends
    assert [b.target for b in collect.next] == ["1_action_action_check_refund"]  # fall-through
    check = flow.steps["1_action_action_check_refund"]
    assert isinstance(check, ActionStep)
    assert [(b.condition.source if b.condition else None, b.target) for b in check.next] == [
        ("slots.refund_eligible", "done"),
        (None, "escalate"),
    ]
    assert [b.target for b in flow.steps["done"].next] == [END]
    escalate = flow.steps["escalate"]
    assert isinstance(escalate, HandoffStep)
    assert (escalate.reason, escalate.priority, escalate.next) == (
        "refund_not_eligible",
        "high",
        (),
    )
    assert spec.action_endpoint == "http://localhost:5055/webhook"
    assert spec.action_names == ("action_check_refund",)
    assert [v.tone for v in spec.responses["utter_refund_started"]] == ["neutral", "empathetic"]
    assert spec.slots["refund_eligible"].type == "bool"
    assert spec.warnings == ()
    with pytest.raises(AttributeError):
        flow.id = "x"  # type: ignore[misc]


def test_escalation_rules_are_parsed() -> None:
    rules = load_flows_from_str(DESIGN_EXAMPLE).escalation
    assert rules.kb_min_score == 0.55 and rules.intent_min_confidence == 0.5
    assert rules.max_consecutive_fallbacks == 2 and rules.negative_sentiment_threshold == -0.6
    assert rules.human_request_intents == ("talk_to_human",)
    assert rules.human_request_keywords == ("agent", "real person")
    assert rules.max_rejections == 4
    (rule,) = rules.metadata_rules
    assert (rule.priority, rule.reason, rule.line) == ("high", "enterprise_customer", 44)
    assert rule.condition.evaluate(
        slots={}, context={"customer": {"metadata": {"plan": "enterprise"}}}
    )


def test_escalation_defaults() -> None:
    rules = load_flows_from_str(BASE).escalation
    assert (rules.max_consecutive_fallbacks, rules.max_rejections) == (2, 3)
    assert rules.kb_min_score is None and rules.metadata_rules == ()


def test_unknown_response_slot_and_flow_references_are_reported_with_lines() -> None:
    text = with_flows(
        """\
          f:
            description: d
            nlu_trigger: [{intent: go}]
            steps:
              - collect: colour
              - collect: order_id
                utter: utter_which_order
                rejections:
                  - if: slots.order_id == "x"
                    utter: utter_nope
              - action: utter_missing
              - set_slots:
                  - ghost: 1
              - call: nowhere
              - link: elsewhere
        """
    )
    found = problems(text)
    assert all(p.file == "flows/test.yml" for p in found)
    # collect of an unknown slot (and its missing utter_ask_colour), an unknown `utter`, an
    # unknown rejection response, an unknown utter_ action, an unknown set_slots slot, an unknown
    # called flow and an unknown linked flow
    assert errors_at(text) == [14, 14, 15, 18, 20, 21, 23, 24]


def test_conditions_that_do_not_parse_or_read_unknown_slots_are_errors() -> None:
    text = with_flows(
        """\
          f:
            description: d
            nlu_trigger: [{intent: go}]
            if: slots.size == "M" and
            steps:
              - collect: order_id
                rejections:
                  - if: slots.order_id matches "("
              - collect: size
                next:
                  - if: slots.colour == "red"
                    then: END
                  - else: END
        """
    )
    assert errors_at(text) == [13, 17, 20]


def test_unreachable_steps_duplicate_ids_and_bad_next_targets() -> None:
    text = with_flows(
        """\
          f:
            description: d
            nlu_trigger: [{intent: go}]
            steps:
              - id: ask
                collect: order_id
                next: END
              - id: orphan
                action: utter_ask_size
              - id: ask
                collect: size
          g:
            description: d
            nlu_trigger: [{intent: go2}]
            steps:
              - collect: order_id
                next: nowhere
        """
    )
    assert errors_at(text) == [17, 19, 26]


def test_branches_need_a_final_else_and_terminal_steps_take_no_next() -> None:
    text = with_flows(
        """\
          f:
            description: d
            nlu_trigger: [{intent: go}]
            steps:
              - collect: size
                next:
                  - if: slots.size == "S"
                    then: END
              - link: g
                next: END
          g:
            description: d
            steps:
              - noop: true
        """
    )
    assert errors_at(text) == [15, 18, 19, 23]  # no else, so the link is unreachable too


def test_inline_branch_steps_get_ids_and_end_the_flow_when_they_run_out() -> None:
    text = with_flows(
        """\
          f:
            description: d
            nlu_trigger: [{intent: go}]
            steps:
              - collect: size
                next:
                  - if: slots.size == "S"
                    then:
                      - action: utter_ask_order_id
                  - else:
                      - set_slots: [{order_id: none}]
                        next: END
        """
    )
    flow = load_flows_from_str(text).flows["f"]
    assert list(flow.steps) == ["0_collect_size", "1_action_utter_ask_order_id", "2_set_slots"]
    assert [b.target for b in flow.steps["1_action_utter_ask_order_id"].next] == [END]


def test_triggers_naming_unknown_intents_are_errors_when_intents_are_known() -> None:
    text = DESIGN_EXAMPLE
    assert errors_at(text, intents={"request_refund"}) == [21, 37]  # refund_please, talk_to_human
    load_flows_from_str(text)  # without an intent list nothing is checked


@pytest.mark.parametrize(
    ("snippet", "line"),
    [
        (
            "  f:\n    description: d\n"
            "    nlu_trigger: [{intent: {name: x, confidence_threshold: 2}}]\n"
            "    steps: [{action: utter_ask_size}]\n",
            12,
        ),
        ("  f:\n    description: d\n    steps: [{action: utter_ask_size, colour: red}]\n", 12),
        ("  f:\n    description: d\n    steps: []\n", 12),
        ("  f:\n    description: d\n    steps: [{collect: size, ask_before_filling: maybe}]\n", 12),
        ("  f:\n    description: d\n    steps: [{collect: size, action: utter_ask_size}]\n", 12),
        ("  bad-id:\n    description: d\n    steps: [{action: utter_ask_size}]\n", 10),
    ],
)
def test_bad_shapes_and_types_are_reported_at_their_line(snippet: str, line: int) -> None:
    assert errors_at(BASE + snippet) == [line]


def test_bad_slot_and_response_definitions() -> None:
    text = dedent(
        """\
        slots:
          a: {type: txt}
          b: {type: categorical}
          c: {type: text, values: [x]}
        responses:
          utter_x:
            - txt: hello
          utter_y: hello
        """
    )
    assert errors_at(text) == [2, 3, 4, 7, 8]  # line 7: unknown `txt`


def test_yaml_syntax_errors_and_duplicate_keys_have_lines() -> None:
    assert errors_at("flows:\n  f:\n    steps: [\n") == [4]
    assert errors_at("slots:\n  a: {type: text}\n  a: {type: bool}\n") == [3]


def test_every_problem_is_reported_at_once() -> None:
    text = (
        with_flows(
            """\
        f:
          description: d
          nlu_trigger: [{intent: unknown_intent}]
          steps:
            - collect: ghost
            - action: utter_ghost
            - link: ghost_flow
        """
        )
        + "escalation:\n  human_request_intents: [also_unknown]\n  max_rejections: 0\n"
    )
    assert errors_at(text, intents={"greet"}) == [12, 14, 14, 15, 16, 19]


def test_warnings_do_not_refuse_the_project() -> None:
    text = (
        with_flows(
            """\
        f:
          nlu_trigger: [{intent: go}]
          steps:
            - action: action_lookup
        lonely:
          description: nothing starts me
          steps:
            - action: utter_ask_size
        """
        )
        + "responses_typo: {}\n"
    )
    spec = load_flows_from_str(text, file="flows/test.yml")
    assert [(w.line, w.severity) for w in spec.warnings] == [
        (10, "warning"),  # no description
        (13, "warning"),  # custom action but no endpoint
        (14, "warning"),  # never starts
        (18, "warning"),  # unknown top-level key
    ]


def test_templates_naming_no_slot_are_warnings() -> None:
    text = (
        "slots: {a: {type: text}}\n"
        "responses:\n  utter_x:\n    - text: 'hi {a} {b} {customer_name}'\n"
    )
    (warning,) = load_flows_from_str(text).warnings
    assert (warning.line, warning.severity) == (4, "warning")


def test_rasa_only_keys_are_accepted() -> None:
    text = with_flows(
        """\
          f:
            description: d
            name: The F flow
            always_include_in_prompt: true
            nlu_trigger: [{intent: go}]
            steps:
              - collect: size
                description: the size
                force_slot_filling: true
                reset_after_flow_ends: false
        """
    )
    step = load_flows_from_str(text).flows["f"].steps["0_collect_size"]
    assert isinstance(step, CollectStep) and not step.reset_after_flow_ends


def write(dir_: Path, name: str, text: str) -> None:
    (dir_ / name).write_text(dedent(text), encoding="utf-8")


def test_a_folder_of_files_merges(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    write(flows, "slots.yml", "slots:\n  order_id: {type: text}\n")
    write(flows, "responses.yml", "responses:\n  utter_ask_order_id: [{text: Number?}]\n")
    write(
        flows,
        "track.yml",
        """\
        flows:
          track:
            description: Track an order.
            nlu_trigger: [{intent: track_order}]
            steps: [{collect: order_id}]
        """,
    )
    write(flows, "rules.yml", "escalation:\n  max_rejections: 2\n")
    spec = load_flow_spec(flows, intents={"track_order"})
    assert isinstance(spec, FlowSpec)
    assert spec.escalation.max_rejections == 2
    assert spec.source_of("escalation") == "flows/rules.yml"
    assert spec.source_of("actions") == "flows"  # not defined anywhere
    assert set(spec.flows) == {"track"} and set(spec.slots) == {"order_id"}
    assert spec.flows["track"].file == "flows/track.yml"


def test_duplicates_across_files_name_both_places(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    body = "flows:\n  f:\n    description: d\n    steps: [{action: utter_x}]\n"
    write(flows, "a.yml", "responses:\n  utter_x: [{text: hi}]\n" + body)
    write(flows, "b.yml", "\n" + body)
    with pytest.raises(ProjectError) as info:
        load_flow_spec(flows)
    (problem,) = [p for p in info.value.problems if p.severity == "error"]
    assert (problem.file, problem.line) == ("flows/b.yml", 3)


def test_a_missing_folder_is_a_project_error(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as info:
        load_flow_spec(tmp_path / "flows")
    assert len(info.value.problems) == 1


def test_a_response_may_show_an_image_or_a_custom_payload_and_needs_one_of_them() -> None:
    spec = load_flows_from_str(
        dedent(
            """\
            responses:
              utter_parcel:
                - text: "Here is your parcel, {name}:"
                  image: "https://img.example/{name}.png"
              utter_map:
                - custom: {type: map, lat: 52.37}
            """
        )
    )
    (parcel,) = spec.responses["utter_parcel"]
    assert parcel.image == "https://img.example/{name}.png"
    assert spec.responses["utter_map"][0].custom == {"type": "map", "lat": 52.37}
    assert errors_at("responses:\n  utter_empty:\n    - buttons: []\n") == [3]
