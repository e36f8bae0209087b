"""`create_app(settings)`: the lifespan wires store, model, project, service, helpdesk side and
dispatcher, in that order, and tears them down in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator

import anyio
import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from botsvc.access import ConversationKeys
from botsvc.api.deps import State
from botsvc.api.errors import install_error_handlers
from botsvc.api.limits import BodyLimit, TurnLimits
from botsvc.api.metrics import Metrics, build_labels
from botsvc.api.openapi import install_openapi
from botsvc.api.routes import admin, conversations, helpdesk, ops, widget
from botsvc.api.socketio_channel import mount_socketio, socketio_server
from botsvc.config import Settings
from botsvc.embedding import Embedder, embedder_for
from botsvc.errors import BotError
from botsvc.helpdesk.agents import AgentDesk
from botsvc.helpdesk.delivery import dispatcher_from_settings
from botsvc.helpdesk.hours import BusinessHours
from botsvc.live import MessageFeed
from botsvc.logs import configure_logging, log_event
from botsvc.nlu.dates import warm_up as warm_up_dates
from botsvc.project import LiveProject, load_project
from botsvc.service import ChatService
from botsvc.store import Store, open_store
from botsvc.watch import watch_project

__all__ = ["app_from_environment", "create_app"]
log = logging.getLogger(__name__)


def create_app(settings: Settings, *, embedder: Embedder | None = None) -> ASGIApp:
    """The service: the FastAPI routes, with Rasa's socket.io channel at `/socket.io/` beside
    them. `embedder` may be passed in already loaded (tests share one model)."""
    hours = BusinessHours.parse(settings.business_hours)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        enc = embedder or embedder_for(settings)
        if embedder is None:  # the export is `botsvc train`'s: serving never imports torch
            await anyio.to_thread.run_sync(lambda: enc.load(export=False))
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
            live = LiveProject(
                project,
                embedder=enc,
                http=http,
                action_endpoint=settings.action_endpoint,
                action_timeout_s=settings.action_timeout_s,
            )
            metrics = Metrics()
            metrics.show_build(**build_labels(enc, project))
            dispatcher = (
                dispatcher_from_settings(
                    settings, store=store, http=http, on_attempt=metrics.count_delivery
                )
                if settings.handoff_webhook_url
                else None
            )
            on_outbox = dispatcher.notify if dispatcher else (lambda: None)
            feed = MessageFeed(store)
            keys = ConversationKeys(await store.secret("conversation_tokens"))
            listener = store.listen(feed.changed)  # other replicas' messages, pushed
            await listener.start()
            app.state.botsvc = State(
                settings=settings,
                store=store,
                embedder=enc,
                project=live,
                service=ChatService(
                    store=store,
                    embedder=enc,
                    project=live,
                    feed=feed,
                    keys=keys,
                    public_url=settings.reply_base_url,
                    queue_notice_after_s=settings.queue_notice_after_s,
                    hours=hours,
                    on_outbox=on_outbox,
                    redactor=settings.redactor if settings.redact else None,
                ),
                agents=AgentDesk(store=store, feed=feed, on_outbox=on_outbox),
                feed=feed,
                keys=keys,
                dispatcher=dispatcher,
                http=http,
                metrics=metrics,
                limits=TurnLimits(
                    per_conversation=settings.rate_per_conversation,
                    per_key=settings.rate_per_key,
                ),
            )
            task = (
                asyncio.create_task(dispatcher.run_forever())
                if (dispatcher and settings.run_dispatcher)
                else None
            )
            # dateparser's data (0.4 s), once, after ready rather than on a customer's message
            warming = asyncio.create_task(anyio.to_thread.run_sync(warm_up_dates))
            watching = (
                asyncio.create_task(watch_project(live, settings.project_dir))
                if settings.watch
                else None
            )
            retention = (
                asyncio.create_task(keep_retention(store, settings))
                if settings.retention_days
                else None
            )
            try:
                yield
            finally:
                await warming
                for background in (retention, watching, task):
                    if background is not None:
                        background.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await background
                await listener.stop()
                await enc.aclose()
        finally:
            await http.aclose()
            await store.close()

    app = FastAPI(title="botsvc", version="1", lifespan=lifespan)
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s
    )
    if settings.cors_origins:
        # chat widgets call from the site's own origin; preflights are answered here, before
        # any route (and its API key check) runs
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["authorization", "content-type", "x-api-key", "x-conversation-token"],
            max_age=600,
        )
    app.include_router(conversations.router)
    app.include_router(helpdesk.router)
    app.include_router(ops.router)
    app.include_router(admin.router)
    app.include_router(widget.router(demo_page=settings.demo_page))
    sio = socketio_server(settings, state=lambda: app.state.botsvc)
    return mount_socketio(app, sio)


RETENTION_EVERY_S = 3600.0


async def keep_retention(store: Store, settings: Settings) -> None:
    """BOTSVC_RETENTION_DAYS: at start and then hourly, conversations idle for longer are
    anonymised or deleted (replicas doing it at once only repeat each other's work)."""
    assert settings.retention_days is not None
    while True:
        try:
            result = await store.purge(
                idle_before=time.time() - settings.retention_days * 86400,
                anonymise=settings.retention_action == "anonymise",
            )
            log_event(log, "retention", **dataclasses.asdict(result))
        except BotError:
            log.exception("retention purge failed; trying again in an hour")
        await asyncio.sleep(RETENTION_EVERY_S)


def app_from_environment() -> ASGIApp:
    """For `botsvc serve --workers N`: each worker process reads the BOTSVC_* settings."""
    settings = Settings()
    configure_logging(settings.redactor, fmt=settings.log_format, level=settings.log_level)
    return create_app(settings)
