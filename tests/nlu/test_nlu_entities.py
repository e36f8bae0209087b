"""Entities as Rasa users expect them: patterns, lookups, synonyms, a learned CRF and built-ins."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from botsvc.nlu.builtins import BuiltinSettings
from botsvc.nlu.entities import EntityExtractor
from botsvc.nlu.trainingdata import TrainingData, load_training_data, load_training_data_from_str

DATA = Path(__file__).parent / "data"


def _found(extractor: EntityExtractor, text: str) -> list[tuple[str, object, str]]:
    return [(e.entity, e.value, text[e.start : e.end]) for e in extractor.extract(text)]


def test_regex_finds_order_ids_case_insensitively(shop_extractor: EntityExtractor) -> None:
    assert _found(shop_extractor, "any news on NW-424242 and nw-111111?") == [
        ("order_id", "NW-424242", "NW-424242"),
        ("order_id", "nw-111111", "nw-111111"),
    ]


def test_lookup_matches_whole_words_only(shop_extractor: EntityExtractor) -> None:
    found = _found(shop_extractor, "deliver to paris, not to Berlingo street")
    assert ("city", "paris", "paris") in found
    assert not any(span == "Berlin" for _, _, span in found)


def test_lookup_from_a_file_and_synonyms_normalise_values(shop_extractor: EntityExtractor) -> None:
    found = _found(shop_extractor, "my coffee machine broke, refund the air fryer too")
    assert ("product", "air fryer", "air fryer") in found
    # "coffee machine" is in lookups/products.txt and a synonym of "coffee maker"
    assert ("product", "coffee maker", "coffee machine") in found


def test_synonyms_apply_to_lookup_hits(shop_extractor: EntityExtractor) -> None:
    assert _found(shop_extractor, "send it to NYC please") == [("city", "New York", "NYC")]


def test_the_crf_learns_entities_no_pattern_covers() -> None:
    data = load_training_data_from_str("""version: "3.1"
nlu:
- intent: book_table
  examples: |
    - book a table for [Maria](guest_name)
    - reservation under the name [John](guest_name) please
    - table for two, name is [Aisha](guest_name)
    - can you book under [Peter](guest_name)
    - reserve a table, my name is [Lena](guest_name)
    - the booking is for [Tom](guest_name)
    - put it under [Sofia](guest_name)
    - my name is [Carlos](guest_name), table for four
    - a table for tonight
    - can I book a table
""")
    extractor = EntityExtractor.from_training_data(data)
    (guest,) = extractor.extract("please book a table, my name is Henrik")
    assert (guest.entity, guest.value, guest.extractor) == ("guest_name", "Henrik", "crf")
    assert 0.0 < guest.confidence <= 1.0
    # the learned entity wins the span over the built-in person name
    assert [(e.entity, e.value) for e in extractor.extract("book a table for Maria")] == [
        ("guest_name", "Maria")
    ]


def test_roles_are_learned_and_given_to_lookup_hits_on_the_same_span() -> None:
    data = load_training_data(DATA / "travel" / "nlu.yml")
    extractor = EntityExtractor.from_training_data(data)
    found = [(e.value, e.role) for e in extractor.extract("a flight from Brussels to Helsinki")]
    assert found == [("Brussels", "departure"), ("Helsinki", "destination")]


def test_builtins_find_email_amounts_and_numbers(shop_extractor: EntityExtractor) -> None:
    text = "refund $45.50 to jo.doe+shop@example.co.uk for 3 items"
    found = {e.entity: e.value for e in shop_extractor.extract(text)}
    assert found["email"] == "jo.doe+shop@example.co.uk"
    assert found["amount_of_money"] == {"amount": 45.5, "currency": "USD"}
    assert found["number"] == 3


def test_numbers_inside_codes_amounts_and_dates_are_not_extra_entities(
    shop_extractor: EntityExtractor,
) -> None:
    found = _found(shop_extractor, "order NW-123456 cost 20 euros on 2024-05-01")
    assert found == [
        ("order_id", "NW-123456", "NW-123456"),
        ("amount_of_money", {"amount": 20.0, "currency": "EUR"}, "20 euros"),
        ("time", "2024-05-01", "2024-05-01"),
    ]


def test_builtin_dates_phones_and_names_beside_the_bots_own_entities(
    shop_extractor: EntityExtractor,
) -> None:
    text = "deliver NW-424242 to Paris next Friday at 7pm, for Maria Lopez: 415-555-2671"
    found = [
        (e.entity, e.value, text[e.start : e.end])
        for e in shop_extractor.extract(text, now=datetime(2025, 5, 14, 10, 0))
    ]
    assert found == [
        ("order_id", "NW-424242", "NW-424242"),
        ("city", "Paris", "Paris"),  # the bot's lookup wins over a built-in person
        ("time", "2025-05-16T19:00:00", "next Friday at 7pm"),
        ("person", "Maria Lopez", "Maria Lopez"),
        ("phone_number", "+14155552671", "415-555-2671"),
    ]


def test_builtin_settings_reach_the_extractor(shop_data: TrainingData) -> None:
    extractor = EntityExtractor.from_training_data(
        shop_data, BuiltinSettings(phone_region=None, date_order="DMY")
    )
    text = "call 415-555-2671 about 03/04/2025"
    found = [(e.entity, e.value) for e in extractor.extract(text, now=datetime(2025, 1, 1))]
    assert found == [("time", "2025-04-03")]


def test_number_words_and_thousands(shop_extractor: EntityExtractor) -> None:
    found = _found(shop_extractor, "I want two boxes, not 1,500")
    assert ("number", 2, "two") in found and ("number", 1500, "1,500") in found


def test_without_annotations_there_is_no_crf_but_patterns_still_work() -> None:
    data = load_training_data_from_str("""version: "3.1"
nlu:
- intent: greet
  examples: |
    - hi
- regex: zip
  examples: |
    - \\b\\d{5}\\b
""")
    extractor = EntityExtractor.from_training_data(data)
    assert extractor.crf is None
    assert _found(extractor, "my zip is 10115") == [("zip", "10115", "10115")]
