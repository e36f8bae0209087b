"""Knowledge-base benchmarks (issue 5). Each part prints a markdown section; results and the
exact commands are kept in bench/results/kb.md.

    python bench/bench_kb.py covidfaq            # retrieval quality on ../shared/data/kb (~2-4 min)
    python bench/bench_kb.py example             # section questions on the example kb/ (~1 min)
    python bench/bench_kb.py scale --n 1000000   # vector index at 1M synthetic vectors (~12 min)
    python bench/bench_kb.py build --chunks 4000 # build speed vs bare encode speed (~8 min)

Every part bounds its own run time through its size arguments; none downloads anything.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import hashlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from botsvc.embedding import Embedder  # noqa: E402
from botsvc.kb.calibration import DEFAULT_WEIGHTS  # noqa: E402
from botsvc.kb.evaluate import KbReport, LabelledQuery, LegScores, evaluate_queries  # noqa: E402
from botsvc.kb.index import build_index  # noqa: E402
from botsvc.kb.ingest import load_chunks  # noqa: E402
from botsvc.kb.retrieval import FusionWeights, KnowledgeBase  # noqa: E402
from botsvc.kb.vectors import HNSW_EF_SEARCH, VectorIndex, dense_texts  # noqa: E402

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


# Customer questions about one section of the example bot's kb/ each (ids as `kb search` shows
# them; an FAQ row that answers the same is accepted too). Written for this check: a manual
# labelled set, small, used to set the section title weights (calibration.py).
EXAMPLE_QUESTIONS = {
    "how do I reset my password?": ["account/reset-password.md#if-you-ve-forgotten-your-password"],
    "I forgot my password": ["account/reset-password.md#if-you-ve-forgotten-your-password"],
    "how do I change my password?": [
        "account/reset-password.md#changing-your-password-when-you-re-signed-in"
    ],
    "the password reset link doesn't work anymore": [
        "account/reset-password.md#the-reset-link",
        "faq-011",
    ],
    "I never got the password reset email": ["account/reset-password.md#didn-t-get-the-email"],
    "why is my account locked?": ["account/account-locked.md#why-accounts-get-locked"],
    "how do I unlock my account?": ["account/account-locked.md#getting-back-in"],
    "how do I change my email address?": ["account/change-email.md#change-it-in-your-settings"],
    "how do I delete my account?": ["account/delete-account.md#how-to-delete-your-account"],
    "can I undo deleting my account?": ["account/delete-account.md#changing-your-mind"],
    "how do I turn on two-factor authentication?": [
        "account/two-factor-authentication.md#turning-it-on"
    ],
    "I lost my phone and can't get my 2FA code": [
        "account/two-factor-authentication.md#lost-your-phone"
    ],
    "how do I cancel my subscription?": [
        "billing/change-or-cancel-subscription.md#cancelling-your-subscription",
        "faq-010",
    ],
    "do I get a refund if I cancel my subscription?": [
        "billing/change-or-cancel-subscription.md#refunds-when-you-cancel"
    ],
    "how do I upgrade my plan?": [
        "billing/change-or-cancel-subscription.md#upgrading-or-downgrading"
    ],
    "I subscribed through the App Store, how do I cancel?": [
        "billing/change-or-cancel-subscription.md#subscribed-in-the-app"
    ],
    "why was my card declined?": ["billing/failed-payment.md#common-reasons-for-a-decline"],
    "how do I get an invoice for my order?": [
        "billing/invoices-and-vat.md#downloading-an-invoice-for-an-order"
    ],
    "can I pay later with Klarna?": ["billing/payment-methods.md#paying-later-with-klarna"],
    "is there a free trial?": ["billing/plans-and-pricing.md#free-trials"],
    "how do I verify my student status?": ["billing/student-discount.md#how-to-verify"],
    "how do I restore a deleted file?": ["app/version-history.md#restore-a-deleted-file"],
    "how do I go back to an older version of a document?": [
        "app/version-history.md#go-back-to-an-older-version"
    ],
    "how do I share a folder with someone?": ["app/sharing-files.md#invite-people-to-a-folder"],
    "how do I cancel my order?": ["orders/cancel-an-order.md#cancel-it-yourself", "faq-006"],
    "my order already shipped, can I still change the address?": [
        "orders/change-delivery-address.md#after-the-order-has-shipped"
    ],
    "how do I check my gift card balance?": ["orders/gift-cards.md#checking-your-balance"],
    "my parcel arrived damaged": [
        "orders/missing-or-damaged-parcel.md#your-parcel-arrived-damaged"
    ],
    "tracking says delivered but I don't have the package": [
        "orders/missing-or-damaged-parcel.md#tracking-says-delivered-but-you-don-t-have-it"
    ],
    "what does the order status processing mean?": [
        "orders/track-your-order.md#what-the-order-statuses-mean"
    ],
    "how do I make a warranty claim?": [
        "orders/warranty-and-faulty-products.md#making-a-warranty-claim"
    ],
    "how do I turn off cookies?": ["privacy/cookies.md#changing-your-choices"],
    "how do I request an export of my data?": [
        "privacy/gdpr-data-export.md#request-your-data-export"
    ],
    "how do I start a return?": ["returns/start-a-return.md#register-your-return-online"],
    "how do I exchange an item for a different size?": ["returns/exchanges.md#how-to-exchange"],
    "I still haven't received my refund": ["returns/refund-timing.md#refund-not-received"],
    "do I have to pay customs duties?": [
        "shipping/international-shipping.md#customs-duties-and-import-taxes"
    ],
    "how much is express delivery?": ["shipping/shipping-times-and-costs.md#express-delivery"],
    "how do I free up space?": ["sync/storage-full.md#free-up-space"],
    "how do I fix a sync conflict?": ["sync/sync-conflicts.md#resolving-a-conflict"],
    "my photos aren't uploading on my iPhone": ["sync/sync-phones.md#on-iphone-and-ipad"],
    "which browsers does the web app support?": ["sync/web-app-uploads.md#supported-browsers"],
}


# --- CovidFAQ ------------------------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _covid_kb(folder: Path, *, extra_alts: dict[str, list[str]] | None = None) -> None:
    folder.mkdir(parents=True)
    with open(folder / "covidfaq.jsonl", "w") as out:
        for line in _lines(COVID / "kb.jsonl"):
            row = json.loads(line)
            alts = row["alt_questions"] + (extra_alts or {}).get(row["id"], [])
            out.write(
                json.dumps(
                    {
                        "id": row["id"],
                        "question": row["question"],
                        "answer": row["text"],
                        "alt_questions": alts,
                    }
                )
                + "\n"
            )


def _split(query_id: str) -> str:
    return "dev" if int(hashlib.sha256(query_id.encode()).hexdigest(), 16) % 2 == 0 else "test"


def _covid_splits() -> tuple[int, dict[str, list[LabelledQuery]], list[dict[str, Any]]]:
    rows = [json.loads(line) for line in _lines(COVID / "queries.jsonl")]
    splits: dict[str, list[LabelledQuery]] = {"dev": [], "test": []}
    for row in rows:
        splits[_split(row["query_id"])].append(
            LabelledQuery(row["query"], frozenset(row["relevant_ids"]))
        )
    return len(rows), splits, rows


def _hybrid(report: KbReport) -> LegScores:
    return report.legs[2]


def bench_covidfaq(args: argparse.Namespace) -> None:
    embedder = Embedder(threads=args.threads, backend=args.encoder)
    embedder.load()
    total, splits, rows = _covid_splits()
    with tempfile.TemporaryDirectory() as tmp:
        _covid_kb(Path(tmp) / "kb")
        started = time.perf_counter()
        report = build_index(Path(tmp) / "kb", Path(tmp) / "kb_index", embedder, progress=False)
        print(
            f"## CovidFAQ ({total} queries: dev {len(splits['dev'])}, "
            f"test {len(splits['test'])}; split by sha256(query_id) parity)\n"
        )
        print(
            f"index: {report.chunks} FAQ chunks, {report.vectors} vectors, built in "
            f"{time.perf_counter() - started:.1f} s; calibrated threshold "
            f"{report.threshold:.3f}; fusion {report.weights} {report.fusion}\n"
        )
        kb = KnowledgeBase.load(Path(tmp) / "kb_index", model_id=embedder.model_id)
        manifest = json.loads((Path(tmp) / "kb_index" / "manifest.json").read_text())
        print(f"calibration: `{json.dumps(manifest['answer'])}`\n")
        _covid_fusion_table(kb, embedder, splits)
        _covid_faq_title_table(kb, embedder, splits)
        print("### Legs side by side, as built\n")
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
    _covid_learnt(embedder, splits, rows)
    _covid_representations(embedder, splits)


def _covid_fusion_table(
    kb: KnowledgeBase, embedder: Embedder, splits: dict[str, list[LabelledQuery]]
) -> None:
    variants: dict[str, KnowledgeBase] = {"rrf (k=60)": kb.with_options(fusion="rrf")}
    for w in (0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        variants[f"weighted w={w}"] = kb.with_options(fusion="weighted", dense_weight=w)
    print("### Fusion choice (hybrid P@1 / MRR; title weights as built)\n")
    print("| fusion | dev P@1 | dev MRR | test P@1 | test MRR |")
    print("| --- | --- | --- | --- | --- |")
    results = {}
    for name, variant in variants.items():
        per = {s: evaluate_queries(variant, embedder, q, name=s) for s, q in splits.items()}
        results[name] = per
        d, t = _hybrid(per["dev"]), _hybrid(per["test"])
        print(f"| {name} | {d.p_at_1:.3f} | {d.mrr:.3f} | {t.p_at_1:.3f} | {t.mrr:.3f} |")
    best = max(
        results,
        key=lambda n: (round(_hybrid(results[n]["dev"]).mrr, 3), _hybrid(results[n]["dev"]).p_at_1),
    )
    print(f"\nbest on dev (by MRR): **{best}**; the index serves w={kb.dense_weight}\n")


def _covid_faq_title_table(
    kb: KnowledgeBase, embedder: Embedder, splits: dict[str, list[LabelledQuery]]
) -> None:
    """The FAQ title vectors' weight (each question phrasing alone) on labelled queries."""
    print("### FAQ title weight (hybrid P@1 / MRR at w=0.7; dense leg alone in brackets)\n")
    print("| FAQ title weight | dev P@1 | dev MRR | test P@1 | test MRR | dev dense P@1 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for a in (0.0, 0.2, 0.4, 0.6):
        weights = dataclasses.replace(kb.weights, dense=0.7, faq_title=a)
        variant = kb.with_options(weights=weights)
        per = {s: evaluate_queries(variant, embedder, q, name=s) for s, q in splits.items()}
        d, t = _hybrid(per["dev"]), _hybrid(per["test"])
        print(
            f"| {a} | {d.p_at_1:.3f} | {d.mrr:.3f} | {t.p_at_1:.3f} | {t.mrr:.3f} | "
            f"({per['dev'].legs[0].p_at_1:.3f}) |"
        )
    print()


def _covid_learnt(
    embedder: Embedder, splits: dict[str, list[LabelledQuery]], rows: list[dict[str, Any]]
) -> None:
    """The learner's own test: the dev split's queries become alternative questions of the
    rows they are labelled with (what an ops team adds from real traffic), the build learns
    its fusion from those phrasings alone (leave-one-out), and the test split judges it."""
    alts: dict[str, list[str]] = {}
    for row in rows:
        if _split(row["query_id"]) == "dev":
            for rid in row["relevant_ids"]:
                alts.setdefault(rid, []).append(row["query"])
    with tempfile.TemporaryDirectory() as tmp:
        _covid_kb(Path(tmp) / "kb", extra_alts=alts)
        started = time.perf_counter()
        report = build_index(Path(tmp) / "kb", Path(tmp) / "kb_index", embedder, progress=False)
        seconds = time.perf_counter() - started
        kb = KnowledgeBase.load(Path(tmp) / "kb_index", model_id=embedder.model_id)
        learnt = kb.manifest["retrieval"]
        assert isinstance(learnt, dict)
        print("### Learnt fusion: dev queries as alternative questions, judged on test\n")
        print(
            f"index: {report.chunks} FAQ rows, {report.vectors} vectors (the dev queries added as "
            f"alternative questions), built in {seconds:.1f} s; the build learnt "
            f"{report.weights} {report.fusion}; threshold {report.threshold:.3f}\n"
        )
        print(f"dev evidence in the manifest: `{json.dumps(learnt['learnt'])}`\n")
        print("| weights (test split) | dense P@1 | lexical P@1 | hybrid P@1 | hybrid MRR |")
        print("| --- | --- | --- | --- | --- |")
        default = DEFAULT_WEIGHTS
        for name, w in (
            (f"learnt by the build {_short(kb.weights)}", kb.weights),
            (
                f"the learnt w alone {_short(dataclasses.replace(kb.weights, faq_title=0.0))}",
                dataclasses.replace(kb.weights, faq_title=0.0),
            ),
            (f"defaults, the old formula here {_short(default)}", default),
        ):
            rep = evaluate_queries(kb.with_options(weights=w), embedder, splits["test"])
            dense, lexical, hybrid = rep.legs
            print(
                f"| {name} | {dense.p_at_1:.3f} | {lexical.p_at_1:.3f} | {hybrid.p_at_1:.3f} | "
                f"{hybrid.mrr:.3f} |"
            )
        print()


def _short(w: FusionWeights) -> str:
    return f"(w={w.dense}, FAQ title {w.faq_title})"


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


# --- the example bot --------------------------------------------------------------------------


def bench_example(args: argparse.Namespace) -> None:
    embedder = Embedder(threads=args.threads)
    embedder.load()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(REPO / "kb", Path(tmp) / "kb")
        report = build_index(Path(tmp) / "kb", Path(tmp) / "kb_index", embedder, progress=False)
        kb = KnowledgeBase.load(Path(tmp) / "kb_index", model_id=embedder.model_id)
    queries = [LabelledQuery(q, frozenset(ids)) for q, ids in EXAMPLE_QUESTIONS.items()]
    print(f"## The example bot's kb/ ({len(queries)} section questions)\n")
    print(f"index: {report}\n")
    rep = evaluate_queries(kb, embedder, queries)
    print("| leg | P@1 | MRR |")
    print("| --- | --- | --- |")
    for leg in rep.legs:
        print(f"| {leg.mode} | {leg.p_at_1:.3f} | {leg.mrr:.3f} |")
    w = kb.weights
    print(f"\n### Title weights (hybrid P@1 / MRR at the learnt w={w.dense})\n")
    print("| section title weight | lexical title 0 | 0.25 | 0.5 | 0.75 |")
    print("| --- | --- | --- | --- | --- |")
    for a in (0.0, 0.3, 0.5, 0.7):
        cells = []
        for t in (0.0, 0.25, 0.5, 0.75):
            variant = kb.with_options(
                weights=dataclasses.replace(w, section_title=a, lexical_title=t)
            )
            h = _hybrid(evaluate_queries(variant, embedder, queries))
            cells.append(f"{h.p_at_1:.3f} / {h.mrr:.3f}")
        print(f"| {a} | " + " | ".join(cells) + " |")
    print("\n### Password questions, top two\n")
    for q in list(EXAMPLE_QUESTIONS)[:5]:
        hits = kb.search(q, embedder.encode([q])[0], top_k=2)
        print(f"- {q!r}: " + ", ".join(f"`{h.id.split('#')[-1]}` {h.score:.3f}" for h in hits))
    vectors = embedder.encode([q.query for q in queries])
    for name, call in (
        ("search (top 5)", lambda q, v: kb.search(q, v, top_k=5)),
        ("consult (answer + top 3)", lambda q, v: kb.consult(q, v, top_k=3)),
    ):
        times = []
        for _ in range(20):
            for q, v in zip(queries, vectors, strict=True):
                started = time.perf_counter()
                call(q.query, v)
                times.append(time.perf_counter() - started)
        p50, p99 = np.percentile(times, [50, 99]) * 1000
        print(f"\n{name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms (query already encoded)")
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
    p.add_argument("--encoder", default="onnx-int8", choices=["onnx-int8", "onnx", "torch"])
    p = sub.add_parser("example")
    p.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("scale")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--topics", type=int, default=2000)
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("build")
    p.add_argument("--chunks", type=int, default=4000)
    p.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    parts = {
        "covidfaq": bench_covidfaq,
        "example": bench_example,
        "scale": bench_scale,
        "build": bench_build,
    }
    parts[args.part](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
