"""Intent accuracy and the out-of-scope decision on public benchmarks' training data, on dev splits.

    HF_HUB_OFFLINE=1 python bench/bench_public_intents.py [--data ../shared/data/intents]

Only training (and, for CLINC150, validation) files are read; their test splits are held out.
- Banking77: `train.csv` split 80/20 per intent (seed 0); trained on the 80% part (full) and on
  10 examples per intent drawn from it; scored on the 20% dev part. No out-of-scope rows: a
  fallback is a wrong answer, so the in-scope reject rate is what the OOS decision costs.
- CLINC150: trained on `train.csv`'s in-scope rows, scored on `val.csv` (in-scope accuracy with a
  fallback counted wrong, in-scope reject rate, OOS recall).
Each row also shows accuracy with no OOS decision at all (the top intent always). The rows marked
"typo'd dev" score the same model on a copy of the dev texts with typos (in each word of four
letters or more, with probability 0.3, one letter dropped, doubled, swapped with the next or
replaced by a keyboard neighbour; seed 0), to measure typo robustness.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from botsvc.embedding import Embedder  # noqa: E402
from botsvc.nlu.classifier import IntentModel, train_intent_model  # noqa: E402
from botsvc.nlu.trainingdata import Example, TrainingData  # noqa: E402

OOS = "oos"


class CachedEmbedder:
    """The real encoder, each text encoded once for all the runs of this benchmark."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder, self.cache = embedder, {}

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    def encode(self, texts: Sequence[str], **kw: object) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for t, v in zip(missing, self.embedder.encode(missing), strict=True):
                self.cache[t] = v
        return np.stack([self.cache[t] for t in texts])


_NEIGHBOURS = {
    "a": "qs", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj",
    "i": "uo", "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o",
    "q": "w", "r": "et", "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc",
    "y": "tu", "z": "x",
}  # fmt: skip


def typo(text: str, rng: np.random.Generator) -> str:
    """The text with a typo in about a third of its longer words."""
    out = []
    for word in text.split(" "):
        if len(word) >= 4 and word.isalpha() and rng.random() < 0.3:
            i = int(rng.integers(1, len(word) - 1))
            kind = int(rng.integers(4))
            if kind == 0:
                word = word[:i] + word[i + 1 :]
            elif kind == 1:
                word = word[:i] + word[i] + word[i:]
            elif kind == 2:
                word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
            else:
                near = _NEIGHBOURS.get(word[i].lower(), word[i])
                word = word[:i] + near[int(rng.integers(len(near)))] + word[i + 1 :]
        out.append(word)
    return " ".join(out)


def read(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="") as f:
        return [(r["text"], r["label"]) for r in csv.DictReader(f)]


def data_of(rows: Sequence[tuple[str, str]]) -> TrainingData:
    examples = tuple(Example(t, label, (), "bench", i) for i, (t, label) in enumerate(rows))
    return TrainingData(examples=examples, synonyms={}, regexes={}, lookups={})


def evaluate(
    name: str,
    train: Sequence[tuple[str, str]],
    test: Sequence[tuple[str, str]],
    emb: CachedEmbedder,
) -> list[dict[str, float | str]]:
    started = time.perf_counter()
    model = train_intent_model(data_of(train), emb)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    rng = np.random.default_rng(0)
    typod = [(typo(t, rng), label) for t, label in test]
    return [
        score(name, model, len(train), seconds, test, emb),
        score(f"{name}, typo'd dev", model, len(train), seconds, typod, emb),
    ]


def score(
    name: str,
    model: IntentModel,
    rows: int,
    seconds: float,
    test: Sequence[tuple[str, str]],
    emb: CachedEmbedder,
) -> dict[str, float | str]:
    vectors = emb.encode([t for t, _ in test])
    top, conf = [], []
    for (text, _), v in zip(test, vectors, strict=True):
        best = model.rank(v, text=text)[0]
        top.append(best.name)
        conf.append(best.confidence)
    gold = [label for _, label in test]
    inscope = [i for i, g in enumerate(gold) if g != OOS]
    oos = [i for i, g in enumerate(gold) if g == OOS]
    accepted = [c >= model.threshold for c in conf]
    acc = np.mean([accepted[i] and top[i] == gold[i] for i in inscope])
    raw = np.mean([top[i] == gold[i] for i in inscope])
    reject = np.mean([not accepted[i] for i in inscope])
    reject_right = np.mean([not accepted[i] for i in inscope if top[i] == gold[i]])
    out: dict[str, float | str] = {
        "set": name,
        "train rows": rows,
        "in-scope acc.": round(float(acc), 3),
        "top-1, no OOS decision": round(float(raw), 3),
        "in-scope reject rate": round(float(reject), 3),
        "right answers rejected": round(float(reject_right), 3),
        "train s": round(seconds, 1),
    }
    if oos:
        out["OOS recall"] = round(float(np.mean([not accepted[i] for i in oos])), 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data/intents"))
    ap.add_argument("--only", default="")
    ap.add_argument("--encoder", default="onnx-int8", choices=["onnx-int8", "onnx", "torch"])
    args = ap.parse_args()
    emb = CachedEmbedder(Embedder(backend=args.encoder))
    rng = np.random.default_rng(0)
    results = []
    if args.only in ("", "banking77"):
        rows = read(args.data / "banking77" / "train.csv")
        by = defaultdict(list)
        for r in rows:
            by[r[1]].append(r)
        train, dev, shot = [], [], []
        for label in sorted(by):
            items = by[label]
            order = rng.permutation(len(items))
            cut = int(round(len(items) * 0.8))
            part = [items[i] for i in order[:cut]]
            train += part
            dev += [items[i] for i in order[cut:]]
            shot += part[:10]
        results += evaluate("banking77, 10 per intent", shot, dev, emb)
        results += evaluate("banking77, full", train, dev, emb)
    if args.only in ("", "clinc150"):
        train = [
            (t, label) for t, label in read(args.data / "clinc150" / "train.csv") if label != OOS
        ]
        val = read(args.data / "clinc150" / "val.csv")
        results += evaluate("clinc150 (train -> val)", train, val, emb)
    keys = list(dict.fromkeys(k for r in results for k in r))
    print("| " + " | ".join(keys) + " |")
    print("| " + " | ".join("---" for _ in keys) + " |")
    for r in results:
        print("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |")


if __name__ == "__main__":
    main()
