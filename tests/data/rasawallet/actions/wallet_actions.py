"""The wallet bot's custom action: the card number question, asked by the action server."""

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher


class AskCardNumber(Action):
    def name(self) -> str:
        return "action_ask_card_number"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text="Which card number should I add? The 16 digits, please.")
        return []
