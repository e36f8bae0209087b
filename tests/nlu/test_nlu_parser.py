"""The NLU stage as the pipeline and POST /v1/nlu/parse see it."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from botsvc.domain import FALLBACK_INTENT, IntentScore, NluResult
from botsvc.embedding import Embedder
from botsvc.errors import ConfigError
from botsvc.nlu.classifier import IntentModel
from botsvc.nlu.entities import EntityExtractor
from botsvc.nlu.parser import NluParser, parse_response
from botsvc.nlu.sentiment import sentiment


def _parse(parser: NluParser, embedder: Embedder, text: str) -> NluResult:
    return parser.parse(text, embedder.encode([text])[0])


def test_a_clear_message_gets_intent_entities_and_sentiment(
    shop_parser: NluParser, embedder: Embedder
) -> None:
    result = _parse(
        shop_parser, embedder, "where is my order NW-123456? it's really late and I'm annoyed"
    )
    assert result.intent.name == "check_order_status"
    assert result.entity_values("order_id") == ["NW-123456"]
    assert result.sentiment < 0
    assert not result.ambiguous


def test_out_of_scope_is_nlu_fallback_with_the_real_candidates_ranked(
    shop_parser: NluParser, embedder: Embedder
) -> None:
    result = _parse(shop_parser, embedder, "recommend me a good pizza recipe")
    assert result.intent == IntentScore(FALLBACK_INTENT, shop_parser.model.threshold)
    assert len(result.ranking) == 10
    assert FALLBACK_INTENT not in {s.name for s in result.ranking}
    assert result.ranking[0].confidence < shop_parser.model.threshold


def test_button_payloads_bypass_the_classifier(shop_parser: NluParser) -> None:
    unused = shop_parser.model.train_vectors[0].astype("float32") * 0
    result = shop_parser.parse(
        '/inform{"order_id": "NW-123456", "city": ["Paris", "Berlin"]}', unused
    )
    assert result.intent == IntentScore("inform", 1.0)
    assert result.ranking == (IntentScore("inform", 1.0),)
    assert [(e.entity, e.value) for e in result.entities] == [
        ("order_id", "NW-123456"),
        ("city", "Paris"),
        ("city", "Berlin"),
    ]
    assert shop_parser.parse("/affirm", unused).intent == IntentScore("affirm", 1.0)
    assert shop_parser.parse("/deny@0.7", unused).intent == IntentScore("deny", 0.7)


def test_close_top_two_intents_are_flagged_ambiguous(
    shop_model: IntentModel, shop_extractor: EntityExtractor, embedder: Embedder
) -> None:
    text = "refund or change the address, not sure which"
    strict = NluParser(model=shop_model, extractor=shop_extractor, ambiguity_margin=1.0)
    result = _parse(strict, embedder, text)
    first, second = result.ranking[0].confidence, result.ranking[1].confidence
    assert result.ambiguous == (first + second >= shop_model.threshold)
    never = NluParser(model=shop_model, extractor=shop_extractor, ambiguity_margin=0.0)
    assert not _parse(never, embedder, text).ambiguous


def test_margin_outside_zero_to_one_is_refused(
    shop_model: IntentModel, shop_extractor: EntityExtractor
) -> None:
    with pytest.raises(ConfigError):
        NluParser(model=shop_model, extractor=shop_extractor, ambiguity_margin=1.5)


def test_parse_response_has_rasas_model_parse_shape(
    shop_parser: NluParser, embedder: Embedder
) -> None:
    body = parse_response(
        _parse(shop_parser, embedder, "ship it to Berlin instead, my email is a@b.io")
    )
    assert set(body) == {"text", "intent", "intent_ranking", "entities"}
    assert set(body["intent"]) == {"name", "confidence"}
    assert len(body["intent_ranking"]) == 10
    for entity in body["entities"]:
        assert {"entity", "value", "start", "end", "extractor", "confidence"} <= set(entity)
        assert body["text"][entity["start"] : entity["end"]]
    assert {"city", "email"} <= {e["entity"] for e in body["entities"]}
    json.dumps(body)  # serialisable as is


def test_role_and_group_appear_only_when_set(shop_parser: NluParser, embedder: Embedder) -> None:
    body = parse_response(_parse(shop_parser, embedder, "send the parcel to Hamburg not Munich"))
    cities = [e for e in body["entities"] if e["entity"] == "city"]
    assert [c["value"] for c in cities] == ["Hamburg", "Munich"]
    plain = parse_response(_parse(shop_parser, embedder, "my email is a@b.io"))
    assert all("role" not in e and "group" not in e for e in plain["entities"])


def test_sentiment_reads_upset_and_happy_customers() -> None:
    assert sentiment("this is the worst service ever, I am furious") < -0.6
    assert sentiment("thanks, that was great!") > 0.5
    assert sentiment("where is my order") == 0.0
    assert sentiment("") == 0.0


def test_concurrent_parses_give_the_same_answers(
    shop_parser: NluParser, embedder: Embedder
) -> None:
    texts = [
        "where is order NW-123456",
        "ship it to Berlin instead",
        "refund $20 for the kettle",
        "my email is x@y.io, I forgot my password",
        "send the parcel to Hamburg not Munich",
    ] * 8
    vectors = embedder.encode(texts)
    sequential = [shop_parser.parse(t, v) for t, v in zip(texts, vectors, strict=True)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(shop_parser.parse, texts, vectors))
    assert concurrent == sequential


def test_a_payload_with_broken_json_keeps_its_intent(shop_parser: NluParser) -> None:
    unused = shop_parser.model.train_vectors[0].astype("float32") * 0
    result = shop_parser.parse('/inform{"order_id": NW-1}', unused)
    assert result.intent == IntentScore("inform", 1.0) and result.entities == ()
