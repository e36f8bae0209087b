"""Errors → HTTP: the `{"error": {"code", "message", ...}}` envelope, one handler per kind.

HTTP status codes exist only here and in deps.py's auth checks (`ApiError`).
"""

from __future__ import annotations

import logging
import math
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from botsvc.errors import (
    AccessDenied,
    BotError,
    Busy,
    Conflict,
    IdempotencyConflict,
    NotFound,
    Overloaded,
    ProjectError,
    RateLimited,
)

log = logging.getLogger("botsvc.api")

__all__ = ["ApiError", "install_error_handlers"]


class ApiError(BotError):
    """An HTTP-level refusal (auth, a bad query), raised only in the api package."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code = status, code
        super().__init__(message)


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, **extra}
    return JSONResponse({"error": body}, status_code=status)


def _retry_later(status: int, code: str, message: str, after_s: float) -> JSONResponse:
    response = error_response(status, code, message)
    response.headers["Retry-After"] = str(max(1, math.ceil(after_s)))
    return response


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "the request body is not valid JSON")
        details = [
            {"field": ".".join(str(p) for p in e["loc"][1:]), "problem": e["msg"]} for e in errors
        ]
        first = details[0] if details else {"field": "", "problem": "invalid"}
        return error_response(
            422,
            "invalid_request",
            f"{first['field'] or 'body'}: {first['problem']}",
            details=details,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, str(exc))

    @app.exception_handler(AccessDenied)
    async def access_denied(_: Request, exc: AccessDenied) -> JSONResponse:
        if exc.missing:
            return error_response(401, "conversation_token_required", str(exc))
        return error_response(403, "conversation_token_invalid", str(exc))

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return error_response(409, "conflict", str(exc))

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        state = getattr(request.app.state, "botsvc", None)
        if state is not None:
            state.metrics.rejected.inc()
        return _retry_later(503, "overloaded", str(exc), exc.retry_after_s)

    @app.exception_handler(IdempotencyConflict)
    async def idempotency_conflict(_: Request, exc: IdempotencyConflict) -> JSONResponse:
        return error_response(422, "idempotency_key_reused", str(exc))

    @app.exception_handler(RateLimited)
    async def rate_limited(_: Request, exc: RateLimited) -> JSONResponse:
        return _retry_later(429, "rate_limited", str(exc), exc.retry_after_s)

    @app.exception_handler(Busy)
    async def busy(_: Request, exc: Busy) -> JSONResponse:
        # held by another message, or by a replica that died: its lease runs out by then
        return _retry_later(503, "conversation_busy", str(exc), exc.retry_after_s)

    @app.exception_handler(ProjectError)
    async def project_error(_: Request, exc: ProjectError) -> JSONResponse:
        return error_response(
            422,
            "invalid_project",
            f"{len(exc.problems)} problem(s); the running project stays",
            problems=[str(p) for p in exc.problems],
        )

    @app.exception_handler(BotError)
    async def bot_error(request: Request, exc: BotError) -> JSONResponse:
        # the store or a model failed
        return _failure(
            request, exc, 503, "unavailable", "the service could not complete this request"
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _failure(request, exc, 500, "internal_error", "something went wrong on our side")


def _failure(
    request: Request, exc: BaseException, status: int, code: str, what: str
) -> JSONResponse:
    """The details (SQL, parameters, customer text) go to the log, redacted, under an id the
    client can quote; the body says nothing internal."""
    error_id = uuid.uuid4().hex[:16]
    log.error(
        "request failed",
        exc_info=exc,
        extra={"fields": {"error_id": error_id, "path": request.url.path}},
    )
    return error_response(status, code, f"{what}; quote error id {error_id}", error_id=error_id)
