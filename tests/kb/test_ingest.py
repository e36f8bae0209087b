from __future__ import annotations

from pathlib import Path

import pytest

from botsvc.errors import ConfigError, ProjectError
from botsvc.kb.ingest import MAX_CHUNK_CHARS, Chunk, load_chunks

from .conftest import SHOP


@pytest.fixture(scope="module")
def shop_chunks() -> dict[str, Chunk]:
    return {c.id: c for c in load_chunks(SHOP)}


def test_markdown_is_split_by_headings_with_title_section_and_front_matter(
    shop_chunks: dict[str, Chunk],
) -> None:
    start = shop_chunks["returns.md#starting-a-return"]
    assert start.title == "Returns and refunds"
    assert start.section == "Starting a return"
    assert start.url == "https://help.example-shop.com/articles/returns"
    assert start.tags == ("returns", "refunds")
    assert start.kind == "passage" and start.question is None
    assert start.text.startswith("1. Sign in and open Your orders.\n2. Choose the order")
    assert "**" not in start.text and "*Return" not in start.text  # markdown emphasis removed
    assert shop_chunks["returns.md#top"].text.startswith("You can return most items")


def test_nested_headings_make_a_section_path(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text(
        "# Guide\n\nIntro.\n\n## Billing\n\n### Invoices\n\nDownload them.\n\n## Other\n\nMore.\n"
    )
    sections = {c.section: c for c in load_chunks(tmp_path)}
    assert set(sections) == {"", "Billing > Invoices", "Other"}
    assert sections["Billing > Invoices"].id == "guide.md#invoices"
    assert sections["Billing > Invoices"].url is None


def test_long_sections_are_chunked_at_sentence_boundaries_with_overlap(
    shop_chunks: dict[str, Chunk],
) -> None:
    first, second = shop_chunks["returns.md#refunds"], shop_chunks["returns.md#refunds~2"]
    assert len(first.text) <= MAX_CHUNK_CHARS
    assert first.text.endswith(".") and second.text.endswith(".")
    assert second.text[0].isupper()
    last_sentence_of_first = first.text.rsplit(". ", 1)[-1]
    assert second.text.startswith(last_sentence_of_first)  # overlap by a whole sentence
    assert first.section == second.section == "Refunds"


def test_html_keeps_the_article_and_drops_navigation_and_footers(
    shop_chunks: dict[str, Chunk],
) -> None:
    html = [c for c in shop_chunks.values() if c.source == "shipping.html"]
    assert {c.section for c in html} == {
        "",
        "Delivery times",
        "Tracking your parcel",
        "Lost or late parcels",
    }
    assert all(c.title == "Shipping and delivery" for c in html)
    assert all(c.url == "https://help.example-shop.com/articles/shipping" for c in html)
    text = "\n".join(c.text for c in html)
    for boilerplate in (
        "cookies",
        "Help Centre",
        "Privacy",
        "Was this article helpful",
        "Popular articles",
        "dataLayer",
    ):
        assert boilerplate not in text
    times = shop_chunks["shipping.html#delivery-times"].text
    assert times.splitlines()[1] == "- Express delivery: next business day, €9.95."


def test_text_files_take_title_from_a_lone_first_line_and_url_from_a_sidecar(
    shop_chunks: dict[str, Chunk],
) -> None:
    sync = shop_chunks["sync.txt#top"]
    assert sync.title == "Sync problems"
    assert sync.url == "https://help.example-shop.com/articles/sync"
    assert sync.tags == ("sync", "app")
    assert sync.text.startswith("If your data does not sync between devices")
    assert "\n" not in sync.text  # wrapped paragraphs become prose


def test_csv_faq_rows_keep_their_ids_alt_questions_and_fields(
    shop_chunks: dict[str, Chunk],
) -> None:
    row = shop_chunks["reset-password"]
    assert row.kind == "faq"
    assert row.question == "How do I reset my password?"
    assert row.alt_questions == ("I forgot my password", "I can't log in to my account")
    assert row.text.startswith('Click "Forgot password" on the sign-in page')
    assert row.title == "Reset your password"
    assert row.url == "https://help.example-shop.com/articles/password"
    assert row.tags == ("account", "password")
    assert row.line == 2


def test_jsonl_faq_rows_keep_their_ids(shop_chunks: dict[str, Chunk]) -> None:
    row = shop_chunks["cancel-subscription"]
    assert row.source == "billing.jsonl" and row.line == 4
    assert row.alt_questions == ("How do I stop my plan from renewing?",)
    assert row.tags == ("billing", "subscription")


def test_rows_without_an_id_get_one_from_their_question(tmp_path: Path) -> None:
    (tmp_path / "faq.csv").write_text("question,answer\nDo you ship abroad?,Yes.\n")
    [chunk] = load_chunks(tmp_path)
    assert chunk.id == "faq.csv#do-you-ship-abroad"
    assert chunk.title == "Do you ship abroad?"


def test_identical_chunks_are_kept_once(tmp_path: Path) -> None:
    notice = "Prices include VAT. Shipping is calculated at checkout.\n"
    (tmp_path / "a.txt").write_text(notice)
    (tmp_path / "b.txt").write_text(notice)
    (tmp_path / "faq.jsonl").write_text(
        '{"question": "Q?", "answer": "A."}\n{"question": "Q?", "answer": "A."}\n'
    )
    chunks = load_chunks(tmp_path)
    assert [c.id for c in chunks] == ["a.txt#top", "faq.jsonl#q"]


def test_bad_faq_files_report_every_problem_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "faq.jsonl").write_text(
        '{"question": "Fine?", "answer": "Yes."}\n'
        '{"question": "Broken?", "answer": \n'
        "\n"
        '{"question": "No answer?", "text": "here"}\n'
        '["not", "an", "object"]\n'
    )
    (tmp_path / "faq.csv").write_text("id,question\n1,Where?\n")
    with pytest.raises(ProjectError) as err:
        load_chunks(tmp_path)
    where = {(p.file, p.line) for p in err.value.problems}
    assert where == {("faq.jsonl", 2), ("faq.jsonl", 4), ("faq.jsonl", 5), ("faq.csv", 1)}
    assert "rename it to `answer`" in str(err.value)


def test_duplicate_row_ids_and_bad_front_matter_are_problems(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,question,answer\nx1,One?,Yes.\n")
    (tmp_path / "b.jsonl").write_text('{"id": "x1", "question": "Two?", "answer": "No."}\n')
    (tmp_path / "c.md").write_text("---\ntitle: [unclosed\n---\n# Hi\n\nText.\n")
    (tmp_path / "d.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(ProjectError) as err:
        load_chunks(tmp_path)
    where = {(p.file, p.line) for p in err.value.problems}
    assert ("b.jsonl", 1) in where
    assert any(f == "c.md" and line in (2, 3) for f, line in where)
    assert ("d.txt", 1) in where


def test_a_folder_without_articles_or_a_missing_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_chunks(tmp_path / "nope")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    (tmp_path / "README.md").write_text("# How to edit this folder\n\nKeep articles short.\n")
    (tmp_path / "_drafts").mkdir()
    (tmp_path / "_drafts" / "new.md").write_text("# Not yet\n\nUnpublished.\n")
    with pytest.raises(ProjectError, match="no knowledge-base content"):
        load_chunks(tmp_path)
