from __future__ import annotations

from botsvc.kb.sentences import join_sentences, pack_sentences, split_sentences, trim_sentences


def test_abbreviations_times_and_decimals_do_not_end_sentences() -> None:
    text = "Orders before 2 p.m. ship today, e.g. books. Version 2.5 is out! Is it free? Yes."
    assert split_sentences(text) == [
        "Orders before 2 p.m. ship today, e.g. books.",
        "Version 2.5 is out!",
        "Is it free?",
        "Yes.",
    ]


def test_numbered_and_bulleted_items_stay_whole_and_on_their_own_lines() -> None:
    sentences = split_sentences("1. Open Your orders.\n2. Click Return.\n- Print the label.")
    assert sentences == ["1. Open Your orders.", "2. Click Return.", "- Print the label."]
    assert join_sentences(sentences) == "1. Open Your orders.\n2. Click Return.\n- Print the label."


def test_runs_overlap_by_whole_sentences_and_cover_everything() -> None:
    sentences = [f"Sentence number {i} is here." for i in range(20)]  # 26-27 chars each
    runs = pack_sentences(sentences, max_chars=120, overlap_chars=60)
    assert len(runs) > 3
    assert all(len(join_sentences(r)) <= 120 for r in runs)
    for before, after in zip(runs, runs[1:], strict=False):
        assert after[0] in before  # the next run starts inside the previous one
    assert {s for r in runs for s in r} == set(sentences)


def test_a_sentence_longer_than_a_run_is_kept_whole() -> None:
    long = "word " * 100 + "end."
    runs = pack_sentences(["Short one.", long.strip(), "Another."], max_chars=50, overlap_chars=20)
    assert [long.strip()] in runs or any(long.strip() in r for r in runs)
    assert all(s.endswith(".") for r in runs for s in r)


def test_trim_keeps_whole_sentences_around_the_focus() -> None:
    sentences = ["A" * 40 + ".", "B" * 40 + ".", "C" * 40 + ".", "D" * 40 + "."]
    assert trim_sentences(sentences, max_chars=90, focus=2) == sentences[2:4]
    assert trim_sentences(sentences, max_chars=90, focus=3) == sentences[2:4]
    assert trim_sentences(sentences, max_chars=10, focus=0) == sentences[:1]
