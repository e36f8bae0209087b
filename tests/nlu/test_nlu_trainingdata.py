"""Reading Rasa NLU training data: what an ops team with an existing Rasa project sees."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from botsvc.domain import Entity
from botsvc.errors import ProjectError
from botsvc.nlu.trainingdata import TrainingData, load_training_data, load_training_data_from_str

DATA = Path(__file__).parent / "data"


def _examples(data: TrainingData, intent: str) -> dict[str, tuple[Entity, ...]]:
    return {e.text: e.entities for e in data.examples if e.intent == intent}


def test_a_folder_of_files_is_merged(shop_data: TrainingData) -> None:
    assert shop_data.intents == sorted(
        [
            "affirm",
            "ask_delivery_time",
            "change_address",
            "check_order_status",
            "deny",
            "goodbye",
            "greet",
            "request_refund",
            "reset_password",
            "talk_to_human",
            "thank_you",
        ]
    )
    files = {Path(e.file).name for e in shop_data.examples}
    assert files == {"nlu.yml", "delivery.yml"}
    assert set(shop_data.lookups) == {"city", "product"}  # from nlu.yml and catalogue.yml


def test_annotations_in_all_three_forms_become_plain_text_with_offsets(
    shop_data: TrainingData,
) -> None:
    orders = _examples(shop_data, "check_order_status")
    (order,) = orders["where is my order NW-123456"]
    assert (order.entity, order.value, order.start, order.end) == ("order_id", "NW-123456", 18, 27)

    addresses = _examples(shop_data, "change_address")
    (nyc,) = addresses["please deliver to my office in NYC"]  # [NYC](city:New York)
    assert (nyc.entity, nyc.value) == ("city", "New York")
    assert "please deliver to my office in NYC"[nyc.start : nyc.end] == "NYC"

    (berlin,) = addresses["ship it to Berlin instead"]  # JSON form with a role
    assert (berlin.entity, berlin.value, berlin.role, berlin.group) == (
        "city",
        "Berlin",
        "destination",
        None,
    )

    hamburg, munich = addresses["send the parcel to Hamburg not Munich"]
    assert (hamburg.role, hamburg.group, munich.role, munich.group) == (
        "destination",
        "1",
        "origin",
        "1",
    )


def test_synonyms_come_from_synonym_sections_and_inline_values(shop_data: TrainingData) -> None:
    assert shop_data.synonyms["nyc"] == "New York"  # synonym section, lower-cased
    assert shop_data.synonyms["the big apple"] == "New York"
    assert shop_data.synonyms["big apple"] == "New York"  # [Big Apple](city:New York)
    assert shop_data.synonyms["espresso machine"] == "coffee maker"  # from another file


def test_regexes_and_lookups_inline_and_from_a_file(shop_data: TrainingData) -> None:
    assert shop_data.regexes == {"order_id": (r"NW-\d{6}",)}
    assert "London" in shop_data.lookups["city"]
    products = shop_data.lookups["product"]  # catalogue.yml names lookups/products.txt
    assert "air fryer" in products and "stand mixer" in products
    assert not any(p.startswith("#") for p in products)


def test_examples_in_list_form_with_metadata_are_read(shop_data: TrainingData) -> None:
    delivery = _examples(shop_data, "ask_delivery_time")
    assert "when will it be delivered if I order today" in delivery
    (london,) = delivery["how many days is shipping to London"]
    assert london.value == "London"
    lines = sorted(e.line for e in shop_data.examples if e.intent == "ask_delivery_time")
    assert lines[0] == 8  # each example keeps the line it is written on


def test_block_examples_keep_their_line_numbers(shop_data: TrainingData) -> None:
    text = (DATA / "shop" / "nlu.yml").read_text().splitlines()
    for ex in shop_data.examples:
        if ex.file.endswith("nlu.yml"):
            assert text[ex.line - 1].strip().startswith("- ")


def test_stories_and_rules_are_skipped_with_a_warning(shop_data: TrainingData) -> None:
    warned = {(Path(w.file).name, w.line) for w in shop_data.warnings if w.severity == "warning"}
    assert ("delivery.yml", 23) in warned and ("delivery.yml", 29) in warned
    assert all("rules" in w.message or "stories" in w.message for w in shop_data.warnings)


def test_a_plain_rasa_init_project_loads_unchanged() -> None:
    data = load_training_data(DATA / "moodbot")
    assert data.intents == [
        "affirm",
        "bot_challenge",
        "deny",
        "goodbye",
        "greet",
        "mood_great",
        "mood_unhappy",
    ]
    assert len(data.examples) == 68
    assert [Path(w.file).name for w in data.warnings] == ["rules.yml"]


def test_one_file_can_be_loaded_on_its_own() -> None:
    data = load_training_data(DATA / "moodbot" / "nlu.yml")
    assert len(data.intents) == 7 and data.warnings == ()


def test_every_mistake_is_reported_with_its_line_and_a_fix() -> None:
    with pytest.raises(ProjectError) as caught:
        load_training_data(DATA / "bad" / "mistakes.yml")
    errors = {p.line: p.message for p in caught.value.problems if p.severity == "error"}
    assert set(errors) == {5, 8, 11, 13, 14, 16}
    assert "double quotes" in errors[5]  # bad JSON annotation
    assert "examples" in errors[8]  # intent without examples
    assert "regex `order_id`" in errors[11]  # pattern that does not compile
    assert "cities_that_do_not_exist.txt" in errors[13]  # lookup file missing
    assert "utter_greet" in errors[14]  # not an nlu entry
    warnings = [p for p in caught.value.problems if p.severity == "warning"]
    assert [w.line for w in warnings] == [7]  # the example without a dash is skipped
    assert all(p.file.endswith("mistakes.yml") for p in caught.value.problems)


def test_broken_yaml_names_the_line() -> None:
    with pytest.raises(ProjectError) as caught:
        load_training_data(DATA / "bad" / "broken_yaml.yml")
    (problem,) = caught.value.problems
    assert problem.line == 8 and "YAML" in problem.message
    assert str(problem).startswith(str(DATA / "bad" / "broken_yaml.yml") + ":8: error:")


def test_a_missing_or_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ProjectError):
        load_training_data(tmp_path / "nope")
    with pytest.raises(ProjectError):
        load_training_data(tmp_path)


def test_fingerprint_ignores_file_layout_but_not_content(tmp_path: Path) -> None:
    one = tmp_path / "one"
    shutil.copytree(DATA / "moodbot", one)
    two = tmp_path / "two" / "nested"
    two.mkdir(parents=True)
    shutil.copy(DATA / "moodbot" / "nlu.yml", two / "renamed.yaml")
    assert load_training_data(one).fingerprint() == load_training_data(two.parent).fingerprint()
    edited = (one / "nlu.yml").read_text().replace("- moin", "- moin moin")
    (one / "nlu.yml").write_text(edited)
    assert load_training_data(one).fingerprint() != load_training_data(two.parent).fingerprint()


def test_the_same_example_in_two_intents_is_a_warning() -> None:
    data = load_training_data_from_str(
        'version: "3.1"\nnlu:\n- intent: a\n  examples: |\n    - hello\n'
        "- intent: b\n  examples: |\n    - Hello\n",
        file="dupes.yml",
    )
    (warning,) = data.warnings
    assert (warning.file, warning.line, warning.severity) == ("dupes.yml", 8, "warning")


def test_unquoted_version_and_unknown_keys_only_warn() -> None:
    data = load_training_data_from_str(
        "version: 3.1\nnlu:\n- intent: greet\n  foo: bar\n  examples: |\n    - hi\n"
    )
    assert [w.line for w in data.warnings] == [1, 4]
    assert data.intents == ["greet"]


def test_examples_may_be_a_plain_yaml_list() -> None:
    data = load_training_data_from_str(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples:\n  - hi\n  - text: hello\n'
    )
    assert [(e.text, e.line) for e in data.examples] == [("hi", 5), ("hello", 6)]
