"""Custom actions for the Northwind example bot.

Run the action server from the project folder:

    python -m rasa_sdk --actions actions -p 5055

botsvc calls it at the endpoint named in flows/core.yml
(``actions.endpoint: http://localhost:5055/webhook``).

Orders are looked up in ``orders.json`` next to this file, a snapshot of the
order system. Dates in it are judged as of ``AS_OF`` (2026-11-23, the day the
snapshot was taken) so that the demo answers stay the same from day to day;
set ``NORTHWIND_AS_OF=YYYY-MM-DD`` to judge them as of another day.
"""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import date
from pathlib import Path
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

logger = logging.getLogger(__name__)

ORDERS_FILE = Path(__file__).with_name("orders.json")
AS_OF = date.fromisoformat(os.environ.get("NORTHWIND_AS_OF", "2026-11-23"))
RETURN_WINDOW_DAYS = 30
ORDER_ID_PATTERN = re.compile(r"^NW-\d{6}$")

ORDER_STATUSES = ("processing", "shipped", "delivered")
NOT_FOUND = "not_found"


def _load_orders(path: Path = ORDERS_FILE) -> dict[str, dict[str, Any]]:
    """Read the order snapshot, keyed by order number."""
    with path.open(encoding="utf-8") as handle:
        rows = json.load(handle)["orders"]
    return {row["order_id"]: row for row in rows}


ORDERS = _load_orders()


def _normalise_order_id(value: Any) -> str | None:
    """``" nw-482913 "`` -> ``"NW-482913"``; None when it is not an order number."""
    if not isinstance(value, str):
        return None
    candidate = value.strip().upper()
    return candidate if ORDER_ID_PATTERN.match(candidate) else None


def _order_id_from(tracker: Tracker) -> str | None:
    """The order number from the ``order_id`` slot, else from the latest message."""
    slot_value = _normalise_order_id(tracker.get_slot("order_id"))
    if slot_value:
        return slot_value
    return _normalise_order_id(next(tracker.get_latest_entity_values("order_id"), None))


def _find_order(order_id: str | None) -> dict[str, Any] | None:
    return ORDERS.get(order_id) if order_id else None


def _parse_day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _human_date(day: date) -> str:
    """``date(2026, 11, 24)`` -> ``"Tuesday 24 November"`` (year added when not AS_OF's)."""
    text = f"{day:%A} {day.day} {day:%B}"
    return text if day.year == AS_OF.year else f"{text} {day.year}"


class ActionCheckOrderStatus(Action):
    """Sets ``order_status`` (processing | shipped | delivered | not_found) and ``order_eta``.

    ``order_eta`` is the expected delivery day while the order is on its way,
    and the day it was delivered once it has arrived.
    """

    def name(self) -> str:
        return "action_check_order_status"

    def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[dict[str, Any]]:
        order_id = _order_id_from(tracker)
        order = _find_order(order_id)
        if order is None or order["status"] not in ORDER_STATUSES:
            logger.info("order %s not found", order_id)
            return [SlotSet("order_status", NOT_FOUND), SlotSet("order_eta", None)]

        status = order["status"]
        if status == "delivered":
            eta_day = _parse_day(order["delivered_on"])
        else:
            eta_day = _parse_day(order["estimated_delivery"])
        eta = _human_date(eta_day) if eta_day else None
        logger.info("order %s is %s (eta %s)", order_id, status, eta)
        return [SlotSet("order_status", status), SlotSet("order_eta", eta)]


class ActionCheckRefund(Action):
    """Sets ``refund_eligible`` (bool) and ``refund_reason`` (a short explanation).

    An order can be refunded straight away when it has not shipped yet (it is
    cancelled) or when it was delivered less than 30 days ago (it is returned).
    Anything else goes to a person. ``refund_reason`` reads naturally after
    "because" / "as" in the responses and in the agent's handoff summary.
    """

    def name(self) -> str:
        return "action_check_refund"

    def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[dict[str, Any]]:
        order_id = _order_id_from(tracker)
        order = _find_order(order_id)
        eligible, reason = self._decide(order)
        logger.info("refund for %s: eligible=%s (%s)", order_id, eligible, reason)
        events = [SlotSet("refund_eligible", eligible), SlotSet("refund_reason", reason)]
        if order is not None:
            events.append(SlotSet("order_status", order["status"]))
        return events

    @staticmethod
    def _decide(order: dict[str, Any] | None) -> tuple[bool, str]:
        if order is None:
            return False, "there's no order with that number in our system"
        status = order["status"]
        if status == "processing":
            return True, "it hasn't shipped yet"
        if status == "shipped":
            return (
                False,
                "it is still on its way to you, and it can be returned once it has arrived",
            )
        delivered_on = _parse_day(order.get("delivered_on"))
        if delivered_on is None:
            return False, "I couldn't confirm when it was delivered"
        days = (AS_OF - delivered_on).days
        when = _human_date(delivered_on)
        if days < RETURN_WINDOW_DAYS:
            return (
                True,
                f"it was delivered on {when}, within the {RETURN_WINDOW_DAYS}-day return window",
            )
        return False, (
            f"it was delivered on {when}, {days} days ago, "
            f"outside the {RETURN_WINDOW_DAYS}-day return window"
        )


class ActionSendPasswordReset(Action):
    """Asks the identity service to email a reset link; sets ``password_reset_sent``.

    It says nothing itself: the flow tells the customer. The answer never
    reveals whether the address has an account, so the slot is true whenever
    the request was accepted.
    """

    def name(self) -> str:
        return "action_send_password_reset"

    def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[dict[str, Any]]:
        email = (tracker.get_slot("email") or "").strip()
        if "@" not in email:
            logger.warning("password reset requested without an email address")
            return [SlotSet("password_reset_sent", False)]
        logger.info("password reset link requested for %s", _mask_email(email))
        return [SlotSet("password_reset_sent", True)]


def _mask_email(email: str) -> str:
    """``"jane.doe@example.com"`` -> ``"j***@example.com"`` for the logs."""
    local, _, domain_part = email.partition("@")
    return f"{local[:1]}***@{domain_part}"
