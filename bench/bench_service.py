"""Service start-up and time per message, over real HTTP, on the example bot.

    .venv/bin/python bench/bench_service.py [--messages 200] [--clients 8]

Starts `botsvc serve` as a process (SQLite in a temp dir), times how long until /readyz answers,
then posts a realistic mix of messages one at a time (p50/p99 per message, bare encode beside it)
and from several clients at once (messages/s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
TEXTS = [
    "how do I reset my password?",
    "where is my order NW-482913",
    "do you ship to Canada?",
    "what payment methods do you accept",
    "my photos are not syncing on my iphone",
    "I was charged twice this month",
    "how long do refunds take?",
    "hello",
    "can I change my plan to business",
    "what's your returns policy",
]


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def sequential(base: str, n: int) -> list[float]:
    out = []
    async with httpx.AsyncClient(timeout=30) as c:
        for i in range(n):
            t = time.perf_counter()
            r = await c.post(
                f"{base}/v1/conversations/seq-{i}/messages", json={"text": TEXTS[i % len(TEXTS)]}
            )
            r.raise_for_status()
            out.append((time.perf_counter() - t) * 1000)
    return out


async def concurrent(base: str, n: int, clients: int) -> float:
    async with httpx.AsyncClient(timeout=60) as c:

        async def client(k: int) -> None:
            for i in range(n // clients):
                r = await c.post(
                    f"{base}/v1/conversations/con-{k}-{i}/messages",
                    json={"text": TEXTS[(i + k) % len(TEXTS)]},
                )
                r.raise_for_status()

        t = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(clients)))
        return n / (time.perf_counter() - t)


def bare_encode(n: int) -> list[float]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    from botsvc.embedding import Embedder

    e = Embedder()
    e.load()
    e.encode(["warm up"])
    out = []
    for i in range(n):
        t = time.perf_counter()
        e.encode([TEXTS[i % len(TEXTS)]])
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    port = 8765
    tmp = tempfile.mkdtemp()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "BOTSVC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/b.db",
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "botsvc",
            "serve",
            "--project",
            str(REPO),
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        startup = time.perf_counter() - started
        seq = asyncio.run(sequential(base, args.messages))
        rate = asyncio.run(concurrent(base, args.messages, args.clients))
    finally:
        proc.terminate()
        proc.wait(20)
    enc = bare_encode(args.messages)
    print(
        f"machine: {os.cpu_count()} cores; command: python bench/bench_service.py "
        f"--messages {args.messages} --clients {args.clients} --workers {args.workers}"
    )
    print(f"start-up to /readyz: {startup:.1f} s")
    print(
        "one client, per message over HTTP: "
        f"p50 {statistics.median(seq):.1f} ms, p99 {percentile(seq, 99):.1f} ms"
    )
    print(
        "bare model.encode of one message:  "
        f"p50 {statistics.median(enc):.1f} ms, p99 {percentile(enc, 99):.1f} ms"
    )
    print(f"{args.clients} clients: {rate:.0f} messages/s")


if __name__ == "__main__":
    main()
