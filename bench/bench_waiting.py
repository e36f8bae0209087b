"""What waiting clients cost: N long-polls and N event streams open on one process (SQLite), the
store statements run while they idle, and a customer turn's latency beside them.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_waiting.py --clients 200
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.engine import Engine

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from botsvc.config import Settings  # noqa: E402
from botsvc.embedding import Embedder  # noqa: E402
from botsvc.project import prepare_project  # noqa: E402
from tests.served import serve  # noqa: E402


async def turn_latencies(client: httpx.AsyncClient, n: int, prefix: str) -> list[float]:
    """`n` new conversations' first turns, one after another."""
    out = []
    for i in range(n):
        started = time.perf_counter()
        r = await client.post(
            f"/v1/conversations/{prefix}-{i}/messages", json={"text": "hello there"}
        )
        assert r.status_code == 200, r.text
        out.append((time.perf_counter() - started) * 1000)
    return out


async def run(clients: int, idle_s: float) -> dict[str, Any]:
    embedder = Embedder(None)
    embedder.load()
    prepare_project(REPO, embedder, progress=False)
    statements: list[str] = []
    lock = threading.Lock()

    def count(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        with lock:
            statements.append(statement)

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            project_dir=REPO, database_url=f"sqlite+aiosqlite:///{tmp}/b.db", run_dispatcher=False
        )
        with serve(settings, embedder) as url:
            limits = httpx.Limits(max_connections=3 * clients + 10)
            async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as c:
                quiet = await turn_latencies(c, 30, "quiet")
                r = await c.post("/v1/conversations/w/messages", json={"text": "hi"})
                token = r.json()["conversation_token"]
                head = {"x-conversation-token": token}
                after = (await c.get("/v1/conversations/w", headers=head)).json()["messages"]
                seen = after[-1]["seq"]
                polls = [
                    asyncio.create_task(
                        c.get(f"/v1/conversations/w/events?after={seen}&timeout=55", headers=head)
                    )
                    for _ in range(clients)
                ]

                async def stream() -> None:
                    async with c.stream(
                        "GET", f"/v1/conversations/w/stream?token={token}&after={seen}"
                    ) as s:
                        async for _ in s.aiter_lines():
                            pass

                streams = [asyncio.create_task(stream()) for _ in range(clients)]
                # connecting: each client makes its first reads; wait until a second passes
                # without any statement, then count over the idle window
                event.listen(Engine, "before_cursor_execute", count)
                connecting = time.perf_counter()
                while True:
                    before = len(statements)
                    await asyncio.sleep(1.0)
                    if len(statements) == before:
                        break
                settle_s = time.perf_counter() - connecting
                connect_statements = len(statements)
                await asyncio.sleep(idle_s)
                idle_statements = len(statements) - connect_statements
                event.remove(Engine, "before_cursor_execute", count)
                busy = await turn_latencies(c, 30, "busy")
                for t in polls + streams:
                    t.cancel()
                await asyncio.gather(*polls, *streams, return_exceptions=True)
    return {
        "clients": clients,
        "idle_s": idle_s,
        "connect_statements": connect_statements,
        "settle_s": round(settle_s, 1),
        "idle_statements": idle_statements,
        "turn_p50_quiet_ms": round(statistics.median(quiet), 1),
        "turn_p50_waiting_ms": round(statistics.median(busy), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=200, help="long-polls, and as many streams")
    ap.add_argument("--idle", type=float, default=10.0)
    args = ap.parse_args()
    print(asyncio.run(run(args.clients, args.idle)))


if __name__ == "__main__":
    main()
