"""Typo'd copies of training examples, so that "wheres my pakage" ranks and scores like the
example it misspells.

Customers type fast on phones: letters dropped, doubled, swapped or hit beside the right key,
apostrophes left out. A sentence encoder and the character n-grams both move such a message away
from the clean examples, which costs little in ranking but much in confidence, and the
out-of-scope decision reads confidence. Training on a few misspelt copies per intent closes most
of that gap. Each copy is a pure function of its text (the seed is the text's hash), so training
stays reproducible.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Sequence

COPIES_PER_INTENT = 20  # bounds the extra encoding: at most this many copies per intent
WORD_TYPO_RATE = 0.35  # share of the longer words that get one typo
_NEIGHBOURS = {
    "a": "qsz", "b": "vgn", "c": "xdv", "d": "sfe", "e": "wrd", "f": "dgr", "g": "fht",
    "h": "gjy", "i": "uok", "j": "hku", "k": "jli", "l": "ko", "m": "nk", "n": "bmj",
    "o": "ipl", "p": "ol", "q": "wa", "r": "etf", "s": "adw", "t": "ryg", "u": "yij",
    "v": "cbf", "w": "qes", "x": "zcs", "y": "tuh", "z": "xas",
}  # fmt: skip


def misspell(text: str, rng: random.Random) -> str:
    """``text`` with apostrophes dropped and one typo in about a third of its longer words."""
    words = text.replace("'", "").replace("\u2019", "").split(" ")
    return " ".join(_typo(w, rng) if _typo_candidate(w, rng) else w for w in words)


def _typo_candidate(word: str, rng: random.Random) -> bool:
    return len(word) >= 4 and word.isalpha() and rng.random() < WORD_TYPO_RATE


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:  # a letter dropped
        return word[:i] + word[i + 1 :]
    if kind == 1:  # a letter doubled
        return word[:i] + word[i] + word[i:]
    if kind == 2:  # two letters swapped
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    near = _NEIGHBOURS.get(word[i].lower(), word[i])  # the key beside it
    return word[:i] + rng.choice(near) + word[i + 1 :]


def typo_copies(
    texts: Sequence[str], labels: Sequence[int], *, per_intent: int = COPIES_PER_INTENT
) -> tuple[list[str], list[int]]:
    """Misspelt copies of up to ``per_intent`` examples of each intent, with their source row.

    Copies identical to their source (short messages with no long word) or to another example
    are left out. Returns (copies, index of each copy's source in ``texts``).
    """
    seen = set(texts)
    by_intent: dict[int, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        by_intent[label].append(row)
    copies: list[str] = []
    sources: list[int] = []
    for rows in by_intent.values():
        # the longest examples first: they have the most words a typo can land in
        chosen = sorted(rows, key=lambda r: (-len(texts[r]), texts[r]))[:per_intent]
        for row in chosen:
            seed = int.from_bytes(hashlib.sha256(texts[row].encode("utf-8")).digest()[:8], "big")
            copy = misspell(texts[row], random.Random(seed))
            if copy not in seen:
                seen.add(copy)
                copies.append(copy)
                sources.append(row)
    return copies, sources
