"""Real rasa-sdk actions for the flow tests (`python -m rasa_sdk --actions shop_actions`)."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import (
    AllSlotsReset,
    BotUttered,
    ConversationPaused,
    FollowupAction,
    Restarted,
    SlotSet,
)
from rasa_sdk.executor import CollectingDispatcher

Domain = dict[str, Any]


class CheckRefund(Action):
    """Eligible when the order number ends in an even digit; echoes what it saw."""

    def name(self) -> str:
        return "action_check_refund"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain) -> list:
        order_id = tracker.get_slot("order_id") or ""
        eligible = bool(order_id) and order_id[-1] in "02468"
        return [
            SlotSet("refund_eligible", eligible),
            SlotSet("seen_intent", tracker.latest_message["intent"]["name"]),
            SlotSet("seen_domain_has_slot", "order_id" in domain.get("slots", {})),
        ]


class TellStatus(Action):
    """A domain response rendered with a kwarg, plus a literal message with buttons."""

    def name(self) -> str:
        return "action_tell_status"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain) -> list:
        dispatcher.utter_message(response="utter_status", status="shipped")
        dispatcher.utter_message(
            text="Anything else?",
            buttons=[{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}],
        )
        return []


class Crash(Action):
    def name(self) -> str:
        return "action_crash"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain) -> list:
        raise RuntimeError("the order database is down")


class Slow(Action):
    def name(self) -> str:
        return "action_slow"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain) -> list:
        await asyncio.sleep(3)
        return []


class Chain(Action):
    """A bot event and a follow-up action."""

    def name(self) -> str:
        return "action_chain"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain) -> list:
        return [BotUttered(text="Looking into it."), FollowupAction("utter_done")]


class Reset(Action):
    def name(self) -> str:
        return "action_reset"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain) -> list:
        return [AllSlotsReset(), SlotSet("note", "after reset")]


class Restart(Action):
    def name(self) -> str:
        return "action_restart_all"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain) -> list:
        return [Restarted()]


class Pause(Action):
    def name(self) -> str:
        return "action_pause"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain) -> list:
        dispatcher.utter_message(text="A colleague will take over.")
        return [ConversationPaused()]


class ShowParcel(Action):
    def name(self) -> str:
        return "action_show_parcel"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Domain) -> list:
        dispatcher.utter_message(text="Here it is:", image="https://img.example/parcel.png")
        dispatcher.utter_message(json_message={"type": "map", "lat": 52.37, "lon": 4.89})
        return []
