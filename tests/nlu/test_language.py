"""Telling a message in another language from an English one that the bot did not understand."""

from __future__ import annotations

import pytest

from botsvc.nlu.language import SORRY, BotLanguage, bot_language, foreign_language, vocabulary_of

OWN = vocabulary_of(
    ["where is my order", "connect me to an agent", "tell me about the protein kit", "refund"]
)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Wann kommt meine Bestellung an? Ich warte schon eine Woche.", "de"),
        ("Wo ist mein Paket?", "de"),
        ("¿Dónde está mi pedido? Lo pedí hace una semana.", "es"),
        ("Je voudrais annuler ma commande", "fr"),
        ("Dov'è il mio ordine?", "it"),
        ("Waar is mijn pakket?", "nl"),
    ],
)
def test_a_message_in_another_language_is_named(text: str, language: str) -> None:
    assert foreign_language(text, own="en", vocabulary=OWN) == language
    assert language in SORRY


@pytest.mark.parametrize(
    "text",
    [
        "i wnat to retrun an item",  # typos
        "wheres my pakage??",
        "Connect to agent",  # the bot's own words
        "Tell me about franchise",
        "Tamron BP monitor HEM 8712 available??",  # product names
        "Paisa add nahi ho raha hai",  # Hinglish: no European small words
        "danke",  # too short to tell
    ],
)
def test_english_and_unclear_messages_are_not_foreign(text: str) -> None:
    assert foreign_language(text, own="en", vocabulary=OWN) is None


def test_the_bots_own_language_is_read_from_its_examples() -> None:
    german = ["Wo ist meine Bestellung?", "Ich möchte mein Passwort ändern", "Wann kommt das Paket"]
    assert bot_language(german * 10) == "de"
    assert foreign_language("Wann kommt meine Bestellung an?", own="de", vocabulary=OWN) is None
    assert bot_language(["where is my order", "I want a refund for this"] * 10) == "en"


def test_the_bot_language_uses_its_own_vocabulary() -> None:
    # "Ich sensation protein" reads as German, but two of its three words are the bot's own
    bot = BotLanguage(
        ["do you have the sensation protein in stock", "I want to cancel my order", "refund"]
    )
    assert bot.foreign("Ich sensation protein") is None
    assert BotLanguage([]).foreign("Ich sensation protein") == "de"
    assert bot.foreign("Wann kommt meine Bestellung an?") == "de" and bot.own == "en"
