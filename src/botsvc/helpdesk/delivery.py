"""Outbox dispatcher: claims due rows with a lease, POSTs signed webhooks, records the outcome.

At-least-once: a row is marked delivered only after a 2xx; every attempt carries the same
`X-Botsvc-Delivery` id so the receiver can deduplicate. No transaction is open during the POST.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from botsvc.config import Settings
from botsvc.errors import DeliveryError, WebhookRejected, WebhookUnreachable
from botsvc.logs import log_event
from botsvc.store import OutboxRow, Store

log = logging.getLogger("botsvc.helpdesk.delivery")


def sign(secret: str, timestamp: str, body: bytes, *, delivery_id: str) -> str:
    """`sha256=<hex HMAC-SHA256 of "<timestamp>.<delivery id>.<body>">`, the X-Botsvc-Signature
    header: the delivery id is signed too, so a replay cannot pass as a new delivery."""
    signed = f"{timestamp}.{delivery_id}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    delivery_id: str,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    """What a receiver does: constant-time compare, and refuse stale timestamps (replays)."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    expected = sign(secret, timestamp, body, delivery_id=delivery_id)
    return age <= tolerance_s and hmac.compare_digest(expected, signature)


def encode_body(payload: dict[str, object]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def backoff_delay(attempt: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: a random point in the upper half of base·2^(n-1), capped."""
    ceiling = min(cap_s, base_s * 2 ** max(0, attempt - 1))
    return float(ceiling * (0.5 + rng.random() / 2))


def _retry_after(response: httpx.Response, now: float) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError):
            return None


class Dispatcher:
    def __init__(
        self,
        *,
        store: Store,
        http: httpx.AsyncClient,
        url: str,
        secret: str | None,
        max_attempts: int = 8,
        backoff_base_s: float = 2.0,
        backoff_cap_s: float = 600.0,
        lease_s: float = 30.0,
        timeout_s: float = 5.0,
        poll_s: float = 1.0,
        now: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        on_attempt: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self.store, self.http, self.url, self.secret = store, http, url, secret
        self.on_attempt = on_attempt  # "delivered", "retry" or "dead", after each attempt
        self.max_attempts, self.backoff_base_s, self.backoff_cap_s = (
            max_attempts,
            backoff_base_s,
            backoff_cap_s,
        )
        self.lease_s, self.timeout, self.poll_s = lease_s, httpx.Timeout(timeout_s), poll_s
        self.now, self.rng = now, rng or random.Random()
        self.owner = f"dispatcher-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """New rows were written: deliver now instead of at the next poll."""
        self._wake.set()

    async def run_once(self, *, limit: int = 20) -> int:
        """Claims and sends one batch; returns how many rows were claimed."""
        rows = await self.store.claim_outbox(
            owner=self.owner, now=self.now(), lease_s=self.lease_s, limit=limit
        )
        # rows of one batch belong to different conversations (the claim keeps order), so they
        # can be sent side by side
        await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def run_forever(self) -> None:
        while True:
            try:
                claimed = await self.run_once()
            except Exception:  # a store hiccup must not kill the dispatcher
                log.exception("outbox dispatch failed; retrying")
                claimed = 0
            if claimed:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)

    async def _deliver(self, row: OutboxRow) -> None:
        try:
            await self._post(row)
        except DeliveryError as exc:
            await self._failed(row, exc)
            return
        await self.store.mark_delivered(row.id, owner=self.owner, now=self.now())
        self.on_attempt("delivered")
        log_event(log, "delivered", **_ids(row))

    async def _post(self, row: OutboxRow) -> None:
        body = encode_body(row.payload)
        timestamp = str(int(self.now()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "botsvc-webhook/1",
            "X-Botsvc-Event": row.event,
            "X-Botsvc-Delivery": row.id,
            "X-Botsvc-Timestamp": timestamp,
            "X-Botsvc-Attempt": str(row.attempts),
        }
        if self.secret:
            headers["X-Botsvc-Signature"] = sign(self.secret, timestamp, body, delivery_id=row.id)
        try:
            response = await self.http.post(
                self.url, content=body, headers=headers, timeout=self.timeout
            )
        except httpx.TimeoutException as exc:
            raise WebhookUnreachable(f"timeout after {self.timeout.read}s") from exc
        except httpx.HTTPError as exc:
            raise WebhookUnreachable(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise WebhookRejected(response.status_code, _retry_after(response, self.now()))

    async def _failed(self, row: OutboxRow, exc: DeliveryError) -> None:
        if row.attempts >= self.max_attempts:
            log_event(log, "dead letter", level=logging.ERROR, **_ids(row), error=str(exc))
            await self.store.mark_failed(row.id, owner=self.owner, error=str(exc), retry_at=None)
            self.on_attempt("dead")
            return
        delay = backoff_delay(
            row.attempts, base_s=self.backoff_base_s, cap_s=self.backoff_cap_s, rng=self.rng
        )
        if isinstance(exc, WebhookRejected) and exc.retry_after is not None:
            delay = max(delay, min(exc.retry_after, self.backoff_cap_s))
        log_event(
            log,
            "delivery failed",
            level=logging.WARNING,
            **_ids(row),
            error=str(exc),
            retry_in_s=delay,
        )
        await self.store.mark_failed(
            row.id, owner=self.owner, error=str(exc), retry_at=self.now() + delay
        )
        self.on_attempt("retry")


def _ids(row: OutboxRow) -> dict[str, Any]:
    return {
        "delivery_id": row.id,
        "webhook_event": row.event,
        "conversation_id": row.conversation_id,
        "attempt": row.attempts,
    }


def dispatcher_from_settings(
    settings: Settings,
    *,
    store: Store,
    http: httpx.AsyncClient,
    on_attempt: Callable[[str], None] = lambda outcome: None,
) -> Dispatcher:
    """The dispatcher the service and `botsvc dispatch` run; needs `handoff_webhook_url`."""
    assert settings.handoff_webhook_url, "no webhook URL: nothing to dispatch to"
    secret = settings.handoff_secret.get_secret_value() if settings.handoff_secret else None
    return Dispatcher(
        store=store,
        http=http,
        url=settings.handoff_webhook_url,
        secret=secret,
        max_attempts=settings.delivery_max_attempts,
        backoff_base_s=settings.delivery_backoff_base_s,
        backoff_cap_s=settings.delivery_backoff_cap_s,
        lease_s=settings.delivery_lease_s,
        timeout_s=settings.webhook_timeout_s,
        poll_s=settings.delivery_poll_s,
        on_attempt=on_attempt,
    )
