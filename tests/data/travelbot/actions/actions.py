"""RailGo's custom actions, served by the rasa-sdk action server.

python -m rasa_sdk --actions actions -p 5055
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

# Second-class fares in EUR between city pairs (either direction); first class costs 1.6 times
# as much.
FARES: dict[frozenset[str], float] = {
    frozenset({"berlin", "hamburg"}): 39.90,
    frozenset({"berlin", "munich"}): 79.90,
    frozenset({"cologne", "frankfurt"}): 29.90,
    frozenset({"munich", "vienna"}): 59.90,
    frozenset({"amsterdam", "paris"}): 89.90,
}
DEFAULT_FARE = 49.90
# Routes whose first class is sold out.
FIRST_CLASS_SOLD_OUT = {frozenset({"amsterdam", "paris"})}

# Bookings known to the back office.
BOOKINGS: dict[str, dict[str, Any]] = {
    "RG-1234": {"status": "confirmed", "paid": 79.90, "ticket": "flexible"},
    "RG-4410": {"status": "confirmed", "paid": 39.90, "ticket": "saver"},
    "RG-9999": {"status": "departed", "paid": 59.90, "ticket": "flexible"},
}


def _route(origin: str | None, destination: str | None) -> frozenset[str]:
    return frozenset({(origin or "").strip().lower(), (destination or "").strip().lower()})


class ActionQuoteFare(Action):
    def name(self) -> str:
        return "action_quote_fare"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        route = _route(tracker.get_slot("origin"), tracker.get_slot("destination"))
        travel_class = (tracker.get_slot("travel_class") or "second").lower()
        fare = FARES.get(route, DEFAULT_FARE)
        if travel_class == "first":
            fare = round(fare * 1.6, 2)
        available = not (travel_class == "first" and route in FIRST_CLASS_SOLD_OUT)
        return [SlotSet("fare", round(fare, 2)), SlotSet("seats_available", available)]


class ActionCancelBooking(Action):
    def name(self) -> str:
        return "action_cancel_booking"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        ref = (tracker.get_slot("booking_ref") or "").strip().upper()
        booking = BOOKINGS.get(ref)
        if booking is None or booking["status"] != "confirmed":
            return [SlotSet("cancellable", False), SlotSet("refund_amount", None)]
        refund = booking["paid"] if booking["ticket"] == "flexible" else booking["paid"] - 10.0
        return [SlotSet("cancellable", True), SlotSet("refund_amount", round(refund, 2))]
