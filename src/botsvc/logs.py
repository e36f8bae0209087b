"""Structured logs: one JSON object per line, personal data always masked.

A module logs an event with its fields under `extra={"fields": {...}}` (`log_event` does it):
`{"ts": ..., "level": "info", "logger": "botsvc.service", "event": "turn", "conversation_id":
..., "turn_id": ..., ...}`. Messages and every string field go through the `Redactor`, whatever
`BOTSVC_REDACT` says: logs are copied to places customers' data must not reach.
`BOTSVC_LOG_FORMAT=text` gives plain lines for a terminal.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from botsvc.redact import Redactor

__all__ = ["JsonLines", "configure_logging", "log_event"]

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "fields",
    "color_message",
}


def log_event(
    logger: logging.Logger, event: str, *, level: int = logging.INFO, **fields: Any
) -> None:
    """One event with its fields (ids, outcome, timings), as one JSON line."""
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={"fields": fields})


class JsonLines(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None) or {}
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": self.redactor.text(record.getMessage()),
        }
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        line.update(self.redactor.value({**extra, **fields}))
        if record.exc_info:
            line["error"] = self.redactor.text(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class _RedactedText(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        text = super().format(record)
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return self.redactor.text(text)


def configure_logging(redactor: Redactor, *, fmt: str = "json", level: str = "info") -> None:
    """The root logger (and uvicorn's) write to stderr in `fmt`, redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines(redactor) if fmt == "json" else _RedactedText(redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv = logging.getLogger(name)
        uv.handlers[:] = []
        uv.propagate = True
