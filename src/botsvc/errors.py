"""The exception tree of botsvc. Foreign exceptions are re-raised as one of these.

BotError
 ├── ConfigError             bad settings, missing model or index
 ├── ProjectError            invalid project files; carries every Problem (file:line)
 ├── ModelNotTrainedError    no intent model artefact for the current training data
 ├── StoreError
 │    ├── NotFound           unknown conversation, handoff or outbox row
 │    └── Conflict           a handoff is not open, a lease was lost, ...
 │         └── Busy           another message holds the conversation: retry after `retry_after_s`
 ├── DeliveryError
 │    ├── WebhookRejected    the receiver answered with a non-2xx status
 │    └── WebhookUnreachable connection refused, timeout, DNS
 ├── ActionServerError       a custom action failed, timed out or answered garbage
 ├── Overloaded              the encoder's queue is full: retry after `retry_after_s`
 ├── IdempotencyConflict     an Idempotency-Key reused for another message
 ├── RateLimited             too many requests for one conversation or key: retry after
 └── AccessDenied            no or a wrong conversation token for an existing conversation
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a project file, with where it is and what to do about it."""

    file: str
    line: int | None
    message: str
    severity: str = "error"  # "error" refuses the project; "warning" is printed only

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}: {self.message}"


class BotError(Exception):
    """Base of every error botsvc raises on purpose."""


class ConfigError(BotError):
    pass


class ProjectError(BotError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ModelNotTrainedError(BotError):
    pass


class StoreError(BotError):
    pass


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class Busy(Conflict):
    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class DeliveryError(BotError):
    pass


class WebhookRejected(DeliveryError):
    def __init__(self, status: int, retry_after: float | None = None) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"webhook answered HTTP {status}")


class WebhookUnreachable(DeliveryError):
    pass


class ActionServerError(BotError):
    pass


class Overloaded(BotError):
    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class IdempotencyConflict(BotError):
    pass


class RateLimited(BotError):
    """Too many requests for one conversation or one key; retry after `retry_after_s`."""

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class AccessDenied(BotError):
    """The client may not enter this conversation: `missing` when it gave no token."""

    def __init__(self, message: str, *, missing: bool) -> None:
        self.missing = missing
        super().__init__(message)
