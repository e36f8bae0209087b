"""Custom actions against a real rasa-sdk action server (tests/flows/data/shop_actions.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from botsvc.api.render import rest_reply
from botsvc.domain import (
    FALLBACK_INTENT,
    Button,
    Customer,
    DialogueState,
    IntentScore,
    NluResult,
    TurnContext,
)
from botsvc.errors import ActionServerError
from botsvc.flows.actions import ActionClient, ActionResponse, latest_message, rasa_domain
from botsvc.flows.engine import FlowEngine, FlowResult
from botsvc.spec.loader import load_flows_from_str
from botsvc.spec.model import FlowSpec
from tests.actionserver import ActionServer, start_action_server

pytestmark = pytest.mark.anyio

SPEC = """\
slots:
  order_id: {type: text}
  refund_eligible: {type: bool}
  seen_intent: {type: text}
  seen_domain_has_slot: {type: bool}
  note: {type: text}
responses:
  utter_ask_order_id: [{text: "Order number?"}]
  utter_refund_started: [{text: "Refund for {order_id} started."}]
  utter_status: [{text: "Your order is {status}."}]
  utter_done: [{text: "Done."}]
  %(failed)s
flows:
  refund:
    description: Refund if the action server says the order is eligible.
    nlu_trigger: [{intent: request_refund}]
    steps:
      - collect: order_id
      - action: action_check_refund
        next:
          - if: slots.refund_eligible
            then: [{action: utter_refund_started, next: END}]
          - else: [{handoff: {reason: refund_not_eligible, priority: high}}]
  status:
    description: Tell the order status.
    nlu_trigger: [{intent: order_status}]
    steps: [{action: action_tell_status}]
  crash:
    description: An action that raises.
    nlu_trigger: [{intent: crash}]
    steps: [{action: action_crash}, {action: utter_done}]
  slow:
    description: An action slower than the timeout.
    nlu_trigger: [{intent: slow}]
    steps: [{action: action_slow}, {action: utter_done}]
  chain:
    description: A bot event and a follow-up action.
    nlu_trigger: [{intent: chain}]
    steps: [{action: action_chain}]
  reset:
    description: Reset every slot, then set one.
    nlu_trigger: [{intent: reset}]
    steps:
      - set_slots: [{order_id: NW-1}]
      - action: action_reset
      - collect: order_id
  restart:
    description: Restart the conversation.
    nlu_trigger: [{intent: restart}]
    steps: [{action: action_restart_all}, {action: utter_done}]
  parcel:
    description: Show the parcel's photo and where it is.
    nlu_trigger: [{intent: parcel}]
    steps: [{action: action_show_parcel}]
  pause:
    description: Pause for a human.
    nlu_trigger: [{intent: pause}]
    steps: [{action: action_pause}, {action: utter_done}]
"""
FAILED_RESPONSE = 'utter_action_failed: [{text: "Sorry, our systems are having trouble."}]'


def spec_for(url: str, *, failed_response: bool = True) -> FlowSpec:
    text = SPEC % {"failed": FAILED_RESPONSE if failed_response else ""}
    return load_flows_from_str(text + f"actions:\n  endpoint: {url}\n")


def nlu(text: str, intent: str = FALLBACK_INTENT) -> NluResult:
    return NluResult(text, IntentScore(intent, 0.9), (IntentScore(intent, 0.9),))


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def run(client: ActionClient, name: str, spec: FlowSpec, **slots: Any) -> Any:
    return await client.run(
        name,
        sender_id="conv-7",
        slots=slots,
        latest_message=latest_message(nlu("refund please", "request_refund"), metadata={}),
        events=[],
        domain=rasa_domain(spec),
    )


# --- the client ----------------------------------------------------------------------------------


async def test_slot_events_come_back(shop_actions: ActionServer, http: httpx.AsyncClient) -> None:
    spec = spec_for(shop_actions.url)
    result = await run(
        ActionClient(shop_actions.url, http=http),
        "action_check_refund",
        spec,
        order_id="NW-123456",
    )
    assert [(e.event, e.name, e.value) for e in result.events] == [
        ("slot", "refund_eligible", True),
        ("slot", "seen_intent", "request_refund"),  # the tracker's latest_message arrived
        ("slot", "seen_domain_has_slot", True),  # so did the domain
    ]
    assert result.responses == ()


async def test_responses_come_back(shop_actions: ActionServer, http: httpx.AsyncClient) -> None:
    spec = spec_for(shop_actions.url)
    result = await run(ActionClient(shop_actions.url, http=http), "action_tell_status", spec)
    assert result.responses == (
        ActionResponse(response="utter_status", kwargs={"status": "shipped"}),
        ActionResponse(
            text="Anything else?", buttons=(Button("Yes", "/affirm"), Button("No", "/deny"))
        ),
    )


@pytest.mark.parametrize("name", ["action_crash", "action_does_not_exist"])
async def test_a_failing_or_unknown_action_raises(
    shop_actions: ActionServer, http: httpx.AsyncClient, name: str
) -> None:
    with pytest.raises(ActionServerError) as info:
        await run(ActionClient(shop_actions.url, http=http), name, spec_for(shop_actions.url))
    assert info.value.__cause__ is None  # the server answered (500 / 404)


async def test_a_slow_action_times_out(shop_actions: ActionServer, http: httpx.AsyncClient) -> None:
    client = ActionClient(shop_actions.url, http=http, timeout_s=0.3)
    with pytest.raises(ActionServerError) as info:
        await run(client, "action_slow", spec_for(shop_actions.url))
    assert isinstance(info.value.__cause__, httpx.TimeoutException)


async def test_a_stopped_server_refuses(http: httpx.AsyncClient) -> None:
    server = start_action_server()
    client = ActionClient(server.url, http=http)
    spec = spec_for(server.url)
    try:
        await run(client, "action_check_refund", spec, order_id="NW-1")  # works while up
    finally:
        server.stop()
    with pytest.raises(ActionServerError) as info:
        await run(client, "action_check_refund", spec, order_id="NW-1")
    assert isinstance(info.value.__cause__, httpx.ConnectError)


@pytest.mark.parametrize("body", [b"<html>oops</html>", b"[1, 2]", b'{"events": 5}'])
async def test_an_answer_that_is_not_the_protocol_raises(body: bytes) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    async with httpx.AsyncClient(transport=transport) as http:
        client = ActionClient("http://actions.test/webhook", http=http)
        with pytest.raises(ActionServerError):
            await run(client, "action_x", load_flows_from_str(""))


def test_a_non_positive_timeout_is_refused() -> None:
    with pytest.raises(ValueError):
        ActionClient("http://x", http=httpx.AsyncClient(), timeout_s=0)


# --- the engine with the real server -------------------------------------------------------------


class Chat:
    def __init__(self, spec: FlowSpec, client: ActionClient) -> None:
        self.engine = FlowEngine(spec, actions=client)
        self.ctx = TurnContext(conversation_id="conv-8", customer=Customer("c-1", "Ana"))
        self.state = DialogueState()

    async def say(self, text: str, intent: str = FALLBACK_INTENT) -> FlowResult:
        result = await self.engine.handle(nlu(text, intent), self.state, self.ctx)
        self.state = result.state
        return result


def texts(result: FlowResult) -> list[str]:
    return [m.text for m in result.messages]


async def test_slot_set_by_an_action_drives_the_branch(
    shop_actions: ActionServer, http: httpx.AsyncClient
) -> None:
    spec = spec_for(shop_actions.url)
    chat = Chat(spec, ActionClient(shop_actions.url, http=http))
    await chat.say("refund", "request_refund")
    ok = await chat.say("NW-123456")
    assert texts(ok) == ["Refund for NW-123456 started."] and ok.handoff is None
    assert {
        "event": "action_called",
        "action": "action_check_refund",
        "events": ["slot", "slot", "slot"],
        "responses": 0,
    } in ok.trace

    await chat.say("refund", "request_refund")
    refused = await chat.say("NW-123457")
    assert refused.handoff is not None
    assert (refused.handoff.reason, refused.handoff.priority) == ("refund_not_eligible", "high")
    assert refused.state.slots["refund_eligible"] is False  # kept for the agent


async def test_action_responses_are_rendered(
    shop_actions: ActionServer, http: httpx.AsyncClient
) -> None:
    chat = Chat(spec_for(shop_actions.url), ActionClient(shop_actions.url, http=http))
    result = await chat.say("where is my order", "order_status")
    assert texts(result) == ["Your order is shipped.", "Anything else?"]
    assert result.messages[1].buttons == (Button("Yes", "/affirm"), Button("No", "/deny"))


async def test_an_actions_image_and_custom_payload_reach_the_messages(
    shop_actions: ActionServer, http: httpx.AsyncClient
) -> None:
    chat = Chat(spec_for(shop_actions.url), ActionClient(shop_actions.url, http=http))
    result = await chat.say("show me my parcel", "parcel")
    first, second = result.messages
    assert (first.text, first.image) == ("Here it is:", "https://img.example/parcel.png")
    assert (second.text, second.custom) == ("", {"type": "map", "lat": 52.37, "lon": 4.89})
    rest = [item for m in result.messages for item in rest_reply("w", m)]
    assert rest == [
        {"recipient_id": "w", "text": "Here it is:", "image": "https://img.example/parcel.png"},
        {"recipient_id": "w", "custom": {"type": "map", "lat": 52.37, "lon": 4.89}},
    ]


@pytest.mark.parametrize("intent", ["crash", "slow"])
async def test_a_failed_action_is_a_polite_message_and_a_handoff(
    shop_actions: ActionServer, http: httpx.AsyncClient, intent: str
) -> None:
    client = ActionClient(shop_actions.url, http=http, timeout_s=0.3)
    result = await Chat(spec_for(shop_actions.url), client).say("go", intent)
    assert texts(result) == ["Sorry, our systems are having trouble."]
    assert result.handoff is not None and result.handoff.reason == "action_failed"
    assert result.state.stack == [] and result.status == "handled"


async def test_without_utter_action_failed_a_built_in_sentence_is_used(
    http: httpx.AsyncClient,
) -> None:
    url = "http://127.0.0.1:9/webhook"  # the discard port: nothing listens
    spec = spec_for(url, failed_response=False)
    result = await Chat(spec, ActionClient(url, http=http)).say("go", "crash")
    assert len(result.messages) == 1 and result.messages[0].text
    assert result.handoff is not None and result.handoff.reason == "action_failed"


async def test_without_an_action_server_custom_actions_fail_gracefully() -> None:
    spec = spec_for("http://unused")
    chat = Chat(spec, None)  # type: ignore[arg-type]
    result = await chat.say("go", "crash")
    assert result.handoff is not None and result.handoff.reason == "action_failed"


async def test_bot_events_and_followups(
    shop_actions: ActionServer, http: httpx.AsyncClient
) -> None:
    chat = Chat(spec_for(shop_actions.url), ActionClient(shop_actions.url, http=http))
    result = await chat.say("go", "chain")
    assert texts(result) == ["Looking into it.", "Done."]


async def test_reset_slots_then_slot_set(
    shop_actions: ActionServer, http: httpx.AsyncClient
) -> None:
    chat = Chat(spec_for(shop_actions.url), ActionClient(shop_actions.url, http=http))
    result = await chat.say("go", "reset")
    assert result.state.slots == {"note": "after reset"}
    assert texts(result) == ["Order number?"]  # order_id was reset, so it is asked for


async def test_restart_ends_every_flow(shop_actions: ActionServer, http: httpx.AsyncClient) -> None:
    chat = Chat(spec_for(shop_actions.url), ActionClient(shop_actions.url, http=http))
    chat.state = DialogueState(slots={"order_id": "NW-1"})
    result = await chat.say("go", "restart")
    assert result.messages == () and result.state.stack == [] and result.state.slots == {}


async def test_pause_is_a_handoff(shop_actions: ActionServer, http: httpx.AsyncClient) -> None:
    chat = Chat(spec_for(shop_actions.url), ActionClient(shop_actions.url, http=http))
    result = await chat.say("go", "pause")
    assert texts(result) == ["A colleague will take over."]
    assert result.handoff is not None and result.handoff.reason == "action_requested_handoff"
