"""Intent accuracy and entity F1 on two public Rasa projects' NLU data, on a held-out split of it.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_rasa_nlu.py \
        [--data /work/shared/data/rasa-projects] [--rounds 20] [--offset 3] [--baseline DIR]

The data (financial-demo, helpdesk-assistant: `<project>/intents/nlu0.yml`) is the training
portion of each project; the real held-out quarter is kept elsewhere. This benchmark makes its own
split of that portion: every 4th example (the 4th, 8th, ...) of each intent with at least 4
examples is held out, in file order, so the split is the same on every run (`--offset 0`, 1
or 2 holds out the 1st, 5th, ... or the 2nd, 6th, ... instead: three more splits of the same
kind). The held-out lines are removed from the YAML before it is read, so a synonym written in a
held-out annotation (`[urgent]{"entity": "priority", "value": "high"}`) is not learned from it.

On the rest it trains botsvc's intent model (`train_intent_model` on the `Embedder`) and the
entity extractor (`EntityExtractor.from_training_data`), then parses each held-out example with
`NluParser`, as the service does. It prints, per project:

- intent accuracy: an `nlu_fallback` answer (top confidence under the model's threshold) is wrong;
- entity F1, the main figure: micro over exact (entity, start, end) spans. Only entities the
  training data names (annotated, regex, lookup) are scored: the built-ins the project never
  annotates (number, time, ...) are left out, as Rasa's evaluation leaves out its pretrained
  extractors;
- unseen values: of the gold entities whose text no training example annotates as that entity,
  how many are found with the exact span (what the extractor learned beyond its examples);
- entity F1 by value: micro over (entity, value) per message, values compared case-insensitively,
  a gold value read through the training synonyms, as Rasa's synonym mapper would have read it;
- token F1: each token labelled with its entity (or none), F1 per entity label weighted by its
  support, no-entity excluded, which is how `rasa test nlu` summarises entities; tokens are
  botsvc's CRF tokens, not Rasa's, so this is close to, not the same as, Rasa's figure;
- train time of the intent model (mostly encoding) and of the entity extractor;
- the extractor's cost per held-out message (`extract`, microseconds, mean and p99 over every call
  of `--rounds` rounds, single-threaded).

`--baseline DIR` also scores the extractor of another `entities.py` and `crf.py` (copies of the
ones before a change, e.g. `git show HEAD:src/botsvc/nlu/entities.py > DIR/entities.py`, same
for crf.py) on the same split and intent model, in the same run, so the two compare under the
same machine load.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Protocol

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from botsvc.domain import Entity  # noqa: E402
from botsvc.embedding import Embedder  # noqa: E402
from botsvc.nlu.classifier import IntentModel, train_intent_model  # noqa: E402
from botsvc.nlu.crf import tokenize  # noqa: E402
from botsvc.nlu.entities import EntityExtractor  # noqa: E402
from botsvc.nlu.parser import NluParser  # noqa: E402
from botsvc.nlu.trainingdata import (  # noqa: E402
    Example,
    TrainingData,
    load_training_data,
    load_training_data_from_str,
)

PROJECTS = ("financial-demo", "helpdesk-assistant")
EVERY = 4


class Extractor(Protocol):
    def extract(self, text: str) -> list[Entity]: ...


Build = Callable[[TrainingData], Extractor]


def _module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def baseline_builder(directory: Path) -> Build:
    """The ``EntityExtractor.from_training_data`` of DIR/entities.py, on DIR/crf.py."""
    ours = sys.modules["botsvc.nlu.crf"]
    sys.modules["botsvc.nlu.crf"] = _module("baseline_crf", directory / "crf.py")
    try:
        entities = _module("baseline_entities", directory / "entities.py")
    finally:
        sys.modules["botsvc.nlu.crf"] = ours
    build: Build = entities.EntityExtractor.from_training_data
    return build


@dataclass(frozen=True)
class Split:
    train: TrainingData
    test: tuple[Example, ...]


def split(path: Path, offset: int = EVERY - 1) -> Split:
    """Every 4th example of each intent with >= 4 examples, held out; the rest, re-read.
    ``offset``: which of each four is held out (3: the 4th, 8th, ...; 0: the 1st, 5th, ...)."""
    full = load_training_data(path)
    by_intent: dict[str, list[Example]] = {}
    for ex in full.examples:
        by_intent.setdefault(ex.intent, []).append(ex)
    test = [
        ex
        for examples in by_intent.values()
        if len(examples) >= EVERY
        for i, ex in enumerate(examples)
        if i % EVERY == offset
    ]
    held_lines = {ex.line for ex in test}
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [line for number, line in enumerate(lines, start=1) if number not in held_lines]
    train = load_training_data_from_str("\n".join(kept) + "\n", str(path), base_dir=path.parent)
    assert len(train.examples) + len(test) == len(full.examples)
    return Split(train=train, test=tuple(sorted(test, key=lambda e: e.line)))


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, gold: Counter[tuple[object, ...]], found: Counter[tuple[object, ...]]) -> None:
        hit = sum((gold & found).values())
        self.tp += hit
        self.fp += sum(found.values()) - hit
        self.fn += sum(gold.values()) - hit

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _value(value: object, synonyms: dict[str, str]) -> str:
    text = str(value)
    return synonyms.get(text.strip().lower(), text).strip().lower()


def _token_labels(text: str, entities: list[Entity] | tuple[Entity, ...]) -> list[str]:
    labels = []
    for _, start, end in tokenize(text):
        names = [e.entity for e in entities if e.start < end and e.end > start]
        labels.append(names[0] if names else "")
    return labels


def _weighted_token_f1(pairs: list[tuple[str, str]]) -> float:
    """Per-label F1 over (gold, predicted) token labels, weighted by gold support, no-entity
    excluded."""
    labels = {g for g, _ in pairs if g}
    total = sum(1 for g, _ in pairs if g)
    if not total:
        return 0.0
    score = 0.0
    for label in labels:
        counts = Counts()
        counts.tp = sum(1 for g, p in pairs if g == label and p == label)
        counts.fp = sum(1 for g, p in pairs if g != label and p == label)
        counts.fn = sum(1 for g, p in pairs if g == label and p != label)
        score += counts.f1 * sum(1 for g, _ in pairs if g == label) / total
    return score


def _latency(extractor: Extractor, texts: list[str], rounds: int) -> tuple[float, float]:
    for text in texts:  # first calls pay for imports and caches
        extractor.extract(text)
    times = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            extractor.extract(text)
            times.append((time.perf_counter() - started) * 1e6)
    times.sort()
    return statistics.fmean(times), times[int(0.99 * (len(times) - 1))]


def run(
    name: str, path: Path, embedder: Embedder, *, rounds: int, offset: int, builds: dict[str, Build]
) -> list[dict[str, str]]:
    data = split(path, offset)
    started = time.perf_counter()
    model = train_intent_model(data.train, embedder)
    intent_s = time.perf_counter() - started
    vectors = embedder.encode([ex.text for ex in data.test])
    rows = []
    for label, build in builds.items():
        started = time.perf_counter()
        extractor = build(data.train)
        entity_s = time.perf_counter() - started
        row = {"project": name, "extractor": label}
        row |= _score(data, model, extractor, vectors)
        mean_us, p99_us = _latency(extractor, [ex.text for ex in data.test], rounds)
        row["train s (intents / entities)"] = f"{intent_s:.1f} / {entity_s:.2f}"
        row["extract µs (mean / p99)"] = f"{mean_us:.0f} / {p99_us:.0f}"
        rows.append(row)
    return rows


def _score(
    data: Split, model: IntentModel, extractor: Extractor, vectors: np.ndarray
) -> dict[str, str]:
    parser = NluParser(model=model, extractor=extractor)  # type: ignore[arg-type]
    known = set(data.train.entity_names)
    synonyms = data.train.synonyms
    annotated = {
        (e.entity, ex.text[e.start : e.end].lower())
        for ex in data.train.examples
        for e in ex.entities
    }
    right = 0
    spans, values = Counts(), Counts()
    unseen = [0, 0]
    tokens: list[tuple[str, str]] = []
    for ex, vector in zip(data.test, vectors, strict=True):
        result = parser.parse(ex.text, vector.tolist())
        right += result.intent.name == ex.intent
        found = [e for e in result.entities if e.entity in known]
        found_spans = Counter((e.entity, e.start, e.end) for e in found)
        spans.add(Counter((e.entity, e.start, e.end) for e in ex.entities), found_spans)
        values.add(
            Counter((e.entity, _value(e.value, synonyms)) for e in ex.entities),
            Counter((e.entity, _value(e.value, synonyms)) for e in found),
        )
        for e in ex.entities:
            if (e.entity, ex.text[e.start : e.end].lower()) not in annotated:
                unseen[1] += 1
                unseen[0] += (e.entity, e.start, e.end) in found_spans
        gold_labels = _token_labels(ex.text, ex.entities)
        tokens += zip(gold_labels, _token_labels(ex.text, found), strict=True)
    return {
        "train / test": f"{len(data.train.examples)} / {len(data.test)}",
        "gold entities": str(sum(len(ex.entities) for ex in data.test)),
        "intent acc.": f"{right / len(data.test):.3f}",
        "entity F1 (span)": f"**{spans.f1:.3f}** (P {spans.precision:.3f}, R {spans.recall:.3f})",
        "unseen values": f"{unseen[0]} / {unseen[1]}",
        "entity F1 (value)": f"{values.f1:.3f}",
        "token F1 (weighted)": f"{_weighted_token_f1(tokens):.3f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/rasa-projects"))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--offset", type=int, default=EVERY - 1, choices=range(EVERY), help="3: every 4th held out"
    )
    parser.add_argument("--baseline", type=Path, help="a folder with entities.py and crf.py")
    args = parser.parse_args()
    builds: dict[str, Build] = {}
    if args.baseline is not None:
        builds[f"baseline ({args.baseline})"] = baseline_builder(args.baseline)
    builds["current"] = EntityExtractor.from_training_data
    embedder = Embedder()
    started = time.perf_counter()
    rows = [
        row
        for name in PROJECTS
        for row in run(
            name,
            args.data / name / "intents" / "nlu0.yml",
            embedder,
            rounds=args.rounds,
            offset=args.offset,
            builds=builds,
        )
    ]
    print(f"Held out: example {args.offset} of every {EVERY} (counting from 0) of each intent.")
    print(
        f"Machine: {os.cpu_count()} CPU cores ({platform.machine()}), Python "
        f"{platform.python_version()}; whole run {time.perf_counter() - started:.0f} s; load "
        f"average {os.getloadavg()[0]:.1f} (1-minute) at the end."
    )
    print()
    print("| " + " | ".join(rows[0]) + " |")
    print("| " + " | ".join("---" for _ in rows[0]) + " |")
    for row in rows:
        print("| " + " | ".join(row.values()) + " |")


if __name__ == "__main__":
    main()
