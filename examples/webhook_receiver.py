"""A reference helpdesk receiver for botsvc webhooks: verifies the signature (which covers the
timestamp, the delivery id and the body), refuses stale timestamps and forged delivery ids,
deduplicates by delivery id, and answers 2xx only once the event is safely recorded. It will
not start without a secret: an unsigned webhook is anyone's to forge.

    BOTSVC_HANDOFF_SECRET=... uvicorn examples.webhook_receiver:app --port 9000
    BOTSVC_HANDOFF_WEBHOOK_URL=http://127.0.0.1:9000/botsvc BOTSVC_HANDOFF_SECRET=... make run
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SECRET = os.environ.get("BOTSVC_HANDOFF_SECRET", "")
if not SECRET:
    raise SystemExit(
        "set BOTSVC_HANDOFF_SECRET (the same as botsvc's): unsigned webhooks are refused"
    )
TOLERANCE_S = 300  # refuse signatures older than five minutes (replays)
db = sqlite3.connect(os.environ.get("RECEIVER_DB", "receiver.db"), check_same_thread=False)
db.execute(
    "CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, event TEXT, body TEXT, at REAL)"
)


def signature_ok(timestamp: str, delivery: str, body: bytes, signature: str) -> bool:
    try:
        if abs(time.time() - int(timestamp)) > TOLERANCE_S:
            return False
    except ValueError:
        return False
    signed = f"{timestamp}.{delivery}.".encode() + body
    expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


async def botsvc_webhook(request: Request) -> JSONResponse:
    body = await request.body()  # verify the exact bytes, before any JSON parsing
    h = request.headers
    delivery = h.get("x-botsvc-delivery", "")
    signature = h.get("x-botsvc-signature", "")
    if not signature_ok(h.get("x-botsvc-timestamp", ""), delivery, body, signature):
        return JSONResponse({"error": "bad signature"}, status_code=401)
    event = json.loads(body)
    with db:  # the same delivery id may come again (at-least-once): keep the first
        fresh = db.execute(
            "INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?, ?)",
            (delivery, event["event"], body.decode(), time.time()),
        ).rowcount
    if fresh:
        handle(event)
    return JSONResponse({"ok": True, "duplicate": not fresh})


def handle(event: dict) -> None:  # type: ignore[type-arg]
    """Create a ticket, append a message, close it: here, just print."""
    if event["event"] == "handoff.created":
        h = event["handoff"]
        print(
            f"[{h['priority']}] new handoff {h['id']} ({h['reason']}): {event['summary']['text']}"
        )
        print(f"    reply with POST {event['reply_url']}")
    elif event["event"] == "message.created":
        print(f"customer on {event['handoff_id']}: {event['message']['text']}")
    elif event["event"] == "conversation.resolved":
        print(f"resolved {event['handoff_id']}: {event.get('note') or ''}")


app = Starlette(routes=[Route("/botsvc", botsvc_webhook, methods=["POST"])])
