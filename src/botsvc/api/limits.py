"""Limits at the edge: request bodies (size and the time to send them) and request rates.

`BodyLimit` is ASGI middleware: a body announced or sent larger than the limit is refused with
413 before more of it is read, so a 20 MB post costs the service at most its first 64 KiB; a
body that trickles in slower than `timeout_s` between chunks is refused with 408, so a
half-sent request does not hold a connection for ever.

`RateLimiter` is a token bucket per key (a conversation, an API key): a burst of `burst`, then
`per_minute`; past it, 429 with Retry-After. Buckets are per process, and the least recently
used are dropped past `max_keys`, so memory stays bounded whatever ids clients make up.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from botsvc.errors import RateLimited

__all__ = ["BodyLimit", "RateLimiter", "TurnLimits"]


_BODIES = {"POST", "PUT", "PATCH", "DELETE"}


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_s: float) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODIES:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _refuse(send, 413, "body_too_large", self._too_large_message())
            return
        # the whole body, at most max_bytes of it, before the app sees any: the frameworks turn
        # an error while they read it into a 400 of their own
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                await _refuse(send, 408, "request_timeout", "the request body came too slowly")
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _refuse(send, 413, "body_too_large", self._too_large_message())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large_message(self) -> str:
        return f"request bodies are limited to {self.max_bytes // 1024} KiB"


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self, *, per_minute: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate_s, self.burst, self.max_keys = per_minute / 60.0, burst, max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str, what: str, now: float | None = None) -> None:
        """One request for `key`; RateLimited when its bucket is empty."""
        if self.rate_s <= 0:
            return
        now = time.monotonic() if now is None else now
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate_s)
        bucket.at = now
        self._buckets[key] = bucket
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1:
            wait = (1 - bucket.tokens) / self.rate_s
            raise RateLimited(
                f"too many requests for this {what}; slow down", retry_after_s=math.ceil(wait)
            )
        bucket.tokens -= 1

    def give_back(self, key: str) -> None:
        if (bucket := self._buckets.get(key)) is not None:
            bucket.tokens = min(self.burst, bucket.tokens + 1)


class TurnLimits:
    """The two limits a customer message passes: its conversation's and its key's."""

    def __init__(self, *, per_conversation: float, per_key: float) -> None:
        # a burst of a third of a minute's allowance: a customer pasting three lines is fine
        self.conversations = RateLimiter(
            per_minute=per_conversation, burst=max(1, math.ceil(per_conversation / 3))
        )
        self.keys = RateLimiter(per_minute=per_key, burst=max(1, math.ceil(per_key / 3)))

    def check(self, conversation_id: str, key: str) -> None:
        self.keys.take(key, "API key")
        try:
            self.conversations.take(conversation_id, "conversation")
        except RateLimited:
            self.keys.give_back(key)  # a refused message spends nothing
            raise
