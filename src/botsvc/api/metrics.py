"""The service's Prometheus metrics (`GET /metrics`), one registry per app.

Names and labels follow Prometheus' conventions (base units, `_total` counters, `_info` for
versions). Every label takes a bounded set of values: stages and outcomes are fixed lists,
`handled_by` and `priority` are closed sets, and `reason` is one of the escalation reasons or a
rule name from the project's own escalation file.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from botsvc import __version__
from botsvc.embedding import Embedder
from botsvc.project import Project
from botsvc.service import TurnResult
from botsvc.store import OutboxBacklog

# a turn's stages as the service times them (Server-Timing); flows and kb lie inside decide
STAGES = ("lock", "encode", "nlu", "flows", "kb", "decide", "save", "total")
OUTBOX_STATUSES = ("pending", "in_flight", "retry", "delivered", "dead")
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.turns = Counter(
            "botsvc_turns_total",
            "Customer messages by who handled them",
            ["handled_by"],
            registry=r,
        )
        self.fallbacks = Counter(
            "botsvc_fallbacks_total", "Customer messages nothing understood", registry=r
        )
        self.handoffs = Counter(
            "botsvc_handoffs_total",
            "Handoffs to the helpdesk by reason and priority",
            ["reason", "priority"],
            registry=r,
        )
        self.latency = Histogram(
            "botsvc_turn_seconds", "Time to answer a customer message", registry=r, buckets=_SECONDS
        )
        self.stages = Histogram(
            "botsvc_turn_stage_seconds",
            "Time a turn spent in each stage (lock, encode, nlu, flows, kb, decide, save, total)",
            ["stage"],
            registry=r,
            buckets=_SECONDS,
        )
        self.rejected = Counter(
            "botsvc_overloaded_total", "Messages refused with 503 (encoder queue full)", registry=r
        )
        self.outbox = Gauge(
            "botsvc_outbox_rows", "Webhook outbox rows by status", ["status"], registry=r
        )
        self.outbox_age = Gauge(
            "botsvc_outbox_oldest_undelivered_age_seconds",
            "Age of the oldest webhook not delivered yet (0 when none is waiting)",
            registry=r,
        )
        self.deliveries = Counter(
            "botsvc_webhook_delivery_attempts_total",
            "Webhook delivery attempts by outcome (delivered, retry, dead)",
            ["outcome"],
            registry=r,
        )
        self.reloads = Counter(
            "botsvc_reloads_total",
            "Project reloads by result (ok, invalid, error)",
            ["result"],
            registry=r,
        )
        self.build = Info(
            "botsvc_build", "Version, encoder, intent model and KB index served", registry=r
        )
        for stage in STAGES:  # present from the start, so that rate() has a baseline
            self.stages.labels(stage)
        for outcome in ("delivered", "retry", "dead"):
            self.deliveries.labels(outcome)
        for result in ("ok", "invalid", "error"):
            self.reloads.labels(result)

    def count_turn(self, result: TurnResult, seconds: float) -> None:
        self.latency.observe(seconds)
        self.turns.labels(result.handled_by).inc()
        if result.handled_by == "fallback":
            self.fallbacks.inc()
        if result.handoff is not None and result.handed_off_now:
            self.handoffs.labels(result.handoff.reason, result.handoff.priority).inc()
        timings = dict(result.timings_ms)
        trace = result.trace
        if trace is not None and trace.flow is not None:
            timings["flows"] = trace.flow.ms
        if trace is not None and trace.kb is not None:
            timings["kb"] = trace.kb.ms
        for stage, ms in timings.items():
            if stage in STAGES:
                self.stages.labels(stage).observe(ms / 1000)

    def count_delivery(self, outcome: str) -> None:
        self.deliveries.labels(outcome).inc()

    def show_outbox(self, backlog: OutboxBacklog, now: float | None = None) -> None:
        for status in OUTBOX_STATUSES:
            self.outbox.labels(status).set(backlog.counts.get(status, 0))
        oldest = backlog.oldest_undelivered_at
        self.outbox_age.set(0.0 if oldest is None else max(0.0, (now or time.time()) - oldest))

    def show_build(self, *, encoder: str, intent_model: str, kb_index: str) -> None:
        self.build.info(
            {
                "version": __version__,
                "encoder": encoder,
                "intent_model": intent_model,
                "kb_index": kb_index,
            }
        )


def build_labels(embedder: Embedder, project: Project) -> dict[str, str]:
    """What `Metrics.show_build` shows for a loaded project."""
    return {
        "encoder": embedder.model_id,
        "intent_model": project.parser.model.key,
        "kb_index": str(project.kb.manifest.get("build_id", "")),
    }
