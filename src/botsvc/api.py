"""HTTP layer: `create_app(settings)` wires the service in its lifespan and maps errors to HTTP.

Routes parse a request model, call one service or store function, and return a response model.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
import httpx
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from botsvc import schemas as s
from botsvc.config import Settings
from botsvc.delivery import Dispatcher, dispatcher_from_settings
from botsvc.domain import Customer
from botsvc.embedding import Embedder
from botsvc.errors import BotError, Conflict, NotFound, ProjectError
from botsvc.handoff import iso, webhook_schema
from botsvc.hours import BusinessHours
from botsvc.nlu.parser import parse_response
from botsvc.project import check_project, load_project, prepare_project
from botsvc.service import ChatService, IncomingMessage, TurnResult, turn_response
from botsvc.store import Handoff, MessageRecord, OutboxRow, Store, open_store

log = logging.getLogger("botsvc.api")


class ApiError(BotError):
    """An HTTP-level refusal (auth), raised only in this module."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code = status, code
        super().__init__(message)


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


class State:
    """What the lifespan builds; routes reach it through dependencies."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        embedder: Embedder,
        service: ChatService,
        dispatcher: Dispatcher | None,
        http: httpx.AsyncClient,
    ) -> None:
        self.settings, self.store, self.embedder = settings, store, embedder
        self.service, self.dispatcher, self.http = service, dispatcher, http
        self.metrics = Metrics()
        self.reload_lock = asyncio.Lock()


def _state(request: Request) -> State:
    return request.app.state.botsvc  # type: ignore[no-any-return]


StateDep = Annotated[State, Depends(_state)]


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def _check_token(request: Request, expected: str | None, what: str) -> None:
    if expected is None:
        raise ApiError(
            403, "forbidden", f"{what} endpoints are disabled: set BOTSVC_{what.upper()}_TOKEN"
        )
    given = _bearer(request)
    if given is None:
        raise ApiError(401, "unauthorized", f"missing 'Authorization: Bearer <{what} token>'")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(403, "forbidden", f"wrong {what} token")


def require_api_key(request: Request, st: StateDep) -> None:
    keys = st.settings.api_keys
    if not keys:
        return
    given = _bearer(request)
    if given is None or not any(hmac.compare_digest(given.encode(), k.encode()) for k in keys):
        raise ApiError(
            401, "unauthorized", "a valid API key is required (Authorization: Bearer <key>)"
        )


def require_helpdesk(request: Request, st: StateDep) -> None:
    token = st.settings.helpdesk_token
    _check_token(request, token.get_secret_value() if token else None, "helpdesk")


def require_admin(request: Request, st: StateDep) -> None:
    token = st.settings.admin_token
    _check_token(request, token.get_secret_value() if token else None, "admin")


ApiKey = Depends(require_api_key)
Helpdesk = Depends(require_helpdesk)
Admin = Depends(require_admin)


def create_app(settings: Settings, *, embedder: Embedder | None = None) -> FastAPI:
    """The service. `embedder` may be passed in already loaded (tests share one model)."""
    hours = BusinessHours.parse(settings.business_hours)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        enc = embedder or Embedder(settings.model, threads=settings.encoder_threads)
        if embedder is None:
            await anyio.to_thread.run_sync(enc.load)
        store = open_store(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        await store.open()
        http = httpx.AsyncClient(follow_redirects=False)
        try:
            project = await anyio.to_thread.run_sync(
                lambda: load_project(
                    settings.project_dir,
                    embedder=enc,
                    http=http,
                    action_endpoint=settings.action_endpoint,
                    action_timeout_s=settings.action_timeout_s,
                )
            )
            dispatcher = (
                dispatcher_from_settings(settings, store=store, http=http)
                if settings.handoff_webhook_url
                else None
            )
            service = ChatService(
                store=store,
                embedder=enc,
                project=project,
                public_url=settings.public_url,
                queue_notice_after_s=settings.queue_notice_after_s,
                hours=hours,
                on_outbox=dispatcher.notify if dispatcher else (lambda: None),
            )
            app.state.botsvc = State(settings, store, enc, service, dispatcher, http)
            task = (
                asyncio.create_task(dispatcher.run_forever())
                if (dispatcher and settings.run_dispatcher)
                else None
            )
            try:
                yield
            finally:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await enc.aclose()
        finally:
            await http.aclose()
            await store.close()

    app = FastAPI(title="botsvc", version="1", lifespan=lifespan)
    _install_error_handlers(app)
    _add_conversation_routes(app)
    _add_agent_routes(app)
    _add_ops_routes(app)
    return app


def app_from_environment() -> FastAPI:
    """For `botsvc serve --workers N`: each worker process reads the BOTSVC_* settings."""
    return create_app(Settings())


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, **extra}
    return JSONResponse({"error": body}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error(400, "malformed_json", "the request body is not valid JSON")
        details = [
            {"field": ".".join(str(p) for p in e["loc"][1:]), "problem": e["msg"]} for e in errors
        ]
        first = details[0] if details else {"field": "", "problem": "invalid"}
        return _error(
            422,
            "invalid_request",
            f"{first['field'] or 'body'}: {first['problem']}",
            details=details,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, str(exc))

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(Conflict)
    async def conflict(_: Request, exc: Conflict) -> JSONResponse:
        return _error(409, "conflict", str(exc))

    @app.exception_handler(ProjectError)
    async def project_error(_: Request, exc: ProjectError) -> JSONResponse:
        return _error(
            422,
            "invalid_project",
            f"{len(exc.problems)} problem(s); the running project stays",
            problems=[str(p) for p in exc.problems],
        )

    @app.exception_handler(BotError)
    async def bot_error(_: Request, exc: BotError) -> JSONResponse:
        log.exception("request failed", exc_info=exc)
        return _error(503, "unavailable", str(exc))


def _turn_out(r: TurnResult) -> s.TurnOut:
    return s.TurnOut.model_validate(turn_response(r))


def _message_out(m: MessageRecord) -> s.TranscriptMessageOut:
    buttons = m.data.get("buttons")
    return s.TranscriptMessageOut(
        seq=m.seq,
        role=m.role,
        text=m.text,
        turn_id=m.turn_id,
        at=iso(m.created_at),
        buttons=[s.ButtonOut(**b) for b in buttons] if buttons else None,
        agent=m.data.get("agent"),
    )


def _handoff_out(h: Handoff) -> s.HandoffOut:
    return s.HandoffOut(id=h.id, status=h.status, reason=h.reason, priority=h.priority)


async def _post(st: State, conversation_id: str, body: s.MessageIn) -> TurnResult:
    started = time.perf_counter()
    customer = None
    if body.customer is not None:
        c = body.customer
        customer = Customer(id=c.id, name=c.name, email=c.email, metadata=c.metadata)
    result = await st.service.post_message(
        conversation_id,
        IncomingMessage(
            text=body.text, customer=customer, channel=body.channel, metadata=body.metadata
        ),
    )
    st.metrics.latency.observe(time.perf_counter() - started)
    st.metrics.turns.labels(result.handled_by).inc()
    if result.handoff is not None and result.handed_off_now:
        st.metrics.handoffs.labels(result.handoff.reason).inc()
    return result


def _add_conversation_routes(app: FastAPI) -> None:
    @app.post("/v1/conversations/{conversation_id}/messages", dependencies=[ApiKey])
    async def post_message(conversation_id: str, body: s.MessageIn, st: StateDep) -> s.TurnOut:
        return _turn_out(await _post(st, conversation_id, body))

    @app.get("/v1/conversations/{conversation_id}", dependencies=[ApiKey])
    async def get_conversation(conversation_id: str, st: StateDep) -> s.ConversationOut:
        conv = await st.store.get_conversation(conversation_id)
        messages = await st.store.messages(conversation_id)
        handoff = await st.store.get_handoff(conv.handoff_id) if conv.handoff_id else None
        frame = conv.state.active
        c = conv.customer
        return s.ConversationOut(
            conversation_id=conv.id,
            status=conv.status,
            channel=conv.channel,
            customer=s.CustomerIn(id=c.id, name=c.name, email=c.email, metadata=c.metadata),
            slots=conv.state.slots,
            flow=s.FlowOut(id=frame.flow_id, step=frame.step_id) if frame else None,
            handoff=_handoff_out(handoff) if handoff else None,
            created_at=iso(conv.created_at),
            updated_at=iso(conv.updated_at),
            messages=[_message_out(m) for m in messages],
        )

    @app.get("/v1/conversations/{conversation_id}/events", dependencies=[ApiKey])
    async def events(
        conversation_id: str,
        st: StateDep,
        after: Annotated[int, Query(ge=0)] = 0,
        timeout: Annotated[float, Query(ge=0, le=60)] = 25.0,
    ) -> s.EventsOut:
        found = await st.service.wait_for_messages(conversation_id, after=after, timeout_s=timeout)
        return s.EventsOut(
            messages=[_message_out(m) for m in found], next_after=found[-1].seq if found else after
        )

    @app.post("/v1/nlu/parse", dependencies=[ApiKey])
    async def parse(body: s.ParseIn, st: StateDep) -> dict[str, Any]:
        vector = await st.embedder.encode_one(body.text)
        return parse_response(st.service.project.parser.parse(body.text, vector))

    @app.post("/v1/kb/search", dependencies=[ApiKey])
    async def kb_search(body: s.KbSearchIn, st: StateDep) -> s.KbSearchOut:
        vector = await st.embedder.encode_one(body.query)
        hits = st.service.project.kb.search(body.query, vector, top_k=body.top_k)
        return s.KbSearchOut(
            results=[
                s.KbResultOut(
                    id=h.id, title=h.title, text=h.text, url=h.url, score=round(h.score, 4)
                )
                for h in hits
            ]
        )

    @app.post("/webhooks/rest/webhook", dependencies=[ApiKey])
    async def rest_webhook(body: s.RestIn, st: StateDep) -> list[dict[str, Any]]:
        """Rasa's REST channel: existing Rasa chat widgets work unchanged."""
        result = await _post(
            st,
            body.sender,
            s.MessageIn(
                text=body.message, channel=body.input_channel or "rest", metadata=body.metadata
            ),
        )
        out: list[dict[str, Any]] = []
        for m in result.messages:
            item: dict[str, Any] = {"recipient_id": body.sender, "text": m.text}
            if m.buttons:
                item["buttons"] = [{"title": b.title, "payload": b.payload} for b in m.buttons]
            out.append(item)
        return out

    @app.get("/webhooks/rest/")
    async def rest_health() -> dict[str, str]:
        return {"status": "ok"}


def _add_agent_routes(app: FastAPI) -> None:
    @app.post("/v1/handoffs/{handoff_id}/messages", dependencies=[Helpdesk])
    async def agent_message(
        handoff_id: str, body: s.AgentMessageIn, st: StateDep
    ) -> s.TranscriptMessageOut:
        saved = await st.service.agent_reply(
            handoff_id, text=body.text, agent=body.agent.model_dump(exclude_none=True)
        )
        return _message_out(saved)

    @app.post("/v1/handoffs/{handoff_id}/resolve", dependencies=[Helpdesk])
    async def resolve(
        handoff_id: str, st: StateDep, body: s.ResolveIn | None = None
    ) -> s.HandoffOut:
        return _handoff_out(await st.service.resolve(handoff_id, note=body.note if body else None))

    @app.get("/v1/handoffs", dependencies=[Helpdesk])
    async def list_handoffs(st: StateDep, status: str | None = None) -> list[s.HandoffOut]:
        if status not in (None, "open", "resolved"):
            raise ApiError(422, "invalid_request", "status must be open or resolved")
        return [_handoff_out(h) for h in await st.store.list_handoffs(status=status)]  # type: ignore[arg-type]

    @app.get("/v1/schemas/handoff.json")
    async def handoff_schema() -> dict[str, Any]:
        return webhook_schema()


def _outbox_out(r: OutboxRow) -> s.OutboxRowOut:
    return s.OutboxRowOut(
        id=r.id,
        event=r.event,
        conversation_id=r.conversation_id,
        status=r.status,
        attempts=r.attempts,
        next_attempt_at=iso(r.next_attempt_at),
        last_error=r.last_error,
        created_at=iso(r.created_at),
        delivered_at=iso(r.delivered_at) if r.delivered_at else None,
    )


def _add_ops_routes(app: FastAPI) -> None:
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        st: State | None = getattr(request.app.state, "botsvc", None)
        if st is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        p = st.service.project
        return JSONResponse(
            {
                "status": "ready",
                "model": st.embedder.model_id,
                "intents": len(p.files.training.intents),
                "flows": len(p.spec.flows),
                "kb_threshold": p.kb.threshold,
                "loaded_at": iso(p.loaded_at),
            }
        )

    @app.get("/metrics")
    async def metrics(st: StateDep) -> Response:
        return Response(generate_latest(st.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/admin/reload", dependencies=[Admin])
    async def reload(st: StateDep) -> dict[str, Any]:
        """Loads the project again (retraining or rebuilding kb_index/ if stale); an invalid
        project is refused with every problem and the running one stays."""
        project_dir = st.settings.project_dir
        async with st.reload_lock:
            files = await anyio.to_thread.run_sync(lambda: check_project(project_dir))
            await anyio.to_thread.run_sync(
                lambda: prepare_project(project_dir, st.embedder, progress=False, files=files)
            )
            project = await anyio.to_thread.run_sync(
                lambda: load_project(
                    project_dir,
                    embedder=st.embedder,
                    http=st.http,
                    action_endpoint=st.settings.action_endpoint,
                    action_timeout_s=st.settings.action_timeout_s,
                    files=files,
                )
            )
            st.service.project = project
        return {
            "status": "reloaded",
            "intents": len(project.files.training.intents),
            "flows": len(project.spec.flows),
            "warnings": [str(w) for w in project.files.warnings],
        }

    @app.get("/admin/outbox", dependencies=[Admin])
    async def outbox(
        st: StateDep, status: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[s.OutboxRowOut]:
        if status not in (None, "pending", "in_flight", "retry", "delivered", "dead"):
            raise ApiError(422, "invalid_request", "unknown outbox status")
        return [_outbox_out(r) for r in await st.store.list_outbox(status=status, limit=limit)]  # type: ignore[arg-type]

    @app.post("/admin/outbox/retry", dependencies=[Admin])
    async def retry(st: StateDep, body: s.RetryIn | None = None) -> dict[str, int]:
        n = await st.store.requeue(body.ids if body else None, now=time.time())
        if st.dispatcher is not None:
            st.dispatcher.notify()
        return {"requeued": n}


__all__ = ["app_from_environment", "create_app"]
