"""The example bot shipped at the repository root loads, and its flows run with its actions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from botsvc.domain import Customer, DialogueState, Entity, IntentScore, NluResult, TurnContext
from botsvc.flows.actions import ActionClient
from botsvc.flows.engine import FlowEngine
from botsvc.nlu.trainingdata import load_training_data
from botsvc.spec.loader import load_flow_spec
from botsvc.spec.model import FlowSpec
from tests.actionserver import ActionServer, start_action_server

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def spec() -> FlowSpec:
    intents = load_training_data(REPO / "intents").intents
    return load_flow_spec(REPO / "flows", intents=intents)


@pytest.fixture(scope="module")
def example_actions() -> Iterator[ActionServer]:
    server = start_action_server("actions", folder=REPO)
    yield server
    server.stop()


def test_the_example_flows_load_with_the_example_intents(spec: FlowSpec) -> None:
    assert spec.flows and spec.action_endpoint
    assert [w for w in spec.warnings if w.severity == "error"] == []


@pytest.mark.anyio
async def test_the_example_custom_actions_answer_the_engine(
    spec: FlowSpec, example_actions: ActionServer
) -> None:
    async with httpx.AsyncClient() as http:
        engine = FlowEngine(spec, actions=ActionClient(example_actions.url, http=http))
        text = "where is my order NW-482913"
        nlu = NluResult(
            text,
            IntentScore("check_order_status", 0.9),
            (),
            (Entity("order_id", "NW-482913", 18, 27, "regex"),),
        )
        ctx = TurnContext(conversation_id="example-1", customer=Customer("c-1", "Ana"))
        result = await engine.handle(nlu, DialogueState(), ctx)
    called = [t for t in result.trace if t["event"] == "action_called"]
    assert [t["action"] for t in called] == ["action_check_order_status"]
    assert result.handoff is None and len(result.messages) == 1
    assert "order_status" in result.state.slots
