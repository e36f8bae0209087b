"""Operator routes: health, readiness, metrics, reload, and the outbox."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from botsvc.api import render
from botsvc.api import schemas as s
from botsvc.api.deps import Admin, State, StateDep
from botsvc.api.metrics import build_labels
from botsvc.errors import ProjectError
from botsvc.helpdesk.payloads import iso
from botsvc.logs import log_event
from botsvc.project_diff import project_changes, summary
from botsvc.store import OutboxStatus

router = APIRouter()
log = logging.getLogger(__name__)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    st: State | None = getattr(request.app.state, "botsvc", None)
    if st is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    p = st.project.current
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


@router.get("/metrics")
async def metrics(st: StateDep) -> Response:
    st.metrics.show_outbox(await st.store.outbox_backlog())  # read at scrape, one query
    return Response(generate_latest(st.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.post("/admin/reload", dependencies=[Admin])
async def reload(st: StateDep) -> dict[str, Any]:
    """Loads the project again (retraining or rebuilding kb_index/ if stale); an invalid
    project is refused with every problem and the running one stays."""
    before = st.project.current
    try:
        project = await st.project.reload()
    except ProjectError:
        st.metrics.reloads.labels("invalid").inc()
        raise
    except Exception:
        st.metrics.reloads.labels("error").inc()
        raise
    st.metrics.reloads.labels("ok").inc()
    st.metrics.show_build(**build_labels(st.embedder, project))
    changes = project_changes(before, project)
    log_event(log, "reload", changes=summary(changes))
    return {
        "status": "reloaded",
        "intents": len(project.files.training.intents),
        "flows": len(project.spec.flows),
        "warnings": [str(w) for w in project.files.warnings],
        "changes": changes,
    }


@router.get("/admin/outbox", dependencies=[Admin])
async def outbox(
    st: StateDep,
    status: OutboxStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[s.OutboxRowOut]:
    return [render.outbox_out(r) for r in await st.store.list_outbox(status=status, limit=limit)]


@router.post("/admin/outbox/retry", dependencies=[Admin])
async def retry(st: StateDep, body: s.RetryIn | None = None) -> dict[str, int]:
    n = await st.store.requeue(body.ids if body else None, now=time.time())
    if st.dispatcher is not None:
        st.dispatcher.notify()
    return {"requeued": n}


@router.get("/webhooks/rest/")
async def rest_health() -> dict[str, str]:
    """Rasa's REST channel health check, which Rasa's widgets call."""
    return {"status": "ok"}
