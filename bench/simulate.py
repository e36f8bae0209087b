"""Simulation: a few thousand realistic conversations through the real service, for the figures,
the dashboard and the clusters of unanswered questions.

    .venv/bin/python bench/simulate.py [--conversations 2000] [--concurrency 16] [--seed 0]
        [--keep DIR]

Starts the example bot (`botsvc serve`, SQLite in a temporary folder or DIR), its rasa-sdk action
server and a helpdesk webhook receiver (bench_load.py's `start`), then plays conversations drawn
from bench_load.py's scripts (flows of several turns, KB questions, small talk, handoffs) and
from questions about four topics the bot knows nothing of (gift wrapping, loyalty points, price
matching, in-store pickup), planted for the clusters to find. Customers come from a pool, so
some come back; a person answers and resolves most handoffs through the helpdesk API, customers
rate some of them, and some KB answers get "was this helpful?".

Then it checks what ops would read: `GET /admin/figures` against `botsvc report --json` on the same
store (they must agree), and `GET /admin/unanswered` against the planted topics (each must come
back as one cluster holding most of its questions). With --keep, the store stays in DIR for
`botsvc report` or the dashboard (`BOTSVC_DATABASE_URL=sqlite+aiosqlite:///DIR/load.db`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_load  # noqa: E402  (the scripts, the fleet and its start-up)

REPO = bench_load.REPO
ADMIN = {"Authorization": "Bearer sim-admin"}
SERVER = {"Authorization": "Bearer sim-server"}  # a site's back end: its customer ids are trusted
HELPDESK = {"Authorization": "Bearer sim-helpdesk"}
PLANTED = {
    "gift wrapping": [
        "can you gift wrap my order",
        "do you offer gift wrapping?",
        "is gift wrapping available",
        "can I add gift wrapping to my parcel",
        "gift wrap option??",
        "could you wrap it as a present",
        "do you do gift wraping",
        "I want the headphones gift wrapped",
        "can I get my order wrapped for a birthday",
        "is there a gift wrapping service",
    ],
    "loyalty points": [
        "how do I use my loyalty points",
        "where can I see my reward points",
        "do loyalty points expire",
        "can I redeem points at checkout",
        "how many bonus points do I have",
        "how do i get loyalty points",
        "my reward points are missing",
        "how much are my points worth",
        "loyality points balance",
        "do I earn points on every order",
    ],
    "price match": [
        "do you price match",
        "I found it cheaper elsewhere, can you match the price",
        "do you have a price match guarantee",
        "will you beat a competitor's price",
        "can you match amazon's price",
        "price matching policy?",
        "another shop sells it for less, will you match",
        "do u price match",
    ],
    "store pickup": [
        "can I pick up my order in store",
        "is click and collect available",
        "can I collect my parcel from a shop",
        "store pickup option?",
        "do you have a store where I can collect it",
        "can i pick it up myself instead of delivery",
        "click & collect?",
        "pick up in person possible?",
    ],
}
KEYS = ("conversations", "engaged", "containment_rate", "escalation_rate", "fcr_rate", "csat")
KEYS += ("fallback_rate", "helpful", "handoffs_by_reason", "intents", "funnel")


class Sim:
    def __init__(self, session: aiohttp.ClientSession, base: str, rnd: random.Random) -> None:
        self.session, self.base, self.rnd = session, base, rnd
        self.counts: Counter[str] = Counter()

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, json=body, headers=headers) as r:
            ctype = r.headers.get("content-type", "")
            data = await r.json() if ctype.startswith("application/json") else await r.text()
            return r.status, data

    async def conversation(self, i: int, customers: int) -> None:
        rnd = self.rnd
        conv = f"sim-{i}"
        customer = {"id": f"customer-{rnd.randrange(customers)}"}
        if rnd.random() < 0.12:
            topic = rnd.choice(list(PLANTED))
            texts, kind = [rnd.choice(PLANTED[topic])], "planted"
        else:
            script = rnd.choices(bench_load.SCRIPTS, [s.weight for s in bench_load.SCRIPTS])[0]
            texts, kind = [bench_load.fill(t, rnd) for t in script.turns], script.kind
        self.counts[kind] += 1
        handoff: str | None = None
        for text in texts:
            status, out = await self.call(
                "POST",
                f"/v1/conversations/{conv}/messages",
                {"text": text, "customer": customer, "channel": rnd.choice(["web", "web", "app"])},
                SERVER,
            )
            if status != 200:
                self.counts[f"error {status}"] += 1
                return
            handoff = handoff or (out["handoff"] or {}).get("id")
            self.counts[f"handled by {out['handled_by']}"] += 1
            # an answer off the point is marked so more often than a right one
            rate = 0.8 if kind == "planted" else 0.3
            if out["handled_by"] in ("kb", "flow") and rnd.random() < rate:
                helpful = kind != "planted" and rnd.random() < 0.75
                url = f"/v1/conversations/{conv}/turns/{out['turn_id']}/feedback"
                await self.call("POST", url, {"helpful": helpful}, SERVER)
        if handoff is not None:
            await self.helpdesk(conv, handoff)

    async def helpdesk(self, conv: str, handoff: str) -> None:
        rnd = self.rnd
        if rnd.random() < 0.85:
            body = {
                "text": "Hi, Kim here, I'm looking into it.",
                "agent": {"id": "kim", "name": "Kim"},
            }
            await self.call("POST", f"/v1/handoffs/{handoff}/messages", body, HELPDESK)
            if rnd.random() < 0.9:
                await self.call("POST", f"/v1/handoffs/{handoff}/resolve", {}, HELPDESK)
                self.counts["resolved"] += 1
        if rnd.random() < 0.5:
            score = rnd.choices([1, 2, 3, 4, 5], [1, 1, 2, 4, 6])[0]
            await self.call("POST", f"/v1/conversations/{conv}/rating", {"score": score}, SERVER)
            self.counts["rated"] += 1


async def play(args: argparse.Namespace, base: str) -> Sim:
    rnd = random.Random(args.seed)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        sim = Sim(session, base, rnd)
        queue = list(range(args.conversations))
        started = time.perf_counter()

        async def worker() -> None:
            while queue:
                i = queue.pop()
                await sim.conversation(i, customers=max(1, args.conversations // 3))
                done = args.conversations - len(queue)
                if done % 250 == 0:
                    print(f"  {done} conversations, {time.perf_counter() - started:.0f} s")

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        print(f"played {args.conversations} conversations in {time.perf_counter() - started:.0f} s")
        print("  " + ", ".join(f"{k} {n}" for k, n in sorted(sim.counts.items())))
    return sim


async def check(base: str, db_url: str) -> int:
    """Returns the number of problems found (0: the figures agree, every topic was found)."""
    problems = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as s:
        async with s.get(f"{base}/admin/figures?since=1d", headers=ADMIN) as r:
            api = await r.json()
        t = time.perf_counter()
        async with s.get(f"{base}/admin/unanswered?since=1d", headers=ADMIN) as r:
            clusters = (await r.json())["clusters"]
        cluster_s = time.perf_counter() - t
    env = {**os.environ, "BOTSVC_DATABASE_URL": db_url, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "botsvc", "report", "--json", "--since", "1d"]
    cli = json.loads(
        subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, check=True, text=True).stdout
    )
    for key in KEYS:
        same = cli[key] == api[key]
        problems += not same
        print(f"  {key:20} {'agrees' if same else 'DIFFERS'}: {json.dumps(api[key])[:90]}")
    print(f"unanswered: {len(clusters)} clusters in {cluster_s:.1f} s; the planted topics:")
    for topic, questions in PLANTED.items():
        best = max(clusters, key=lambda c: len(set(c["examples"]) & set(questions)), default=None)
        hits = set(best["examples"]) & set(questions) if best else set()
        strangers = [e for e in (best or {}).get("examples", []) if e not in questions]
        print(
            f"  {topic:15} -> {best['label'] if best else '-'!r} ({best['size'] if best else 0} "
            f"messages; {len(hits)} of its {len(questions)} phrasings; "
            f"{len(strangers)} other questions among its examples)"
        )
        problems += len(hits) < len(questions) // 2
    return problems


async def amain(args: argparse.Namespace, fleet: bench_load.Fleet) -> int:
    os.environ.update(
        BOTSVC_ADMIN_TOKEN="sim-admin",
        BOTSVC_HELPDESK_TOKEN="sim-helpdesk",
        BOTSVC_SERVER_KEYS="sim-server",
        HF_HUB_OFFLINE="1",
    )
    opts = argparse.Namespace(target="single", encoder=None, no_actions=False, workers=1)
    events: Counter[str] = Counter()
    [base] = await bench_load.start(opts, fleet, events)
    await play(args, base)
    db_url = f"sqlite+aiosqlite:///{fleet.tmp / 'load.db'}"
    problems = await check(base, db_url)
    print(f"webhooks received: {dict(events)}")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conversations", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", help="keep the store (load.db) and the logs in this folder")
    args = ap.parse_args()
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="simulate_"))
    tmp.mkdir(parents=True, exist_ok=True)
    fleet = bench_load.Fleet(tmp)
    try:
        problems = asyncio.run(amain(args, fleet))
    finally:
        fleet.stop()
    print("OK" if problems == 0 else f"{problems} problem(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
