"""`GET /metrics` as Prometheus reads it: every family parses, and the figures follow the turns,
handoffs, deliveries and reloads that happened."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from botsvc.embedding import Embedder
from tests.api.test_api import ADMIN
from tests.conftest import say
from tests.receiver import Receiver

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(example_app: Any, sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with example_app(sqlite_url, delivery_backoff_base_s=0.05) as c:
        yield c


async def _samples(
    client: httpx.AsyncClient,
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples.get((name, frozenset(labels.items())), 0.0)  # type: ignore[no-any-return]


async def test_the_metrics_follow_turns_handoffs_deliveries_and_reloads(
    client: httpx.AsyncClient, receiver: Receiver, embedder: Embedder
) -> None:
    receiver.statuses = [503]  # the helpdesk's first answer is an outage: one retry
    kb = await say(client, "m-1", "do you ship to canada?")
    lost = await say(client, "m-2", "blorp zindle quaffed the marmoset")
    human = await say(client, "m-3", "I want to talk to a human")
    assert kb["handled_by"] == "kb" and human["handled_by"] == "human"
    assert lost["handled_by"] == "fallback"
    await asyncio.to_thread(receiver.wait_for, 2, event="handoff.created")
    # the receiver has the second attempt; the dispatcher records it a moment later
    for _ in range(100):
        got = await _samples(client)
        if _value(got, "botsvc_webhook_delivery_attempts_total", outcome="delivered"):
            break
        await asyncio.sleep(0.1)

    turns = {hb: _value(got, "botsvc_turns_total", handled_by=hb) for hb in ("kb", "human")}
    assert turns == {"kb": 1.0, "human": 1.0}
    assert _value(got, "botsvc_fallbacks_total") == 1.0
    reason, priority = human["handoff"]["reason"], human["handoff"]["priority"]
    assert _value(got, "botsvc_handoffs_total", reason=reason, priority=priority) == 1.0
    # every answered turn timed its stages; only the KB question reached the knowledge base
    assert _value(got, "botsvc_turn_stage_seconds_count", stage="encode") == 3.0
    assert _value(got, "botsvc_turn_stage_seconds_count", stage="total") == 3.0
    assert _value(got, "botsvc_turn_stage_seconds_count", stage="kb") >= 1.0
    assert _value(got, "botsvc_webhook_delivery_attempts_total", outcome="retry") == 1.0
    assert _value(got, "botsvc_webhook_delivery_attempts_total", outcome="delivered") == 1.0
    assert _value(got, "botsvc_outbox_rows", status="delivered") == 1.0
    assert _value(got, "botsvc_outbox_oldest_undelivered_age_seconds") == 0.0
    [info] = [k for k in got if k[0] == "botsvc_build_info"]
    assert ("encoder", embedder.model_id) in info[1]

    assert (await client.post("/admin/reload", headers=ADMIN)).status_code == 200
    after = await _samples(client)
    assert _value(after, "botsvc_reloads_total", result="ok") == 1.0
    assert _value(after, "botsvc_reloads_total", result="invalid") == 0.0


async def test_an_undelivered_webhook_shows_its_age(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.stop()  # the helpdesk is down: the handoff waits in the outbox
    await say(client, "m-4", "I want to talk to a human")
    await asyncio.sleep(1.2)
    got = await _samples(client)
    waiting = sum(
        _value(got, "botsvc_outbox_rows", status=s) for s in ("pending", "retry", "in_flight")
    )
    assert waiting == 1.0
    assert _value(got, "botsvc_outbox_oldest_undelivered_age_seconds") >= 1.0
