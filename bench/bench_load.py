"""Load harness: realistic conversations against the HTTP API at several concurrency levels.

    .venv/bin/python bench/bench_load.py [--target single|replicas] [--url URL ...]
        [--conversations 1,8,32,256] [--seconds 20] [--warmup 3] [--think-ms 0] [--workers N]
        [--encoder onnx-int8|onnx|torch] [--parse] [--texts FILE] [--show-scripts]
        [--no-actions] [--json PATH]

Closed loop: each of C virtual users plays one script after another (a new conversation each),
turn by turn, waiting for every reply; a non-2xx abandons the conversation (after Retry-After, at
most 2 s). Per level: turns/s, p50/p99, errors by status, conversations completed, Server-Timing
stages, CPU per turn of this client and of the server(s), and a transcript check. The bare encode
of the same texts is timed in this process before the load; the model is freed before it starts.

Client: it shares the 2 cores with the server, so it must cost little per request. aiohttp, one
ClientSession with one keep-alive TCPConnector sized to the concurrency, spends a fraction of a ms
of CPU per request (printed as "cpu c"); httpx spends several times more, which would be taken
from the server and understate its throughput.

Targets: `single` (one `botsvc serve`, SQLite in a temp dir), `replicas` (two on a fresh PostgreSQL
database, dropped at the end; requests alternate replicas per request, a load balancer without
stickiness) or `--url` (running servers). The first two also get the example bot's rasa-sdk action
server (actions/) and a helpdesk webhook receiver (in this process, answering 200).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import gc
import itertools
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
ORDERS = ["NW-482913", "NW-553201", "NW-330187", "NW-447120", "NW-615042", "NW-274635"]
REFUNDABLE = ["NW-100234", "NW-553201", "NW-000981", "NW-888310", "NW-193847"]


@dataclass
class Script:
    name: str
    kind: str  # flow, kb, smalltalk, handoff
    weight: int
    turns: list[str]


# From flows/*.yml, kb/ and tests/conversations/: "kind weight name", then its turns indented,
# separated by " | ".
# {order} / {refund} take a real order number from actions/orders.json per conversation. The texts
# within one script are distinct (the transcript check finds each by its text).
SCRIPT_TEXT = """
flow 10 order status
  hey, where's my package? ordered some headphones last week | it's {order} | great, thanks!
flow 5 order status, changes mind
  I'd like an update on my delivery please | hmm, never mind, forget it
  how long does delivery take to the UK?
flow 8 refund, mistyped number
  I'd like my money back for my last order | NW48291 | sorry, it's {refund} | thank you
flow 6 password reset
  I can't get into my account, forgot the password | lena.k@example.de | yes please
flow 5 change plan
  can I change my plan to a bigger one? | Plus | thx
flow 6 sync problem
  my phone stopped backing up pictures | Android | yes it works now | bye
kb 18 returns and shipping
  how long do refunds take? | are returns free? | do you ship to canda?
  how much is shiping to the US
kb 17 billing and account
  what payment methods do you acept | I was charged twice this month
  how long is the password reset link valid? | is my data encrypted
smalltalk 15 small talk
  hi | are you a bot? | thanks a lot | bye bye
handoff 10 handoff
  I want to talk to a person | my order {refund} arrived damaged | hello? is anyone there?
"""


def read_scripts(text: str) -> list[Script]:
    out: list[Script] = []
    for line in text.strip("\n").splitlines():
        if line.startswith("  "):
            out[-1].turns += [t.strip() for t in line.split(" | ")]
        else:
            kind, weight, name = line.split(" ", 2)
            out.append(Script(name, kind, int(weight), []))
    return out


SCRIPTS = read_scripts(SCRIPT_TEXT)


def fill(text: str, rnd: random.Random) -> str:
    return text.format(order=rnd.choice(ORDERS), refund=rnd.choice(REFUNDABLE))


def distinct_texts() -> list[str]:
    rnd = random.Random(0)
    return list(dict.fromkeys(fill(t, rnd) for s in SCRIPTS for t in s.turns))


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


@dataclass
class Played:
    conv_id: str
    token: str | None = None
    sent: list[str] = field(default_factory=list)  # texts answered 2xx, in order


@dataclass
class Level:
    leg: str
    conversations: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    stages: dict[str, list[float]] = field(default_factory=dict)
    handled_by: Counter[str] = field(default_factory=Counter)
    completed: int = 0
    played: list[Played] = field(default_factory=list)
    check: dict[str, int] = field(default_factory=dict)
    client_cpu_ms: float = 0.0
    server_cpu_ms: float = 0.0

    def summary(self) -> dict[str, Any]:
        n = len(self.latencies)
        keys = ("leg", "conversations", "seconds", "completed", "check", "errors", "handled_by")
        out: dict[str, Any] = {k: getattr(self, k) for k in keys}
        out |= dict(requests=n, per_s=n / self.seconds if self.seconds else 0.0)
        out |= dict(p50_ms=pct(self.latencies, 50), p99_ms=pct(self.latencies, 99))
        out["stages"] = {k: {"p50": pct(v, 50), "p99": pct(v, 99)} for k, v in self.stages.items()}
        out["client_cpu_ms_per_req"] = self.client_cpu_ms / n if n else None
        out["server_cpu_ms_per_req"] = self.server_cpu_ms / n if n and self.server_cpu_ms else None
        return out


def parse_server_timing(header: str, into: dict[str, list[float]]) -> None:
    for part in header.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        for p in params:
            if p.startswith("dur="):
                with contextlib.suppress(ValueError):
                    into.setdefault(name, []).append(float(p[4:]))


class Client:
    """Round-robin over the servers, per request; records into `level` only while `recording`."""

    def __init__(self, session: aiohttp.ClientSession, bases: list[str], level: Level) -> None:
        self.session, self.bases, self.level = session, itertools.cycle(bases), level
        self.recording = False

    async def post(self, path: str, body: dict[str, Any], token: str | None) -> dict[str, Any]:
        headers = {"X-Conversation-Token": token} if token else None
        t = time.perf_counter()
        try:
            async with self.session.post(next(self.bases) + path, json=body, headers=headers) as r:
                data = await r.json() if r.status < 300 else None
                ms = (time.perf_counter() - t) * 1000
                if self.recording:
                    if data is None:
                        self.level.errors[str(r.status)] += 1
                    else:
                        self.level.latencies.append(ms)
                        if st := r.headers.get("Server-Timing"):
                            parse_server_timing(st, self.level.stages)
                if data is None and (retry := r.headers.get("Retry-After")):
                    with contextlib.suppress(ValueError):
                        await asyncio.sleep(min(float(retry), 2.0))
                return data or {"status": r.status}
        except (TimeoutError, aiohttp.ClientError) as exc:
            if self.recording:
                self.level.errors[type(exc).__name__] += 1
            return {"status": type(exc).__name__}


async def user(client: Client, k: int, run: str, stop: asyncio.Event, think_s: float) -> None:
    rnd = random.Random(k)
    weights = [s.weight for s in SCRIPTS]
    for n in itertools.count():
        script = rnd.choices(SCRIPTS, weights)[0]
        played = Played(f"load-{run}-{client.level.conversations}-{k}-{n}")
        client.level.played.append(played)
        for i, text in enumerate(fill(t, rnd) for t in script.turns):
            if stop.is_set():
                return
            body: dict[str, Any] = {"text": text}
            if i == 0:
                body["customer"] = {"id": f"cust-{run}-{k}-{n}"}
            out = await client.post(
                f"/v1/conversations/{played.conv_id}/messages", body, played.token
            )
            if "turn_id" not in out:
                break  # abandoned: a real widget would show an error
            played.sent.append(text)
            played.token = played.token or out.get("conversation_token")
            if client.recording:
                client.level.handled_by[out.get("handled_by", "?")] += 1
            if think_s:
                await asyncio.sleep(think_s)
        else:
            if client.recording:
                client.level.completed += 1


async def parse_user(client: Client, k: int, texts: list[str], stop: asyncio.Event) -> None:
    for i in itertools.count(k * 7919):
        if stop.is_set():
            return
        await client.post("/v1/nlu/parse", {"text": texts[i % len(texts)]}, None)


async def check(
    session: aiohttp.ClientSession, bases: list[str], sample: list[Played]
) -> dict[str, int]:
    res: Counter[str] = Counter(lost=0, out_of_order=0, duplicated=0, extra=0, get_failed=0)
    for k, p in enumerate(sample):
        headers = {"X-Conversation-Token": p.token} if p.token else {}
        async with session.get(
            f"{bases[k % len(bases)]}/v1/conversations/{p.conv_id}", headers=headers
        ) as r:
            if r.status != 200:
                res["get_failed"] += 1
                continue
            got = [m["text"] for m in (await r.json())["messages"] if m["role"] == "customer"]
        res["lost"] += sum(1 for t in p.sent if t not in got)
        res["duplicated"] += sum(1 for t in p.sent if got.count(t) > 1)
        res["extra"] += sum(1 for t in got if t not in p.sent)  # a non-2xx stored after all
        pos = [got.index(t) for t in p.sent if t in got]
        res["out_of_order"] += sum(1 for a, b in itertools.pairwise(pos) if b < a)
    return dict(res, sampled=len(sample))


def cpu_ms(pgids: list[int]) -> float:
    """utime+stime of every process in these process groups (the servers and their workers)."""
    total, tick = 0, os.sysconf("SC_CLK_TCK")
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                f = (d / "stat").read_text().rsplit(")", 1)[1].split()
                if int(f[2]) in pgids:
                    total += int(f[11]) + int(f[12])
    return total * 1000 / tick


@dataclass
class Run:
    args: argparse.Namespace
    bases: list[str]
    texts: list[str]  # for the parse leg
    pgids: list[int]  # the servers' process groups, for their CPU time
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:6])


async def run_level(leg: str, c: int, r: Run) -> Level:
    level, stop, args, bases = Level(leg, c), asyncio.Event(), r.args, r.bases
    connector = aiohttp.TCPConnector(limit=c + 4, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        client = Client(session, bases, level)
        if leg == "turns":
            tasks = [
                asyncio.create_task(user(client, k, r.run, stop, args.think_ms / 1000))
                for k in range(c)
            ]
        else:
            tasks = [asyncio.create_task(parse_user(client, k, r.texts, stop)) for k in range(c)]
        try:
            await asyncio.sleep(args.warmup)
            client.recording, t0 = True, time.perf_counter()
            cpu0, scpu0 = time.process_time(), cpu_ms(r.pgids)
            await asyncio.sleep(args.seconds)
            client.recording, level.seconds = False, time.perf_counter() - t0
            level.client_cpu_ms = (time.process_time() - cpu0) * 1000
            level.server_cpu_ms = cpu_ms(r.pgids) - scpu0
            stop.set()
            await asyncio.wait(tasks, timeout=90)
        finally:  # also on Ctrl-C: no user may outlive the session
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if leg == "turns":
            played = [p for p in level.played if p.sent]
            sample = random.Random(c).sample(played, min(50, len(played)))
            level.check = await check(session, bases, sample)
    return level


def bare_encode(backend: str | None) -> dict[str, Any]:
    from botsvc.embedding import Embedder

    kw: dict[str, Any] = {"backend": backend} if backend else {}
    e = Embedder(cache_dir=REPO / "models" / "encoder", **kw)
    e.load()
    texts = distinct_texts()
    e.encode(texts[:4])  # warm-up
    one = []
    for _ in range(5):
        for t in texts:
            s = time.perf_counter()
            e.encode([t])
            one.append((time.perf_counter() - s) * 1000)
    batch = (texts * 32)[:32]
    per = []
    for _ in range(10):
        s = time.perf_counter()
        e.encode(batch)
        per.append((time.perf_counter() - s) * 1000 / 32)
    out = dict(backend=e.backend, texts=len(texts), one_p50_ms=pct(one, 50))
    out |= dict(one_p99_ms=pct(one, 99), batch32_ms_per_text=pct(per, 50))
    del e
    gc.collect()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StartError(Exception):
    pass


class Fleet:
    """What this harness starts: processes (each in a process group of its own), a database."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.db = tmp, ""
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        log = (self.tmp / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    async def admin(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def ready(self, name: str, url: str) -> None:
        t, p = time.perf_counter(), self.procs[name]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as s:
            while p.poll() is None and time.perf_counter() - t < 300:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with s.get(url) as r:
                        if r.status == 200:
                            print(f"{name} ({url}): ready in {time.perf_counter() - t:.1f} s")
                            return
                await asyncio.sleep(0.2)
        raise StartError(f"{name} not ready (exit code {p.poll()}); see {self.tmp}/{name}.log")

    def stop(self) -> None:
        for p in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if self.db:
            asyncio.run(self.admin(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)'))


async def start(args: argparse.Namespace, fleet: Fleet, events: Counter[str]) -> list[str]:
    """The helpdesk receiver (here), the action server and the server(s); their base URLs."""
    # one client address sends everything here: the per-key rate limit would measure itself
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "BOTSVC_RATE_PER_KEY": "0"}
    if args.encoder:
        env["BOTSVC_ENCODER"] = args.encoder
    env["BOTSVC_DATABASE_URL"] = f"sqlite+aiosqlite:///{fleet.tmp / 'load.db'}"
    if args.target == "replicas":
        fleet.db = f"load_{uuid.uuid4().hex[:10]}"
        await fleet.admin(f'CREATE DATABASE "{fleet.db}"')
        env["BOTSVC_DATABASE_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{fleet.db}"

    async def hook(request: web.Request) -> web.Response:
        events[request.headers.get("X-Botsvc-Event", "?")] += 1
        await request.read()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    env["BOTSVC_HANDOFF_WEBHOOK_URL"] = f"http://127.0.0.1:{port}/hook"
    waits: dict[str, str] = {}
    print(f"logs in {fleet.tmp}")
    if not args.no_actions:
        port = free_port()
        cmd = [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "-p", str(port)]
        fleet.spawn("actions", cmd, {**env, "PYTHONPATH": str(REPO), "SANIC_WORKERS": "1"})
        env["BOTSVC_ACTION_ENDPOINT"] = f"http://127.0.0.1:{port}/webhook"
        waits["actions"] = f"http://127.0.0.1:{port}/health"
    ready: set[str] = set()
    for i in range(2 if args.target == "replicas" else 1):
        port = free_port()
        cmd = [sys.executable, "-m", "botsvc", "serve", "--project", str(REPO)]
        cmd += ["--port", str(port), "--workers", str(args.workers)]
        fleet.spawn(f"server{i}", cmd, {**env, "BOTSVC_PUBLIC_URL": f"http://127.0.0.1:{port}"})
        waits[f"server{i}"] = f"http://127.0.0.1:{port}/readyz"
        # one at a time: replicas first started together on an empty PostgreSQL database race
        # to create the tables (CREATE TABLE fails with a unique violation on pg_type)
        await asyncio.gather(*(fleet.ready(n, u) for n, u in waits.items() if n not in ready))
        ready.update(waits)
    return [u.removesuffix("/readyz") for n, u in waits.items() if n.startswith("server")]


async def show_scripts(bases: list[str]) -> None:
    rnd = random.Random(1)
    async with aiohttp.ClientSession() as session:
        client = Client(session, bases, Level("show", 1))
        for s in SCRIPTS:
            conv, token = f"load-show-{uuid.uuid4().hex[:6]}", None
            print(f"-- {s.name} ({s.kind})")
            for text in (fill(t, rnd) for t in s.turns):
                out = await client.post(f"/v1/conversations/{conv}/messages", {"text": text}, token)
                token = token or out.get("conversation_token")
                intent, flow = out.get("intent") or {}, out.get("flow") or {}
                reply = " | ".join(m["text"] for m in out.get("messages", []))[:70]
                print(
                    f"  {text[:45]:45} {out.get('handled_by', out.get('status'))!s:8} "
                    f"{intent.get('name', '-')}/{flow.get('id', '-')}: {reply}"
                )


def read_texts(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        if path.endswith(".csv"):
            rows = [r[0] for r in csv.reader(f) if r and r[0].strip()]
            return rows[1:] if rows and rows[0].strip().lower() == "text" else rows
        return [line.strip() for line in f if line.strip()]


def fmt_level(lv: dict[str, Any]) -> list[str]:
    errs = ",".join(f"{k}:{v}" for k, v in sorted(lv["errors"].items())) or "-"
    ck = lv["check"]
    chk = f"{ck['lost']}/{ck['out_of_order']}" if ck else "-"
    cpu = [lv["client_cpu_ms_per_req"], lv["server_cpu_ms_per_req"]]
    cpu_s = "/".join("-" if x is None else f"{x:.1f}" for x in cpu)
    lines = [
        f"{lv['leg']:6} {lv['conversations']:5} {lv['per_s']:8.1f} {lv['p50_ms']:8.1f} "
        f"{lv['p99_ms']:8.1f} {lv['completed'] if lv['leg'] == 'turns' else '-':>6} "
        f"{chk:>9} {cpu_s:>11}  {errs}"
    ]
    if lv["stages"]:
        lines.append(
            "       stages p50/p99 ms: "
            + ", ".join(f"{k} {v['p50']:.1f}/{v['p99']:.1f}" for k, v in lv["stages"].items())
        )
    if ck and (ck["duplicated"] or ck["extra"] or ck["get_failed"]):
        lines.append(f"       check: {ck}")
    return lines


async def amain(args: argparse.Namespace, fleet: Fleet, out: dict[str, Any]) -> None:
    events: Counter[str] = Counter()
    bases = args.url or await start(args, fleet, events)
    if args.show_scripts:
        await show_scripts(bases)
    pgids = [p.pid for n, p in fleet.procs.items() if n.startswith("server")]
    texts = read_texts(args.texts) if args.texts else distinct_texts()
    r = Run(args, bases, texts, pgids)
    levels = [int(x) for x in args.conversations.split(",")]
    print(
        f"{'leg':6} {'conv':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'done':>6} "
        f"{'lost/ooo':>9} {'cpu c/s ms':>11}  errors"
    )
    for leg in ["turns", "parse"] if args.parse else ["turns"]:
        for c in levels:
            lv = (await run_level(leg, c, r)).summary()
            out["levels"].append(lv)
            print("\n".join(fmt_level(lv)), flush=True)
    out["helpdesk_events"] = dict(events)
    if events:
        print(f"helpdesk webhook received: {dict(events)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", choices=["single", "replicas"], default="single")
    ap.add_argument("--url", action="append", help="already running server(s), round-robin")
    ap.add_argument("--conversations", default="1,8,32,256")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--think-ms", type=float, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--encoder", choices=["onnx-int8", "onnx", "torch"])
    ap.add_argument("--parse", action="store_true", help="also load /v1/nlu/parse")
    ap.add_argument("--texts", help="texts for --parse: one per line, or a CSV (first column)")
    ap.add_argument("--show-scripts", action="store_true", help="play each script once first")
    ap.add_argument("--no-actions", action="store_true", help="do not start the action server")
    ap.add_argument("--json", help="write every figure here")
    args = ap.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    cpu = platform.processor()
    with contextlib.suppress(OSError, StopIteration):
        info = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name"))
    cmd = " ".join([Path(sys.executable).name, *sys.argv])
    print(
        f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f} (other work on the machine skews the figures)"
    )
    print(f"command: {cmd}")
    enc = bare_encode(args.encoder)
    print(
        f"bare encode ({enc['backend']}, {enc['texts']} texts): one text p50 "
        f"{enc['one_p50_ms']:.2f} ms, p99 {enc['one_p99_ms']:.2f} ms; batch of 32 "
        f"{enc['batch32_ms_per_text']:.2f} ms per text"
    )
    machine = {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}
    out: dict[str, Any] = dict(machine=machine, command=cmd, target=args.url or args.target)
    out |= dict(load_average=os.getloadavg(), bare_encode=enc, levels=[])
    fleet = Fleet(Path(tempfile.mkdtemp(prefix="bench_load_")))
    try:
        asyncio.run(amain(args, fleet, out))
    except KeyboardInterrupt:
        print("interrupted: stopping the servers", file=sys.stderr)
    except StartError as exc:
        print(exc, file=sys.stderr)
        out["error"] = str(exc)
    finally:
        fleet.stop()
    for leg in dict.fromkeys(lv["leg"] for lv in out["levels"]):
        lv = min((x for x in out["levels"] if x["leg"] == leg), key=lambda x: x["conversations"])
        print(
            f"{leg} p50 at {lv['conversations']} client(s) / bare encode p50: "
            f"{lv['p50_ms'] / enc['one_p50_ms']:.1f}x"
        )
        out[f"{leg}_p50_over_encode"] = lv["p50_ms"] / enc["one_p50_ms"]
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    if "error" in out:
        sys.exit(1)


if __name__ == "__main__":
    main()
