from __future__ import annotations

from pathlib import Path

from botsvc.kb.lexical import LexicalIndex, tokenize

DOCS = [
    "Refunds go back to your card within five business days.",
    "Express shipping arrives the next business day.",
    "Reset your password from the sign-in page.",
]


def test_word_forms_meet_at_one_stem() -> None:
    assert tokenize("Refunded refunds") == tokenize("refund refund")
    assert tokenize("shipping shipped ships") == ["ship", "ship", "ship"]
    assert tokenize("charges charged charge") == ["charg", "charg", "charg"]
    assert tokenize("What's 2FA?") == ["what", "2fa"]


def test_scores_are_absolute_so_unknown_words_pull_them_down(tmp_path: Path) -> None:
    index = LexicalIndex.build(DOCS)
    matched = index.scores("express shipping")
    assert matched.argmax() == 1 and 0.5 < matched[1] <= 1.0
    diluted = index.scores("express shipping to the moon and Mars")
    assert diluted[1] < matched[1]  # the same match explains less of this query
    assert index.scores("weather in Paris").max() < 0.25  # only "in" (sign-in) matches
    assert index.scores("weather Paris").max() == 0.0
    index.save(tmp_path / "lex")
    again = LexicalIndex.load(tmp_path / "lex")
    assert (again.scores("express shipping") == matched).all()
