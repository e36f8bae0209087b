"""Entities beyond the annotated values: lookup entries, synonyms, categorical slot values and
contexts the CRF learned; and messages no customer means (thousands of digits)."""

from __future__ import annotations

from botsvc.domain import Entity
from botsvc.nlu.crf import substituted
from botsvc.nlu.entities import EntityExtractor
from botsvc.nlu.trainingdata import load_training_data_from_str

VENDORS = """version: "3.1"
nlu:
- intent: search_transactions
  examples: |
    - how much did I spend at [starbucks](vendor) last month
    - what did I spend at [target](vendor) this week
    - show my transactions with [amazon](vendor)
    - how much did I spend at [starbucks](vendor)
    - what did I spend at [amazon](vendor) last year
    - show my transactions with [target](vendor) please
    - how much did I spend last month
    - show my transactions
- intent: greet
  examples: |
    - hello
    - hi there
- lookup: vendor
  examples: |
    - ikea
    - costco
    - walmart
    - legoland
"""

HELPDESK = """version: "3.1"
nlu:
- intent: open_incident
  examples: |
    - open an [urgent]{"entity": "priority", "value": "high"} ticket
    - it's [low](priority) priority
    - open a [medium](priority) priority incident
    - the priority is [escalated]{"entity": "priority", "value": "high"}
    - please escalate my ticket to a person
    - can you escalate this
    - I want to open an incident
- intent: check_balance
  examples: |
    - what's my [balance](amount) today
    - I want to pay the [minimum balance](amount)
    - pay the [minimum balance](amount) please
- synonym: high
  examples: |
    - urgent
    - critical
    - really important
    - escalated
    - escalate
- synonym: current balance
  examples: |
    - balance
"""

PLANS = """version: "3.1"
nlu:
- intent: change_plan
  examples: |
    - I want to change my plan
    - switch my subscription please
    - upgrade me
- synonym: max
  examples: |
    - premium
    - top tier
"""

ORDERS = """version: "3.1"
nlu:
- intent: order_status
  examples: |
    - where is order [12345678](order_number)
    - any news on [87654321](order_number)?
    - where is my order
- regex: order_number
  examples: |
    - \\b\\d{8}\\b
"""


def _found(extractor: EntityExtractor, text: str) -> list[tuple[str, object, str, str]]:
    return [
        (e.entity, e.value, text[e.start : e.end], e.extractor) for e in extractor.extract(text)
    ]


def test_an_unseen_lookup_value_is_extracted_in_a_sentence_seen_in_training() -> None:
    extractor = EntityExtractor.from_training_data(load_training_data_from_str(VENDORS))
    assert _found(extractor, "what did I spend at costco this week") == [
        ("vendor", "costco", "costco", "lookup")
    ]


def test_the_crf_tags_a_value_no_list_names_from_the_contexts_it_learned() -> None:
    # trained on the annotated values alone, the CRF learns starbucks, target and amazon; the
    # copies with the lookup's values put in teach it the sentences around them
    extractor = EntityExtractor.from_training_data(load_training_data_from_str(VENDORS))
    assert ("vendor", "lidl", "lidl", "crf") in _found(
        extractor, "how much did I spend at lidl last month"
    )
    assert ("vendor", "etsy", "etsy", "crf") in _found(extractor, "show my transactions with etsy")


def test_a_synonyms_form_never_annotated_is_extracted_and_normalised() -> None:
    extractor = EntityExtractor.from_training_data(load_training_data_from_str(HELPDESK))
    assert _found(extractor, "this one is critical") == [
        ("priority", "high", "critical", "known_value")
    ]
    # the canonical value counts as well, although no example annotates it alone
    assert ("priority", "high", "high", "known_value") in _found(extractor, "make it high")


def test_a_synonym_form_the_examples_leave_unannotated_is_not_matched() -> None:
    extractor = EntityExtractor.from_training_data(load_training_data_from_str(HELPDESK))
    assert not any(e.entity == "priority" for e in extractor.extract("could you escalate it"))


def test_a_longer_learned_span_wins_over_a_known_value_inside_it() -> None:
    extractor = EntityExtractor.from_training_data(load_training_data_from_str(HELPDESK))
    found = [(e.entity, e.value) for e in extractor.extract("I want to pay the minimum balance")]
    assert found == [("amount", "minimum balance")]


def test_a_categorical_slot_value_and_its_synonyms_are_extracted_in_its_spelling() -> None:
    extractor = EntityExtractor.from_training_data(
        load_training_data_from_str(PLANS), extra_values={"plan": ("Basic", "Max")}
    )
    assert _found(extractor, "move me to basic") == [("plan", "Basic", "basic", "known_value")]
    assert _found(extractor, "I want the top tier") == [("plan", "Max", "top tier", "known_value")]


def test_a_five_thousand_digit_message_is_handled() -> None:
    extractor = EntityExtractor.from_training_data(load_training_data_from_str(ORDERS))
    digits = "9" * 5000
    for text in (digits, f"my order number is {digits}", f"${digits}"):
        found = extractor.extract(text)
        assert not any(e.entity in ("number", "amount_of_money", "phone_number") for e in found)


def test_an_order_number_regex_names_the_entity_it_extracts() -> None:
    extractor = EntityExtractor.from_training_data(load_training_data_from_str(ORDERS))
    assert _found(extractor, "what about 24681357, is it shipped?") == [
        ("order_number", "24681357", "24681357", "regex")
    ]


def test_the_substituted_training_copies_are_the_same_on_every_build() -> None:
    samples = [("pay Alice now", (Entity("recipient", "Alice", 4, 9, "annotation"),))]
    values = {"recipient": ["Alice", "Bob", "Carol", "Dave Smith"]}
    copies = substituted(samples, values)
    assert copies == substituted(samples, values)
    assert copies and all(text != "pay Alice now" for text, _ in copies)
    for text, (entity,) in copies:
        assert text[entity.start : entity.end] == entity.value
        assert text == f"pay {entity.value} now"


TRIPS = """
version: "3.1"
nlu:
- intent: book
  examples: |
    - I need a ticket from [Berlin]{"entity": "city", "role": "origin"}
    - book a trip from [Amsterdam]{"entity": "city", "role": "origin"}
    - a ticket to [Paris]{"entity": "city", "role": "destination"} please
    - going to [Munich]{"entity": "city", "role": "destination"} tomorrow
- intent: inform
  examples: |
    - from [Hamburg](city)
    - [Cologne](city)
- lookup: city
  examples: |
    - Berlin
    - Hamburg
    - Amsterdam
    - Paris
    - Munich
    - Cologne
    - Vienna
"""


def test_the_word_before_a_city_gives_its_role_as_the_annotations_do() -> None:
    extractor = EntityExtractor.from_training_data(load_training_data_from_str(TRIPS))
    roles = {e.value: e.role for e in extractor.extract("I need a ticket from Vienna")}
    assert roles == {"Vienna": "origin"}
    roles = {e.value: e.role for e in extractor.extract("I want to go to Cologne")}
    assert roles == {"Cologne": "destination"}
