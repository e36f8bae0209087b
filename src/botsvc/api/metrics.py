"""The service's Prometheus metrics (`GET /metrics`), one registry per app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from botsvc.service import TurnResult


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.turns = Counter(
            "botsvc_turns_total",
            "Customer messages by who handled them",
            ["handled_by"],
            registry=self.registry,
        )
        self.handoffs = Counter(
            "botsvc_handoffs_total", "Handoffs by reason", ["reason"], registry=self.registry
        )
        self.latency = Histogram(
            "botsvc_turn_seconds",
            "Time to answer a customer message",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
        )

    def count_turn(self, result: TurnResult, seconds: float) -> None:
        self.latency.observe(seconds)
        self.turns.labels(result.handled_by).inc()
        if result.handoff is not None and result.handed_off_now:
            self.handoffs.labels(result.handoff.reason).inc()
