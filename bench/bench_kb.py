"""Knowledge-base benchmarks (issue 5). Each part prints a markdown section; results and the
exact commands are kept in bench/results/kb.md.

    python bench/bench_kb.py covidfaq            # retrieval quality on ../shared/data/kb (~2 min)
    python bench/bench_kb.py scale --n 1000000   # vector index at 1M synthetic vectors (~12 min)
    python bench/bench_kb.py build --chunks 4000 # build speed vs bare encode speed (~8 min)

Every part bounds its own run time through its size arguments; none downloads anything.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from botsvc.embedding import Embedder  # noqa: E402
from botsvc.kb.evaluate import LabelledQuery, evaluate_queries  # noqa: E402
from botsvc.kb.index import build_index, dense_texts  # noqa: E402
from botsvc.kb.ingest import load_chunks  # noqa: E402
from botsvc.kb.retrieval import KnowledgeBase  # noqa: E402
from botsvc.kb.vectors import HNSW_EF_SEARCH, VectorIndex  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
COVID = REPO.parent / "shared" / "data" / "kb" / "covidfaq"

# Off-topic messages kept apart from the calibration probes (src/botsvc/kb/probes.py), to check
# the calibrated threshold on chatter it has not seen.
HELD_OUT_OFF_TOPIC = [
    "who won the Champions League final",
    "recommend a horror movie for tonight",
    "how do I make pancakes",
    "what is the capital of Peru",
    "explain the theory of relativity",
    "write a limerick about cheese",
    "what's the best pizza topping",
    "how old is the universe",
    "can you help me with my chess opening",
    "what's a good name for a goldfish",
    "how do I tie a tie",
    "what's the exchange rate from euro to yen",
    "who sings Bohemian Rhapsody",
    "how many moons does Jupiter have",
    "teach me to juggle",
    "what time does the sun set today",
    "is a tomato a fruit",
    "give me a fun fact",
    "what's the plot of Hamlet",
    "how do I get rid of hiccups",
    "rate my haircut",
    "which is faster, a cheetah or a horse",
    "how do I fold a paper plane",
    "what is the tallest building in the world",
    "do aliens exist",
    "knock knock",
    "good morning!",
    "thanks, bye",
    "what are you doing this weekend",
    "how do I say thank you in Japanese",
]


# --- CovidFAQ ------------------------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _covid_kb(folder: Path) -> None:
    folder.mkdir(parents=True)
    with open(folder / "covidfaq.jsonl", "w") as out:
        for line in _lines(COVID / "kb.jsonl"):
            row = json.loads(line)
            out.write(
                json.dumps(
                    {
                        "id": row["id"],
                        "question": row["question"],
                        "answer": row["text"],
                        "alt_questions": row["alt_questions"],
                    }
                )
                + "\n"
            )


def _split(query_id: str) -> str:
    return "dev" if int(hashlib.sha256(query_id.encode()).hexdigest(), 16) % 2 == 0 else "test"


def bench_covidfaq(args: argparse.Namespace) -> None:
    embedder = Embedder(threads=args.threads)
    embedder.load()
    rows = [json.loads(line) for line in _lines(COVID / "queries.jsonl")]
    splits: dict[str, list[LabelledQuery]] = {"dev": [], "test": []}
    for row in rows:
        splits[_split(row["query_id"])].append(
            LabelledQuery(row["query"], frozenset(row["relevant_ids"]))
        )
    with tempfile.TemporaryDirectory() as tmp:
        _covid_kb(Path(tmp) / "kb")
        started = time.perf_counter()
        report = build_index(Path(tmp) / "kb", Path(tmp) / "kb_index", embedder, progress=False)
        print(
            f"## CovidFAQ ({len(rows)} queries: dev {len(splits['dev'])}, "
            f"test {len(splits['test'])}; split by sha256(query_id) parity)\n"
        )
        print(
            f"index: {report.chunks} FAQ chunks, {report.vectors} vectors, built in "
            f"{time.perf_counter() - started:.1f} s; calibrated threshold "
            f"{report.threshold:.3f}\n"
        )
        kb = KnowledgeBase.load(Path(tmp) / "kb_index", model_id=embedder.model_id)
        manifest = json.loads((Path(tmp) / "kb_index" / "manifest.json").read_text())
        print(f"calibration: `{json.dumps(manifest['answer'])}`\n")
        variants: dict[str, KnowledgeBase] = {"rrf (k=60)": kb.with_options(fusion="rrf")}
        for w in (0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            variants[f"weighted w={w}"] = kb.with_options(fusion="weighted", dense_weight=w)
        print("### Fusion choice (hybrid P@1 / MRR)\n")
        print("| fusion | dev P@1 | dev MRR | test P@1 | test MRR |")
        print("| --- | --- | --- | --- | --- |")
        results = {}
        for name, variant in variants.items():
            per = {s: evaluate_queries(variant, embedder, q, name=s) for s, q in splits.items()}
            results[name] = per
            d, t = per["dev"].legs[2], per["test"].legs[2]
            print(f"| {name} | {d.p_at_1:.3f} | {d.mrr:.3f} | {t.p_at_1:.3f} | {t.mrr:.3f} |")
        best = max(
            results,
            key=lambda n: (
                round(results[n]["dev"].legs[2].mrr, 3),
                results[n]["dev"].legs[2].p_at_1,
            ),
        )
        print(
            f"\nbest on dev (by MRR): **{best}**; the shipped default is weighted "
            f"w={kb.dense_weight}\n"
        )
        print("### Legs side by side, shipped default\n")
        print("| split | leg | P@1 | R@5 | MRR | nDCG@10 |")
        print("| --- | --- | --- | --- | --- | --- |")
        shipped = {s: evaluate_queries(kb, embedder, q, name=s) for s, q in splits.items()}
        everything = evaluate_queries(kb, embedder, splits["dev"] + splits["test"], name="all")
        for split, rep in [*shipped.items(), ("all", everything)]:
            for leg in rep.legs:
                print(
                    f"| {split} | {leg.mode} | {leg.p_at_1:.3f} | {leg.recall_at_5:.3f} | "
                    f"{leg.mrr:.3f} | {leg.ndcg_at_10:.3f} |"
                )
        print("\n### Answer threshold\n")
        vectors = embedder.encode(HELD_OUT_OFF_TOPIC)
        pairs = zip(HELD_OUT_OFF_TOPIC, vectors, strict=True)
        declined = sum(kb.answer(q, v) is None for q, v in pairs)
        print(
            f"- in-domain user queries answered: {everything.answered:.1%} "
            f"({everything.answered_correctly:.1%} with a relevant source first)"
        )
        print(f"- held-out off-topic messages declined: {declined}/{len(HELD_OUT_OFF_TOPIC)}\n")
        _covid_representations(embedder, splits)


def _covid_representations(embedder: Embedder, splits: dict[str, list[LabelledQuery]]) -> None:
    """Dense leg alone, with different things embedded for an FAQ row (why q+a together)."""
    kb = [json.loads(line) for line in _lines(COVID / "kb.jsonl")]
    ids = [r["id"] for r in kb]
    queries = splits["dev"] + splits["test"]
    qv = embedder.encode([q.query for q in queries])
    fields = {
        "question": embedder.encode([r["question"] for r in kb]),
        "answer": embedder.encode([r["text"] for r in kb]),
        "question + answer": embedder.encode([f"{r['question']}\n{r['text']}" for r in kb]),
    }
    sims = {name: qv @ m.T for name, m in fields.items()}
    sims["max(question, question + answer)"] = np.maximum(
        sims["question"], sims["question + answer"]
    )
    print("### What to embed for an FAQ row (dense leg only, all queries)\n")
    print("| embedded | P@1 | MRR |")
    print("| --- | --- | --- |")
    for name, s in sims.items():
        order = np.argsort(-s, axis=1)
        p1 = np.mean([ids[o[0]] in q.relevant_ids for o, q in zip(order, queries, strict=True)])
        mrr = np.mean(
            [
                next((1 / (i + 1) for i, j in enumerate(o) if ids[j] in q.relevant_ids), 0)
                for o, q in zip(order, queries, strict=True)
            ]
        )
        print(f"| {name} | {p1:.3f} | {mrr:.3f} |")
    print()


# --- scale ---------------------------------------------------------------------------------------


def _clustered(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    picks = rng.integers(0, len(centres), n)
    x = centres[picks] + rng.standard_normal((n, centres.shape[1]), dtype=np.float32) * 0.06
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def _rss_mb() -> float:
    for line in _lines(Path("/proc/self/status")):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bench_scale(args: argparse.Namespace) -> None:
    import faiss

    faiss.omp_set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((args.topics, 384), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    base = np.concatenate(
        [_clustered(min(100_000, args.n - i), rng, centres) for i in range(0, args.n, 100_000)]
    )
    queries = _clustered(args.queries, rng, centres)
    print(
        f"## Scale: {args.n:,} synthetic 384-d unit vectors ({args.topics} topic centres, "
        f"noise 0.06), {args.queries} queries from the same distribution\n"
    )
    started = time.perf_counter()
    exact = faiss.IndexFlatIP(384)
    exact.add(base)
    _, truth = exact.search(queries, 10)
    print(
        f"ground truth: exact float32 search, {time.perf_counter() - started:.1f} s for all "
        f"queries in one batch\n"
    )
    del exact
    rss = _rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    index = VectorIndex.build(base)
    build_s, build_cpu = time.perf_counter() - started, time.process_time() - cpu
    with tempfile.TemporaryDirectory() as tmp:
        index.save(Path(tmp) / "dense.faiss")
        file_mb = (Path(tmp) / "dense.faiss").stat().st_size / 1e6
    print(
        f"index: `{index.kind}`, built in {build_s:.0f} s wall ({build_cpu:.0f} s CPU) with "
        f"{args.threads} threads; file "
        f"{file_mb:.0f} MB; RSS grew {_rss_mb() - rss:.0f} MB (float32 vectors alone: "
        f"{args.n * 384 * 4 / 1e6:.0f} MB)\n"
    )
    faiss.omp_set_num_threads(1)
    print("| efSearch | recall@10 vs exact | p50 ms | p99 ms |")
    print("| --- | --- | --- | --- |")
    for ef in (96, 128, 192, 256):
        probe = index.with_ef_search(ef)
        lat, found = [], []
        for q in queries:
            t = time.perf_counter()
            _, rows = probe.search(q, 10)
            lat.append(time.perf_counter() - t)
            found.append(rows)
        recall = np.mean(
            [len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)]
        )
        p50, p99 = np.percentile(lat, [50, 99]) * 1000
        marker = " (default)" if ef == HNSW_EF_SEARCH else ""
        print(f"| {ef}{marker} | {recall:.4f} | {p50:.2f} | {p99:.2f} |")
    print(
        f"\nsearches: one query at a time, 1 FAISS thread, top_k 10. Peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB.\n"
    )


# --- build speed ---------------------------------------------------------------------------------


def _docstring_corpus(folder: Path, want_chunks: int) -> int:
    """Markdown articles from the docstrings of installed packages (real English prose written
    by people), one file per module and one section per documented function or class; stops
    once the chunker gives `want_chunks` chunks."""
    import scipy
    import sklearn
    import torch

    folder.mkdir(parents=True)
    roots = [Path(m.__file__).parent for m in (scipy, sklearn, torch)]
    written = 0
    for py in sorted(p for r in roots for p in r.rglob("*.py")):
        if "test" in py.as_posix():
            continue
        try:
            tree = ast.parse(py.read_text("utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        sections = []
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 300 and not node.name.startswith("_"):
                    sections.append(f"## {node.name}\n\n{doc}\n")
        if len(sections) < 2:
            continue
        name = "-".join(py.with_suffix("").parts[-2:])
        (folder / f"{written:05d}-{name[-60:]}.md").write_text(
            f"# {py.stem}\n\n" + "\n".join(sections)
        )
        written += 1
        if written % 25 == 0 and len(load_chunks(folder)) >= want_chunks:
            break
    return written


def bench_build(args: argparse.Namespace) -> None:
    embedder = Embedder(threads=args.threads)
    embedder.load()
    with tempfile.TemporaryDirectory() as tmp:
        kb_dir, index_dir = Path(tmp) / "kb", Path(tmp) / "kb_index"
        files = _docstring_corpus(kb_dir, args.chunks)
        chunks = load_chunks(kb_dir)
        texts = [t for c in chunks for t in dense_texts(c)]
        chars = sum(len(t) for t in texts) / len(texts)
        print(
            f"## Build speed: {len(chunks):,} chunks ({len(texts):,} texts, mean "
            f"{chars:.0f} chars) from {files} markdown files made of the docstrings of "
            f"scipy, scikit-learn and torch; encoder threads {args.threads}\n"
        )
        embedder.encode(texts[:64])  # warm-up, outside both timings
        started, cpu = time.perf_counter(), time.process_time()
        embedder.encode(sorted(texts, key=len, reverse=True), batch_size=64)
        encode_s, encode_cpu = time.perf_counter() - started, time.process_time() - cpu
        started, cpu = time.perf_counter(), time.process_time()
        report = build_index(kb_dir, index_dir, embedder, progress=False)
        build_s, build_cpu = time.perf_counter() - started, time.process_time() - cpu
        print("| what | wall s | chunks/s (wall) | CPU s | chunks per CPU s |")
        print("| --- | --- | --- | --- | --- |")
        print(
            f"| bare `Embedder.encode` of the same texts (longest first, batch 64) | "
            f"{encode_s:.1f} | {len(chunks) / encode_s:.1f} | {encode_cpu:.0f} | "
            f"{len(chunks) / encode_cpu:.1f} |"
        )
        print(
            f"| `build_index` from scratch (parse, embed, FAISS, BM25, calibrate, fsync, "
            f"swap) | {build_s:.1f} | {len(chunks) / build_s:.1f} | {build_cpu:.0f} | "
            f"{len(chunks) / build_cpu:.1f} |"
        )
        print(f"| of which encoding | {report.encode_seconds:.1f} | | | |")
        victims = sorted(kb_dir.glob("*.md"))[:: max(1, files // 10)][:10]
        for path in victims:
            path.write_text(path.read_text() + f"\n## Changed\n\n{path.stem} has a new note.\n")
        started = time.perf_counter()
        again = build_index(kb_dir, index_dir, embedder, progress=False)
        print(
            f"| rebuild after editing {len(victims)} files ({again.embedded} texts embedded, "
            f"{again.reused:,} reused) | {time.perf_counter() - started:.1f} | | | |\n"
        )
        shutil.rmtree(index_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("covidfaq")
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("scale")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--topics", type=int, default=2000)
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("build")
    p.add_argument("--chunks", type=int, default=4000)
    p.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    {"covidfaq": bench_covidfaq, "scale": bench_scale, "build": bench_build}[args.part](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
