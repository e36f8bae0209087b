"""Ranking by section titles and FAQ phrasings, and the fusion each build learns for itself."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from botsvc.embedding import Embedder
from botsvc.errors import ConfigError
from botsvc.kb.calibration import (
    DEFAULT_WEIGHTS,
    TextVectors,
    calibrate,
    dev_queries,
    learn_fusion,
)
from botsvc.kb.index import build_index, index_is_current
from botsvc.kb.ingest import load_chunks
from botsvc.kb.lexical import LexicalIndex
from botsvc.kb.retrieval import FusionWeights, KnowledgeBase

# A copy of the example bot's article (kb/account/reset-password.md, lines wrapped): the case
# that titles must get right.
PASSWORD = """---
title: How to reset your password
url: https://help.example.test/articles/reset-password
tags: [account, password, reset password, forgot password, sign in]
---
# How to reset your password

## If you've forgotten your password
1. Go to the sign-in page at northwind.example or cloud.northwind.example, or open the Northwind
   Cloud app.
2. Click "Forgot password?" under the password field.
3. Enter the email address of your Northwind account and click Send reset link.
4. Open the email "Reset your Northwind password" from no-reply@northwind.example and click
   Reset password.
5. Choose a new password of at least 10 characters and click Save.
The same password works for the shop and for Northwind Cloud, because they share one Northwind
account.

## The reset link
The link expires after 1 hour and can be used only once. If you request several links, only the
newest one works. You can request up to 5 links per hour. If the link has expired, simply
request a new one from the sign-in page.

## Didn't get the email?
Wait up to 10 minutes, then check your spam, junk and promotions folders. Make sure you entered
the address you signed up with; for security we don't say whether an address has an account, so
a typo means no email arrives. Adding no-reply@northwind.example to your contacts helps. If you
no longer have access to that email address, contact our support team, who will verify your
identity before changing it.

## Changing your password when you're signed in
If you know your current password and want a new one, go to Settings → Account → Security →
Change password. Enter your current password, then the new one twice. After any password change,
you're signed out on all other devices and need to sign in again in the desktop and mobile apps.
If you use two-factor authentication, you'll still be asked for a code after resetting your
password.
"""

ARTICLES = {
    "shipping.md": """# Shipping and delivery

## Delivery times in Europe
Standard delivery takes two to four business days within the EU and is free over 50 euros.

## Express delivery options
Express delivery arrives the next business day when you order before 2 p.m. and costs 9.95.

## Lost or late parcels
If your tracking has not changed for five business days, contact us and we open an
investigation with the carrier, then send a replacement or a refund.
""",
    "returns.md": """# Returns and refunds

## How to start a return
Register the return in your account under Orders, print the label and drop the parcel off at
any post office within 30 days of delivery.

## When refunds arrive
Card refunds arrive within five business days after the return reaches our warehouse; PayPal
refunds within 24 hours.

## Items we cannot take back
Opened software, gift cards and personalised products cannot be returned unless faulty.
""",
    "billing.md": """# Billing and invoices

## Downloading an invoice
Every order has a PDF invoice under Account, Orders, Download invoice, with VAT shown.

## Payment methods we accept
We accept Visa, Mastercard, American Express, PayPal, Apple Pay and Klarna.

## A failed card payment
A payment fails when the card has expired, the bank declines it or 3-D Secure was not
completed. Try again or use another card.
""",
}

FAQ = [  # id, question, alternative questions, answer, title
    (
        "cancel-sub",
        "How do I cancel my subscription?",
        ["How can I cancel my plan?", "Stop my subscription"],
        "Open Settings, Billing and click Cancel plan; you keep access until the period ends.",
        "Cancel your subscription",
    ),
    (
        "delete-acct",
        "How do I delete my account?",
        ["Can I close my account?", "Delete my account and data"],
        "Go to Settings, Account, Delete account and confirm with your password.",
        "Delete your account",
    ),
    (
        "two-factor",
        "How do I turn on two-factor authentication?",
        ["How do I enable 2FA?", "Set up two-step verification"],
        "Go to Settings, Security, Two-factor authentication and scan the QR code with an app.",
        "Two-factor authentication",
    ),
    (
        "gift-cards",
        "Do gift cards expire?",
        ["How long is a gift card valid?", "Is there an expiry date on gift cards?"],
        "Gift cards are valid for three years from the date of purchase.",
        "Gift card validity",
    ),
    (
        "warranty",
        "What is the warranty on your products?",
        ["How long is the guarantee on products?", "Is my product still under warranty?"],
        "All products have a two-year warranty against manufacturing faults.",
        "Warranty",
    ),
    (
        "support-hours",
        "When is your support team available?",
        ["What are your support opening hours?", "Can I reach support at the weekend?"],
        "Our team answers Monday to Friday from 8:00 to 20:00 CET by chat and email.",
        "Support hours",
    ),
]


# Other wordings that share almost no word with the question: BM25 can only get them wrong.
PARAPHRASES = {
    "cancel-sub": ["I want to stop my plan", "End my membership"],
    "delete-acct": ["Please remove all my data", "Close my profile for good"],
    "two-factor": ["Can I add a second login step", "Enable 2FA on my login"],
    "gift-cards": ["How long is a voucher valid", "Is there an end date on vouchers"],
    "warranty": ["How long is the guarantee", "Is my headphone still covered"],
    "support-hours": ["What are your opening hours", "Can I call you at the weekend"],
}


def _write_kb(folder: Path, *, paraphrases: bool = False) -> Path:
    kb = folder / "kb"
    (kb / "account").mkdir(parents=True)
    (kb / "account" / "password.md").write_text(PASSWORD)
    for name, text in ARTICLES.items():
        (kb / name).write_text(text)
    with open(kb / "faq.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "question", "alt_questions", "answer", "title"])
        for row_id, question, alts, answer, title in FAQ:
            alts = PARAPHRASES[row_id] if paraphrases else alts
            writer.writerow([row_id, question, "|".join(alts), answer, title])
    return kb


@pytest.fixture(scope="module")
def ranked_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """The inline KB above, built once for this module. Tests must not change it."""
    root = tmp_path_factory.mktemp("ranking")
    build_index(_write_kb(root), root / "kb_index", embedder, progress=False, min_dev_queries=10)
    return root / "kb_index"


@pytest.fixture(scope="module")
def ranked_kb(ranked_index: Path, embedder: Embedder) -> KnowledgeBase:
    return KnowledgeBase.load(ranked_index, model_id=embedder.model_id)


def _manifest(index_dir: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((index_dir / "manifest.json").read_text())


def _top(kb: KnowledgeBase, embedder: Embedder, query: str) -> str:
    return kb.search(query, embedder.encode([query])[0], top_k=1)[0].id


def test_reset_and_change_password_questions_find_their_own_sections_by_title(
    ranked_kb: KnowledgeBase, embedder: Embedder
) -> None:
    section = "account/password.md#"
    assert _top(ranked_kb, embedder, "how do I reset my password?") == (
        section + "if-you-ve-forgotten-your-password"
    )
    assert _top(ranked_kb, embedder, "I forgot my password") == (
        section + "if-you-ve-forgotten-your-password"
    )
    assert _top(ranked_kb, embedder, "how do I change my password?") == (
        section + "changing-your-password-when-you-re-signed-in"
    )
    # without the title scores, the section whose text says "password" most wins
    untitled = ranked_kb.with_options(
        weights=FusionWeights(dense=ranked_kb.weights.dense), threshold=0.0
    )
    assert _top(untitled, embedder, "how do I reset my password?") == (
        section + "changing-your-password-when-you-re-signed-in"
    )


def test_an_faq_is_found_by_a_phrasing_close_to_one_of_its_questions(
    ranked_kb: KnowledgeBase, embedder: Embedder
) -> None:
    assert _top(ranked_kb, embedder, "I'd like to stop my plan") == "cancel-sub"
    assert _top(ranked_kb, embedder, "how long is a gift voucher good for") == "gift-cards"


def test_the_learnt_fusion_is_in_the_manifest_and_served(
    ranked_index: Path, ranked_kb: KnowledgeBase, embedder: Embedder
) -> None:
    retrieval = _manifest(ranked_index)["retrieval"]
    learnt = retrieval["learnt"]
    assert learnt["source"] == "learnt"
    assert learnt["faq_queries"] == 18 and learnt["heading_queries"] >= 8
    assert ranked_kb.weights == FusionWeights.from_manifest(retrieval)
    assert ranked_kb.weights.dense == retrieval["dense_weight"]
    # learning again on the loaded index gives what the build stored
    again = learn_fusion(ranked_kb, TextVectors(embedder), min_queries=10)
    assert again.weights == ranked_kb.weights
    assert again.as_dict() == learnt


def test_weights_learnt_from_paraphrased_faqs_are_stored_and_served(
    tmp_path: Path, embedder: Embedder
) -> None:
    kb_dir = _write_kb(tmp_path, paraphrases=True)
    report = build_index(kb_dir, tmp_path / "idx", embedder, progress=False, min_dev_queries=10)
    retrieval = _manifest(tmp_path / "idx")["retrieval"]
    assert retrieval["learnt"]["source"] == "learnt" and report.weights != DEFAULT_WEIGHTS
    # a phrasing is nearer to the other phrasings alone than to them with the answer
    assert report.weights.faq_title > 0
    assert retrieval["faq_title_weight"] == report.weights.faq_title
    kb = KnowledgeBase.load(tmp_path / "idx", model_id=embedder.model_id)
    assert kb.weights == report.weights
    query = "how do I stop my plan"
    vector = embedder.encode([query])[0]
    [hit] = kb.search(query, vector, top_k=1)
    parts = kb.score_parts(query, vector)
    at = list(parts.chunks).index(next(i for i, c in enumerate(kb.chunks) if c.id == hit.id))
    assert hit.score == round(float(parts.fused(report.weights)[at]), 4)


def test_the_answer_threshold_is_calibrated_on_the_learnt_score(
    ranked_index: Path, ranked_kb: KnowledgeBase, embedder: Embedder
) -> None:
    stored = _manifest(ranked_index)["answer"]
    assert calibrate(ranked_kb, TextVectors(embedder)).as_dict() == stored
    assert ranked_kb.threshold == stored["threshold"]


def test_the_hybrid_is_at_least_each_leg_on_the_index_own_dev_queries(
    ranked_index: Path,
) -> None:
    """Give or take one query's worth (P@1) or half of one (MRR): below that is noise."""
    learnt = _manifest(ranked_index)["retrieval"]["learnt"]
    hybrid, dense, lexical = learnt["hybrid"], learnt["dense"], learnt["lexical"]
    noise = {"p_at_1": 1.0 / learnt["queries"], "mrr": 0.5 / learnt["queries"]}
    for metric in ("p_at_1", "mrr"):
        assert hybrid[metric] >= dense[metric] - noise[metric] - 1e-4, metric
        assert hybrid[metric] >= lexical[metric] - noise[metric] - 1e-4, metric
        assert hybrid[metric] >= learnt["default"][metric] - 0.5 / learnt["queries"], metric


def test_too_few_dev_queries_keep_the_default_weights(
    ranked_kb: KnowledgeBase, embedder: Embedder
) -> None:
    choice = learn_fusion(ranked_kb, TextVectors(embedder), min_queries=1000)
    assert choice.source == "default" and choice.hybrid is None
    assert choice.weights == DEFAULT_WEIGHTS


def test_dev_queries_are_alternative_phrasings_and_unambiguous_headings(tmp_path: Path) -> None:
    kb = _write_kb(tmp_path)
    (kb / "other.md").write_text("# Other\n\n## Express delivery options\nSee shipping.\n")
    chunks = load_chunks(kb)
    queries = {q.text: q for q in dev_queries(chunks)}
    cancel = queries["Stop my subscription"]
    assert cancel.kind == "faq" and [chunks[i].id for i in cancel.relevant] == ["cancel-sub"]
    assert "How do I cancel my subscription?" in queries  # the main question too
    reset = queries["If you've forgotten your password"]
    assert reset.kind == "heading"
    assert [chunks[i].section for i in reset.relevant] == ["If you've forgotten your password"]
    assert "Express delivery options" not in queries  # two sections use it: it names neither


def test_a_passage_answer_links_its_article(ranked_kb: KnowledgeBase, embedder: Embedder) -> None:
    query = "the reset link has expired"
    answer = ranked_kb.answer(query, embedder.encode([query])[0])
    assert answer is not None
    [source] = answer.sources
    assert source.id == "account/password.md#the-reset-link"
    assert source.url == "https://help.example.test/articles/reset-password"
    assert (source.title, source.section) == ("How to reset your password", "The reset link")


def test_an_index_built_before_title_scores_is_served_with_its_own_formula(
    ranked_index: Path, tmp_path: Path, embedder: Embedder
) -> None:
    old = tmp_path / "kb_index"
    shutil.copytree(ranked_index, old)
    for name in ("titles.npy", "titles.json"):
        (old / name).unlink()
    shutil.rmtree(old / "lexical_titles")
    manifest = _manifest(old)
    manifest["pipeline"] = "an older pipeline"
    manifest["retrieval"] = {"fusion": "weighted", "dense_weight": 0.7}
    (old / "manifest.json").write_text(json.dumps(manifest))
    kb = KnowledgeBase.load(old, model_id=embedder.model_id)
    assert kb.weights == FusionWeights(dense=0.7) and kb.titles is None
    query = "when do card refunds arrive"
    vector = embedder.encode([query])[0]
    [hit] = kb.search(query, vector, top_k=1)
    parts = kb.score_parts(query, vector)
    first = list(parts.chunks).index(next(i for i, c in enumerate(kb.chunks) if c.id == hit.id))
    assert hit.score == round(0.7 * parts.body[first] + 0.3 * parts.lexical[first], 4)
    assert not index_is_current(ranked_index.parent / "kb", old, embedder.model_id)


def test_title_weights_without_title_files_refuse_to_load(
    ranked_index: Path, tmp_path: Path, embedder: Embedder
) -> None:
    broken = tmp_path / "kb_index"
    shutil.copytree(ranked_index, broken)
    (broken / "titles.json").unlink()
    with pytest.raises(ConfigError, match="botsvc kb build"):
        KnowledgeBase.load(broken, model_id=embedder.model_id)


def test_a_text_outside_the_index_scores_as_it_would_inside() -> None:
    docs = [
        "Reset your password from the sign-in page.",
        "password password reset link",
        "Express shipping arrives the next business day.",
    ]
    index = LexicalIndex.build(docs)
    for query in ("reset password", "password link day", "express shipping"):
        inside = index.scores(query)
        outside = [index.document_score(query, d) for d in docs]
        assert outside == pytest.approx(inside.tolist(), abs=1e-6)
