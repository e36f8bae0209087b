"""The OpenAPI document as the service behaves: our error envelope (FastAPI's default 422 body
is not what we send), every status code a route can answer, and the security schemes.

Which errors a route can give follows from where it lives: every route can be refused for its
body (400, 413, 422) or fail on the store (503, 500); customer routes need an API key (401),
may need the conversation token (401, 403), may not know the conversation (404) and are rate
limited (429); a customer message may find the conversation busy or the encoder full (503);
helpdesk and admin routes need their token (401; 403 when no token is configured).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = ["install_openapi"]

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable, for programs"},
                "message": {"type": "string", "description": "for people"},
                "details": {"type": "array", "items": {"type": "object"}},
                "problems": {"type": "array", "items": {"type": "string"}},
                "error_id": {"type": "string", "description": "quote it; the log has the rest"},
            },
        }
    },
}
_MEANING = {
    "400": "malformed JSON",
    "401": "missing or wrong credentials",
    "403": "not allowed: a wrong conversation token, or an endpoint no token opens",
    "404": "no such conversation, handoff or route",
    "408": "the request body came too slowly",
    "409": "conflict with the current state",
    "413": "request body too large",
    "422": "invalid request (field, id, size, or a reused Idempotency-Key)",
    "429": "too many requests: see Retry-After",
    "500": "unexpected failure: the body has an error id, nothing internal",
    "503": "busy or unavailable: see Retry-After where given",
}
_ALWAYS = ("400", "408", "413", "422", "500", "503")


def _codes(path: str, method: str) -> set[str]:
    codes = set(_ALWAYS)
    if path.startswith("/admin") or path.startswith("/v1/handoffs"):
        codes |= {"401", "403"}
        if "{" in path:
            codes |= {"404", "409"}
    elif path.startswith("/v1/") or path.startswith("/webhooks/rest/webhook"):
        codes |= {"401", "403", "404", "429"}
    if path == "/admin/reload":
        codes.add("422")
    return codes


def _security(path: str) -> list[dict[str, list[str]]] | None:
    if path.startswith("/admin"):
        return [{"adminToken": []}]
    if path.startswith("/v1/handoffs"):
        return [{"helpdeskToken": []}]
    if path.startswith("/v1/") or path.startswith("/webhooks/rest/webhook"):
        return [{"apiKey": []}, {"apiKeyHeader": []}, {}]
    return None


def install_openapi(app: FastAPI) -> None:
    def document() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description="botsvc: a hybrid customer-support chatbot (README, HTTP API)",
            routes=app.routes,
        )
        components = doc.setdefault("components", {})
        components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        components["securitySchemes"] = {
            "apiKey": {"type": "http", "scheme": "bearer", "description": "a site or server key"},
            "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            "helpdeskToken": {"type": "http", "scheme": "bearer"},
            "adminToken": {"type": "http", "scheme": "bearer"},
        }
        envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path, item in doc.get("paths", {}).items():
            for method, op in item.items():
                responses = op.setdefault("responses", {})
                for code in _codes(path, method):
                    responses[code] = {"description": _MEANING[code], "content": envelope}
                if (security := _security(path)) is not None:
                    op["security"] = security
        if "HTTPValidationError" in components["schemas"]:
            del components["schemas"]["HTTPValidationError"]
            components["schemas"].pop("ValidationError", None)
        metrics = doc.get("paths", {}).get("/metrics", {}).get("get")
        if metrics is not None:
            metrics["responses"]["200"] = {
                "description": "Prometheus text format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        rest = doc.get("paths", {}).get("/webhooks/rest/webhook", {}).get("post")
        if rest is not None:  # ?stream=true: one JSON message per line, as Rasa streams
            rest["responses"]["200"].setdefault("content", {})["text/event-stream"] = {
                "schema": {"type": "string"}
            }
        app.openapi_schema = doc
        return doc

    app.openapi = document  # type: ignore[method-assign]
