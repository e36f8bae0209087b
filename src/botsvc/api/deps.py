"""What routes depend on: the state the lifespan built, and the credentials: site and server API
keys, conversation tokens, helpdesk and admin tokens."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request

from botsvc.access import Access, ConversationKeys
from botsvc.api.errors import ApiError
from botsvc.api.limits import TurnLimits
from botsvc.api.metrics import Metrics
from botsvc.config import Settings
from botsvc.embedding import Embedder
from botsvc.helpdesk.agents import AgentDesk
from botsvc.helpdesk.delivery import Dispatcher
from botsvc.live import MessageFeed
from botsvc.project import LiveProject
from botsvc.service import ChatService
from botsvc.store import Store

__all__ = ["Admin", "ApiKey", "Helpdesk", "State", "StateDep", "access"]


@dataclass(frozen=True, kw_only=True)
class State:
    """What the lifespan builds; routes reach it through `StateDep`."""

    settings: Settings
    store: Store
    embedder: Embedder
    project: LiveProject
    service: ChatService
    agents: AgentDesk
    feed: MessageFeed
    keys: ConversationKeys
    dispatcher: Dispatcher | None
    http: httpx.AsyncClient
    metrics: Metrics
    limits: TurnLimits


# Dependencies are `async def`: FastAPI runs a plain `def` one on a worker thread, two thread
# hops per request for a dictionary lookup.


async def _state(request: Request) -> State:
    return request.app.state.botsvc  # type: ignore[no-any-return]


StateDep = Annotated[State, Depends(_state)]


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def _api_key(request: Request) -> str | None:
    # customer API keys may also come as `?key=`, for EventSource, which cannot set headers;
    # helpdesk and admin tokens never ride in URLs
    return _bearer(request) or request.query_params.get("key")


def _check_token(request: Request, expected: str | None, what: str) -> None:
    if expected is None:
        raise ApiError(
            403, "forbidden", f"{what} endpoints are disabled: set BOTSVC_{what.upper()}_TOKEN"
        )
    given = _bearer(request)
    if given is None:
        raise ApiError(401, "unauthorized", f"missing 'Authorization: Bearer <{what} token>'")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        # a credential that does not authenticate is a 401 (HTTP's "who are you?"); 403 is for
        # endpoints no token opens (disabled above)
        raise ApiError(401, "unauthorized", f"wrong {what} token")


def is_api_key(given: str | None, keys: list[str]) -> bool:
    """Whether ``given`` is one of the customer API keys (in constant time); any is, when
    there are none."""
    if not keys:
        return True
    return given is not None and any(hmac.compare_digest(given.encode(), k.encode()) for k in keys)


def _is_server_key(given: str | None, st: State) -> bool:
    keys = st.settings.server_keys
    return bool(keys) and is_api_key(given, keys)


def rate_key(request: Request) -> str:
    """Whose allowance a request spends: its API key, else its client's address."""
    given = _api_key(request)
    if given:
        return "key:" + given
    return "addr:" + (request.client.host if request.client else "?")


def access(request: Request, st: State) -> Access:
    """The conversation token the client gave (header, or `?token=` for EventSource), and
    whether it holds a server key."""
    token = request.headers.get("x-conversation-token") or request.query_params.get("token")
    return Access(token=token or None, trusted=_is_server_key(_api_key(request), st))


async def require_api_key(request: Request, st: StateDep) -> None:
    given = _api_key(request)
    if _is_server_key(given, st):
        return
    if not is_api_key(given, st.settings.api_keys):
        raise ApiError(
            401, "unauthorized", "a valid API key is required (Authorization: Bearer <key>)"
        )


async def require_helpdesk(request: Request, st: StateDep) -> None:
    token = st.settings.helpdesk_token
    _check_token(request, token.get_secret_value() if token else None, "helpdesk")


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


async def require_admin(request: Request, st: StateDep) -> None:
    if st.settings.watch and request.client is not None and request.client.host in LOOPBACK:
        return  # `serve --watch` is for developing on this machine
    token = st.settings.admin_token
    _check_token(request, token.get_secret_value() if token else None, "admin")


ApiKey = Depends(require_api_key)
Helpdesk = Depends(require_helpdesk)
Admin = Depends(require_admin)
