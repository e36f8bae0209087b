"""The intent model: right answers in scope, honest fallbacks out of scope, a reusable artefact."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from botsvc.domain import IntentScore
from botsvc.embedding import Embedder
from botsvc.errors import ModelNotTrainedError, ProjectError
from botsvc.nlu.classifier import (
    IntentModel,
    artefact_key,
    load_current,
    load_intent_model,
    save_intent_model,
    train_intent_model,
    train_or_load,
)
from botsvc.nlu.trainingdata import TrainingData, load_training_data_from_str

IN_SCOPE = {
    "hey, good morning": "greet",
    "where the heck is my package": "check_order_status",
    "I would like my money returned please": "request_refund",
    "I cannot remember my password": "reset_password",
    "put me through to a live agent": "talk_to_human",
    "please send it to a different address": "change_address",
    "how many days does shipping take": "ask_delivery_time",
    "thank you very much": "thank_you",
}
OUT_OF_SCOPE = [
    "what's the weather like in Paris tomorrow",
    "who won the football game last night",
    "recommend me a good pizza recipe",
    "what is the capital of Australia",
    "tell me a joke about cats",
    "how do I bake sourdough bread",
    "can you book me a flight to Rome",
    "what's the meaning of life",
]


def _rank(model: IntentModel, embedder: Embedder, text: str) -> list[IntentScore]:
    return model.rank(embedder.encode([text])[0], text=text)


def test_in_scope_messages_get_their_intent_confidently(
    shop_model: IntentModel, embedder: Embedder
) -> None:
    for text, intent in IN_SCOPE.items():
        top = _rank(shop_model, embedder, text)[0]
        assert top.name == intent, text
        assert top.confidence >= shop_model.threshold, text


def test_out_of_scope_messages_fall_below_the_threshold(
    shop_model: IntentModel, embedder: Embedder
) -> None:
    confident = [
        t
        for t in OUT_OF_SCOPE
        if _rank(shop_model, embedder, t)[0].confidence >= shop_model.threshold
    ]
    # A bot of 11 intents with ~10 examples each: most, not all ("weather in Paris" sits close
    # to "how long to ship to Paris"; on so few examples one or two others come near too).
    assert len(confident) <= 2, confident


def test_ranking_lists_every_intent_best_first_as_probabilities(
    shop_model: IntentModel, embedder: Embedder
) -> None:
    ranking = _rank(shop_model, embedder, "where is my order")
    assert sorted(s.name for s in ranking) == shop_model.intents
    confidences = [s.confidence for s in ranking]
    assert confidences == sorted(confidences, reverse=True)
    assert all(0.0 <= c <= 1.0 for c in confidences) and sum(confidences) <= 1.0 + 1e-9


def test_ranking_from_the_vector_alone_agrees_on_clear_messages(
    shop_model: IntentModel, embedder: Embedder
) -> None:
    vector = embedder.encode(["I forgot my password"])[0]
    assert shop_model.rank(vector)[0].name == "reset_password"


def test_saved_model_loads_fast_and_ranks_identically(
    shop_model: IntentModel, embedder: Embedder, tmp_path: Path
) -> None:
    save_intent_model(shop_model, tmp_path / "artefact")
    assert {p.suffix for p in (tmp_path / "artefact").iterdir()} == {".json", ".npy"}
    started = time.perf_counter()
    loaded = load_intent_model(tmp_path / "artefact")
    assert time.perf_counter() - started < 0.5
    for text in [*IN_SCOPE, *OUT_OF_SCOPE]:
        vector = embedder.encode([text])[0]
        a, b = shop_model.rank(vector, text=text), loaded.rank(vector, text=text)
        assert [s.name for s in a] == [s.name for s in b]
        assert np.allclose([s.confidence for s in a], [s.confidence for s in b], atol=1e-6)
    assert loaded.threshold == shop_model.threshold and loaded.key == shop_model.key


def test_train_or_load_retrains_only_when_the_intent_examples_change(
    shop_data: TrainingData, shop_model: IntentModel, embedder: Embedder, shop_models_dir: Path
) -> None:
    model, trained = train_or_load(shop_data, embedder, shop_models_dir)
    assert not trained and model.key == shop_model.key
    assert (shop_models_dir / f"intent-{model.key}" / "model.json").is_file()
    assert load_current(shop_data, embedder.model_id, shop_models_dir).key == model.key

    changed = load_training_data_from_str(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hi\n    - hello\n'
        "- intent: goodbye\n  examples: |\n    - bye\n    - see you\n"
    )
    with pytest.raises(ModelNotTrainedError, match="botsvc train"):
        load_current(changed, embedder.model_id, shop_models_dir)
    with pytest.raises(ModelNotTrainedError):
        load_current(shop_data, "another-model", shop_models_dir)


def test_key_ignores_entities_and_order_but_not_examples(shop_data: TrainingData) -> None:
    head = 'version: "3.1"\nnlu:\n'
    a = load_training_data_from_str(
        head + "- intent: x\n  examples: |\n    - [hi](who)\n    - yo\n"
    )
    b = load_training_data_from_str(head + "- intent: x\n  examples: |\n    - yo\n    - hi\n")
    c = load_training_data_from_str(head + "- intent: x\n  examples: |\n    - yo\n    - hey\n")
    assert artefact_key(a, "m") == artefact_key(b, "m") != artefact_key(c, "m")
    assert artefact_key(a, "m") != artefact_key(a, "other-model")


def test_training_the_example_bot_takes_seconds(
    shop_data: TrainingData, embedder: Embedder
) -> None:
    started = time.perf_counter()
    model = train_intent_model(shop_data, embedder)
    assert time.perf_counter() - started < 20
    assert model.info["examples"] == len({(e.intent, e.text) for e in shop_data.examples})


def test_a_two_intent_bot_still_detects_out_of_scope(embedder: Embedder) -> None:
    data = load_training_data_from_str(
        'version: "3.1"\nnlu:\n- intent: affirm\n  examples: |\n'
        "    - yes\n    - yep\n    - sure\n    - correct\n    - ok\n    - yes please\n"
        "- intent: deny\n  examples: |\n"
        "    - no\n    - nope\n    - no thanks\n    - never\n    - not really\n    - no way\n"
    )
    model = train_intent_model(data, embedder)
    assert _rank(model, embedder, "yes sure")[0].name == "affirm"
    assert _rank(model, embedder, "absolutely yes")[0].confidence >= model.threshold
    assert _rank(model, embedder, "how do I bake sourdough bread")[0].confidence < model.threshold


def test_one_intent_is_not_enough_to_train(embedder: Embedder) -> None:
    data = load_training_data_from_str(
        'version: "3.1"\nnlu:\n- intent: a\n  examples: |\n    - hi\n'
    )
    with pytest.raises(ProjectError, match="at least two intents"):
        train_intent_model(data, embedder)


def test_a_damaged_artefact_is_reported_not_crashed(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text("{}")
    with pytest.raises(ModelNotTrainedError):
        load_intent_model(tmp_path)
