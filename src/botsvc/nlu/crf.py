"""The learned entity extractor: a linear-chain CRF (sklearn-crfsuite) trained on the entity
annotations in the examples, with BILOU tags, as Rasa's ``CRFEntityExtractor`` does.

It finds entities that no regex or lookup table covers ("ship it to [my office](address)").
Token features are the word, its shape and affixes, its neighbours, and whether a regex or
lookup table of the training data covers it. Training takes well under a second for a few
hundred examples, so it is retrained when the extractor is built.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import sklearn_crfsuite

from botsvc.domain import Entity

EXTRACTOR = "crf"
_TOKEN = re.compile(r"[\w@+]+(?:[-'./@][\w@+]+)*|[^\w\s]")
_SEP = "|"
Token = tuple[str, int, int]
Features = dict[str, str | bool | float]
PatternTagger = Callable[[str, list[Token]], list[set[str]]]


def tokenize(text: str) -> list[Token]:
    return [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]


@dataclass
class CrfExtractor:
    crf: sklearn_crfsuite.CRF
    patterns: PatternTagger
    # crfsuite's tagger keeps the sequence between `set` and `marginal` calls: one at a time.
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def train(
        cls, samples: list[tuple[str, tuple[Entity, ...]]], patterns: PatternTagger
    ) -> CrfExtractor | None:
        """Trains on (text, annotated entities); ``None`` when nothing is annotated."""
        if not any(entities for _, entities in samples):
            return None
        xs, ys = [], []
        for text, entities in samples:
            tokens = tokenize(text)
            if tokens:
                xs.append(_features(tokens, patterns(text, tokens)))
                ys.append(_bilou(tokens, entities))
        crf = sklearn_crfsuite.CRF(
            algorithm="lbfgs", c1=0.05, c2=0.05, max_iterations=100, all_possible_transitions=True
        )
        crf.fit(xs, ys)
        return cls(crf=crf, patterns=patterns)

    def extract(self, text: str) -> list[Entity]:
        tokens = tokenize(text)
        if not tokens:
            return []
        features = _features(tokens, self.patterns(text, tokens))
        with self.lock:
            marginals = self.crf.predict_marginals_single(features)
        tags = [max(m, key=m.__getitem__) for m in marginals]
        found: list[Entity] = []
        start: int | None = None
        probs: list[float] = []
        for i, tag in enumerate(tags):
            if tag == "O":
                start = None
                continue
            prefix, label = tag[0], tag[2:]
            if prefix in "BU" or start is None:
                start, probs = i, []
            probs.append(marginals[i][tag])
            ends_here = (
                prefix in "LU"
                or i + 1 == len(tags)
                or tags[i + 1][2:] != label
                or tags[i + 1][0] in "BUO"
            )
            if ends_here:
                found.append(_entity(text, tokens[start][1], tokens[i][2], label, probs))
                start = None
        return found


def _entity(text: str, start: int, end: int, label: str, probs: list[float]) -> Entity:
    name, role, group = (label.split(_SEP) + ["", ""])[:3]
    return Entity(
        entity=name,
        value=text[start:end],
        start=start,
        end=end,
        extractor=EXTRACTOR,
        confidence=round(sum(probs) / len(probs), 4),
        role=role or None,
        group=group or None,
    )


def _bilou(tokens: list[Token], entities: tuple[Entity, ...]) -> list[str]:
    tags = ["O"] * len(tokens)
    for ent in entities:
        label = _SEP.join([ent.entity, ent.role or "", ent.group or ""]).rstrip(_SEP)
        inside = [i for i, (_, s, e) in enumerate(tokens) if s < ent.end and e > ent.start]
        if len(inside) == 1:
            tags[inside[0]] = f"U-{label}"
        elif inside:
            tags[inside[0]] = f"B-{label}"
            for i in inside[1:-1]:
                tags[i] = f"I-{label}"
            tags[inside[-1]] = f"L-{label}"
    return tags


def _shape(word: str) -> str:
    shape = re.sub(r"[A-Z]", "X", word)
    shape = re.sub(r"[a-z]", "x", shape)
    shape = re.sub(r"\d", "d", shape)
    return re.sub(r"(.)\1{2,}", r"\1\1", shape)


def _token_features(word: str, hits: set[str]) -> Features:
    low = word.lower()
    feats: Features = {
        "low": low,
        "suffix3": low[-3:],
        "suffix2": low[-2:],
        "prefix2": low[:2],
        "title": word.istitle(),
        "upper": word.isupper(),
        "digit": word.isdigit(),
        "shape": _shape(word),
        "has_digit": any(c.isdigit() for c in word),
        "length": min(len(word), 12) / 12.0,
    }
    for name in hits:
        feats[f"pattern={name}"] = True
    return feats


def _features(tokens: list[Token], hits: list[set[str]]) -> list[Features]:
    own = [_token_features(w, h) for (w, _, _), h in zip(tokens, hits, strict=True)]
    rows: list[Features] = []
    for i, feats in enumerate(own):
        row: Features = {"bias": 1.0, **feats}
        for offset in (-2, -1, 1, 2):
            j = i + offset
            if 0 <= j < len(own):
                for key in ("low", "shape", "title", "digit") if abs(offset) == 1 else ("low",):
                    row[f"{offset}:{key}"] = own[j][key]
            else:
                row[f"{offset}:edge"] = True
        rows.append(row)
    return rows
