from __future__ import annotations

import json
from pathlib import Path

import pytest

from botsvc.embedding import Embedder
from botsvc.errors import ProjectError
from botsvc.kb.evaluate import evaluate_kb, format_kb_report, kb_report_as_dict
from botsvc.kb.retrieval import KnowledgeBase

from .conftest import SHOP_QUERIES


def test_report_shows_each_leg_side_by_side(shop_kb: KnowledgeBase, embedder: Embedder) -> None:
    report = evaluate_kb(shop_kb, embedder, SHOP_QUERIES)
    assert report.queries == 30
    assert [leg.mode for leg in report.legs] == ["dense", "lexical", "hybrid"]
    text = format_kb_report(report)
    assert "P@1" in text and "MRR" in text and "nDCG@10" in text
    assert text.splitlines()[4].startswith("hybrid")
    data = json.loads(json.dumps(kb_report_as_dict(report)))
    assert data["legs"][2]["mode"] == "hybrid" and 0 < data["legs"][2]["mrr"] <= 1
    assert 0 < report.answered <= 1


def test_a_perfect_ranking_scores_one(
    shop_kb: KnowledgeBase, embedder: Embedder, tmp_path: Path
) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps(
            {"query": "Which payment methods do you accept?", "relevant_ids": ["payment-methods"]}
        )
        + "\n"
    )
    hybrid = evaluate_kb(shop_kb, embedder, queries).legs[2]
    assert (hybrid.p_at_1, hybrid.recall_at_5, hybrid.mrr, hybrid.ndcg_at_10) == (1, 1, 1, 1)


def test_a_bad_queries_file_names_the_line(
    shop_kb: KnowledgeBase, embedder: Embedder, tmp_path: Path
) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"query": "ok", "relevant_ids": ["x"]}\n{"query": "no ids"}\n')
    with pytest.raises(ProjectError) as err:
        evaluate_kb(shop_kb, embedder, queries)
    assert [p.line for p in err.value.problems] == [2]
