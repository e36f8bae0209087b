"""Sentence boundaries: where a chunk may start or end, and how an answer is trimmed.

A chunk or an answer is always a run of whole sentences, so no customer ever reads half of one.
A line break always ends a sentence (list items, table rows and paragraphs are put on their own
lines by the readers in `markup.py`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Words whose trailing period does not end a sentence.
_ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "etc",
        "vs",
        "approx",
        "appx",
        "dept",
        "est",
        "inc",
        "ltd",
        "co",
        "corp",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "no",
        "nos",
        "tel",
        "fig",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
        "a.m",
        "p.m",
        "u.s",
        "u.k",
        "e.u",
        "min",
        "max",
        "incl",
        "excl",
        "ca",
        "cf",
    ]
)
# End of a sentence: . ! ? (or an ellipsis) and any closing quotes or brackets, then spaces,
# then something that can start a sentence.
_END = re.compile(
    r"""(?:[.!?]+|\u2026)["'\u2019\u201d)\]]*\s+(?=["'\u2018\u201c(\[]*[A-Z0-9\u00C0-\u024F])"""
)
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")
_LIST_MARKER = re.compile(r"^\s*\d{1,3}[.)]\s*$")


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, in order, each stripped; a line break always ends one."""
    out: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        start = 0
        for m in _END.finditer(line):
            if _is_abbreviation(line[: m.start() + 1]) or _LIST_MARKER.match(line[start : m.end()]):
                continue
            out.append(line[start : m.end()].strip())
            start = m.end()
        tail = line[start:].strip()
        if tail:
            out.append(tail)
    return out


def _is_abbreviation(upto_period: str) -> bool:
    if not upto_period.endswith("."):
        return False
    m = _WORD_BEFORE.search(upto_period)
    if m is None:
        return False
    word = m.group(1).lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


_LIST_ITEM = re.compile(r"^(?:[-*\u2022]|\d{1,3}[.)])\s")


def join_sentences(sentences: Sequence[str]) -> str:
    """Sentences back into text: list items on lines of their own, the rest as flowing prose."""
    parts: list[str] = []
    previous_item = False
    for i, sentence in enumerate(sentences):
        item = bool(_LIST_ITEM.match(sentence))
        if i:
            parts.append("\n" if item or previous_item else " ")
        parts.append(sentence)
        previous_item = item
    return "".join(parts)


def pack_sentences(
    sentences: Sequence[str], *, max_chars: int, overlap_chars: int
) -> list[list[str]]:
    """Groups sentences into runs of at most `max_chars`, each run starting with the last
    sentences of the one before (up to `overlap_chars`), so that a fact spanning the cut is
    whole in at least one run. A single sentence longer than `max_chars` is a run of its own:
    sentences are never cut."""
    runs: list[list[str]] = []
    current: list[str] = []
    size = 0
    fresh = 0  # sentences in `current` that no earlier run holds
    for sentence in sentences:
        extra = len(sentence) + (1 if current else 0)
        if current and size + extra > max_chars and fresh:
            runs.append(current)
            current = _tail(current, overlap_chars, room=max_chars - len(sentence) - 1)
            size = len(join_sentences(current))
            fresh = 0
            extra = len(sentence) + (1 if current else 0)
        current.append(sentence)
        size += extra
        fresh += 1
    if current and fresh:
        runs.append(current)
    return runs


def _tail(run: list[str], overlap_chars: int, *, room: int) -> list[str]:
    """The last sentences of `run` that fit in `overlap_chars` (and leave room for the next)."""
    limit = min(overlap_chars, room)
    kept: list[str] = []
    size = 0
    for sentence in reversed(run[1:]):
        if size + len(sentence) + 1 > limit:
            break
        kept.insert(0, sentence)
        size += len(sentence) + 1
    return kept


def trim_sentences(sentences: Sequence[str], *, max_chars: int, focus: int = 0) -> list[str]:
    """A readable excerpt: whole sentences from index `focus` on (earlier ones are added back
    when later ones run out), at most `max_chars` long unless one sentence alone is longer."""
    if not sentences:
        return []
    focus = max(0, min(focus, len(sentences) - 1))
    lo, hi = focus, focus + 1
    size = len(sentences[focus])
    while hi < len(sentences) and size + 1 + len(sentences[hi]) <= max_chars:
        size += 1 + len(sentences[hi])
        hi += 1
    while lo > 0 and size + 1 + len(sentences[lo - 1]) <= max_chars:
        lo -= 1
        size += 1 + len(sentences[lo])
    return list(sentences[lo:hi])
