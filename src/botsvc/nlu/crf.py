"""The learned entity extractor: a linear-chain CRF (python-crfsuite) trained on the entity
annotations in the examples, with BILOU tags, as Rasa's ``CRFEntityExtractor`` does.

It finds entities that no regex or lookup table covers ("ship it to [my office](address)").
Token features are the word, its shape and affixes, its neighbours, and the gazetteer: the
regexes, lookup tables and known values of the training data that cover the token (spans the
caller names, see ``Gazetteer``).

Annotated examples show few values of each entity, so a CRF trained on them alone learns the
values rather than the contexts they appear in. Training therefore adds copies of annotated
examples with other values of the same entity put in (from its lookup table, its synonyms, its
other annotations), and in those copies the gazetteer is silent on the new value, as it is on
a value nobody listed: the context has to carry it. (Hiding the new value's own word as well made
the CRF tag any unfamiliar word in such a context, and cost more precision than it gained.) The
number of copies is bounded and the choice of values seeded, so the same data always trains the
same model. Training takes about half a second for a few hundred examples; with an
``ArtefactCache`` the model trained on the same features is read back instead (``botsvc train``
writes it, a service's start reads it).
"""

from __future__ import annotations

import bisect
import os
import random
import re
import string
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import pycrfsuite

from botsvc.artefacts import ArtefactCache
from botsvc.domain import Entity

EXTRACTOR = "crf"
_TOKEN = re.compile(r"[\w@+]+(?:[-'./@][\w@+]+)*|[^\w\s]")
_SEP = "|"
Token = tuple[str, int, int]
Span = tuple[str, int, int]  # a gazetteer feature name and the characters it covers
Gazetteer = Callable[[str], list[Span]]
Sample = tuple[str, tuple[Entity, ...]]
Features = dict[str, str | bool | float]

COPIES_PER_EXAMPLE = 3
MAX_COPIES = 3000  # a large project's training stays within seconds
SEED = 0
_PARAMS = {"c1": 0.05, "c2": 0.05, "max_iterations": 100, "feature.possible_transitions": True}


def tokenize(text: str) -> list[Token]:
    return [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]


@dataclass
class CrfExtractor:
    model: bytes  # crfsuite's model file; the tagger reads it in place, so it is kept here
    # crfsuite's tagger keeps the sequence between `set` and `marginal` calls: one at a time.
    lock: threading.Lock = field(default_factory=threading.Lock)
    tagger: pycrfsuite.Tagger = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.tagger = pycrfsuite.Tagger()
        self.tagger.open_inmemory(self.model)

    @classmethod
    def train(
        cls,
        samples: list[Sample],
        gazetteer: Gazetteer,
        *,
        values: Mapping[str, Sequence[str]] | None = None,
        cache: ArtefactCache | None = None,
    ) -> CrfExtractor | None:
        """Trains on (text, annotated entities), and on copies of them with other ``values``
        of the same entity (entity name -> its values); ``None`` when nothing is annotated.
        ``gazetteer`` names the spans of a text that the patterns of the training data cover."""
        if not any(entities for _, entities in samples):
            return None
        xs, ys = [], []
        rows = [(text, entities, False) for text, entities in samples]
        rows += [(text, entities, True) for text, entities in substituted(samples, values or {})]
        for text, entities, blind in rows:
            tokens = tokenize(text)
            if tokens:
                spans = gazetteer(text)
                if blind:  # as on a value no list names
                    spans = [s for s in spans if not _inside(s, entities)]
                xs.append(_features(tokens, token_hits(tokens, spans)))
                ys.append(_bilou(tokens, entities))
        if cache is None:
            return cls(model=_fit(xs, ys))
        # the model is a function of its features, tags and parameters: they are the key
        inputs = [_PARAMS, xs, ys]
        return cls(model=cache.get_or_make("entities-crf", inputs, lambda: _fit(xs, ys)))

    def extract(self, text: str, spans: list[Span]) -> list[Entity]:
        """The entities the CRF tags in ``text``; ``spans``: the gazetteer's (as in training)."""
        tokens = tokenize(text)
        if not tokens:
            return []
        features = _features(tokens, token_hits(tokens, spans))
        with self.lock:
            tags, confidences = self._tag(features)
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
            probs.append(confidences[i])
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

    def _tag(self, features: list[Features]) -> tuple[list[str], list[float]]:
        """The most likely tag sequence (Viterbi: its B, I, L tags agree), and each tag's
        marginal probability as its confidence."""
        tagger = self.tagger
        tagger.set(features)
        tags: list[str] = tagger.tag()
        return tags, [tagger.marginal(t, i) for i, t in enumerate(tags)]


def _fit(xs: list[list[Features]], ys: list[list[str]]) -> bytes:
    """L-BFGS with L1 and L2 penalties; crfsuite writes its model to a file, read back as
    bytes so that nothing is left on disk (python-crfsuite directly: sklearn-crfsuite's wrapper
    would import sklearn and scipy into the service for nothing)."""
    trainer = pycrfsuite.Trainer(algorithm="lbfgs", params=_PARAMS, verbose=False)
    for xseq, yseq in zip(xs, ys, strict=True):
        trainer.append(xseq, yseq)
    handle, path = tempfile.mkstemp(suffix=".crfsuite")
    os.close(handle)
    try:
        trainer.train(path, holdout=-1)
        with open(path, "rb") as model:
            data = model.read()
    finally:
        os.unlink(path)
    return data


def substituted(samples: list[Sample], values: Mapping[str, Sequence[str]]) -> list[Sample]:
    """Copies of the annotated samples (up to ``COPIES_PER_EXAMPLE`` each, ``MAX_COPIES`` in
    all), each entity that has other values replaced by one of them, chosen with a fixed seed."""
    pools = {name: sorted(set(v)) for name, v in values.items() if len(set(v)) > 1}
    rng = random.Random(SEED)
    out: list[Sample] = []
    for text, entities in samples:
        if not any(e.entity in pools for e in entities) or _overlapping(entities):
            continue
        for _ in range(COPIES_PER_EXAMPLE):
            if len(out) >= MAX_COPIES:
                return out
            copy = _substitute(text, entities, pools, rng)
            if copy[0] != text:
                out.append(copy)
    return out


def _substitute(
    text: str, entities: tuple[Entity, ...], pools: Mapping[str, list[str]], rng: random.Random
) -> Sample:
    parts: list[str] = []
    placed: list[Entity] = []
    at = shift = 0
    for ent in sorted(entities, key=lambda e: e.start):
        current = text[ent.start : ent.end].lower()
        choices = [v for v in pools.get(ent.entity, ()) if v.lower() != current]
        value = rng.choice(choices) if choices else text[ent.start : ent.end]
        parts += [text[at : ent.start], value]
        start = ent.start + shift
        placed.append(replace(ent, value=value, start=start, end=start + len(value)))
        shift += len(value) - (ent.end - ent.start)
        at = ent.end
    parts.append(text[at:])
    return "".join(parts), tuple(placed)


def _overlapping(entities: tuple[Entity, ...]) -> bool:
    ordered = sorted(entities, key=lambda e: e.start)
    return any(a.end > b.start for a, b in zip(ordered, ordered[1:], strict=False))


def _inside(span: Span, entities: tuple[Entity, ...]) -> bool:
    return any(span[1] < e.end and span[2] > e.start for e in entities)


def token_hits(tokens: list[Token], spans: list[Span]) -> list[set[str]]:
    """For each token, the names of the spans that cover any of it."""
    hits: list[set[str]] = [set() for _ in tokens]
    ends = [end for _, _, end in tokens]
    for name, start, end in spans:
        i = bisect.bisect_right(ends, start)  # the first token that ends after the span starts
        while i < len(tokens) and tokens[i][1] < end:
            hits[i].add(name)
            i += 1
    return hits


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


_SHAPE = str.maketrans(
    {**{c: "X" for c in string.ascii_uppercase}, **{c: "x" for c in string.ascii_lowercase}}
)
_DIGIT = re.compile(r"\d")
_REPEATS = re.compile(r"(.)\1{2,}")


def _shape(word: str) -> str:
    shape = _DIGIT.sub("d", word.translate(_SHAPE))
    return _REPEATS.sub(r"\1\1", shape)


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
