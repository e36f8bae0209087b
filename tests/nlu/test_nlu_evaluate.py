"""`botsvc eval intents`: the figures an ops team reads, on real test files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from botsvc.embedding import Embedder
from botsvc.errors import ProjectError
from botsvc.nlu.classifier import IntentModel, train_intent_model
from botsvc.nlu.entities import EntityExtractor
from botsvc.nlu.evaluate import IntentReport, evaluate_intents, format_report, report_as_dict
from botsvc.nlu.parser import NluParser
from botsvc.nlu.trainingdata import Example, TrainingData

DATA = Path(__file__).parent / "data"
HINT3 = DATA.parent.parent / "data" / "hint3"  # shipped with its licence


def _evaluate(parser: NluParser, embedder: Embedder, test_file: Path) -> IntentReport:
    return evaluate_intents(
        model=parser.model, parser=parser, embedder=embedder, test_file=test_file
    )


def test_csv_with_out_of_scope_rows(shop_parser: NluParser, embedder: Embedder) -> None:
    report = _evaluate(shop_parser, embedder, DATA / "shop_test.csv")
    assert (report.rows, report.in_scope_rows, report.oos_rows) == (19, 14, 5)
    assert report.accuracy >= 0.85
    assert report.in_scope_accuracy >= 0.85
    assert report.oos_recall is not None and report.oos_recall >= 0.6  # 3 of its 5 rows
    assert report.threshold == shop_parser.model.threshold
    assert {s.intent for s in report.per_intent} >= {"check_order_status", "nlu_fallback"}
    for stat in report.per_intent:
        assert 0.0 <= stat.precision <= 1.0 and 0.0 <= stat.recall <= 1.0


def test_the_trade_off_curve_moves_the_way_a_threshold_should(
    shop_parser: NluParser, embedder: Embedder
) -> None:
    report = _evaluate(shop_parser, embedder, DATA / "shop_test.csv")
    thresholds = [p.threshold for p in report.curve]
    assert thresholds == sorted(thresholds) and report.threshold in thresholds
    recalls = [p.oos_recall or 0.0 for p in report.curve]
    assert recalls == sorted(recalls)  # a higher threshold never catches fewer OOS rows
    assert report.curve[0].oos_recall == 0.0  # threshold 0: nothing falls back
    at_model = next(p for p in report.curve if p.threshold == report.threshold)
    assert at_model.oos_recall == report.oos_recall


def test_rasa_yaml_test_file(shop_parser: NluParser, embedder: Embedder) -> None:
    report = _evaluate(shop_parser, embedder, DATA / "shop_test.yml")
    assert report.rows == 4 and report.oos_rows == 0 and report.oos_recall is None
    assert report.accuracy == 1.0 and report.macro_f1 == 1.0 and report.confusions == ()


def test_text_and_json_output(shop_parser: NluParser, embedder: Embedder) -> None:
    report = _evaluate(shop_parser, embedder, DATA / "shop_test.csv")
    text = format_report(report)
    assert "OOS recall" in text and "macro-F1" in text and "<- model" in text
    as_json = json.loads(json.dumps(report_as_dict(report)))
    assert as_json["rows"] == 19 and len(as_json["curve"]) == len(report.curve)


def test_unknown_labels_are_listed(
    shop_parser: NluParser, embedder: Embedder, tmp_path: Path
) -> None:
    test_file = tmp_path / "t.csv"
    test_file.write_text("text,label\nhi there,greet\ncan I pay in bitcoin,ask_payment_methods\n")
    report = _evaluate(shop_parser, embedder, test_file)
    assert report.unknown_labels == ("ask_payment_methods",)


def test_a_csv_without_the_columns_is_a_project_error(
    shop_parser: NluParser, embedder: Embedder, tmp_path: Path
) -> None:
    test_file = tmp_path / "t.csv"
    test_file.write_text("sentence,intent\nhi,greet\n")
    with pytest.raises(ProjectError):
        _evaluate(shop_parser, embedder, test_file)


def test_hint3_sofmattress_is_level_with_the_published_bert_baseline(embedder: Embedder) -> None:
    """A real support bot (HINT3 SOFMattress v2): 328 training rows, 397 test rows of which 144
    are out of scope. The paper's BERT baseline (v1 data, threshold tuned on the test set)
    reached accuracy 0.690; we take the threshold chosen at training time, and train on typo'd
    copies too, which costs this bot about 0.02 and gains HINT3's other two (BENCHMARKS.md)."""
    hint3 = HINT3
    with (hint3 / "sofmattress_train.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    data = TrainingData(
        examples=tuple(
            Example(r["text"], r["label"], (), "sofmattress_train.csv", i + 2)
            for i, r in enumerate(rows)
        ),
        synonyms={},
        regexes={},
        lookups={},
    )
    model: IntentModel = train_intent_model(data, embedder)
    parser = NluParser(model=model, extractor=EntityExtractor.from_training_data(data))
    report = _evaluate(parser, embedder, hint3 / "sofmattress_test.csv")
    assert report.oos_rows == 144
    assert report.accuracy >= 0.675
    # the cut rejects few in-scope messages and still catches most out-of-scope ones
    assert report.in_scope_accuracy >= 0.62
    assert report.oos_recall is not None and report.oos_recall >= 0.7
