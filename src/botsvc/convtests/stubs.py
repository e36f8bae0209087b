"""`stub_custom_actions` of Rasa's e2e tests: answer a custom action from the test file, in the
rasa-sdk wire format, and send every other request on to the real action server."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

__all__ = ["StubbedActions"]


class StubbedActions(httpx.AsyncBaseTransport):
    """An httpx transport for the ActionClient. `stubs` is set per test (action name → answer)."""

    def __init__(self, real: httpx.AsyncBaseTransport | None = None) -> None:
        self.real = real or httpx.AsyncHTTPTransport()
        self.stubs: Mapping[str, Mapping[str, Any]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.stubs:
            try:
                action = json.loads(await request.aread()).get("next_action")
            except (ValueError, AttributeError):
                action = None
            if isinstance(action, str) and action in self.stubs:
                stub = self.stubs[action]
                body = {
                    "events": stub.get("events") or [],
                    "responses": stub.get("responses") or [],
                }
                return httpx.Response(200, json=body, request=request)
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()
