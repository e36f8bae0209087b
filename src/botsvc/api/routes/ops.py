"""Operator routes: health, readiness, metrics, reload, and the outbox."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from botsvc.api import render
from botsvc.api import schemas as s
from botsvc.api.deps import Admin, State, StateDep
from botsvc.api.errors import ApiError
from botsvc.api.metrics import build_labels
from botsvc.errors import ConfigError, ProjectError
from botsvc.helpdesk.payloads import iso
from botsvc.report import cluster_json, figures_json, parse_when
from botsvc.store import FigureWindow, OutboxStatus
from botsvc.unanswered import Cluster, as_kb_stub, as_rasa_nlu, cluster_unanswered

router = APIRouter()


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
    return {
        "status": "reloaded",
        "intents": len(project.files.training.intents),
        "flows": len(project.spec.flows),
        "warnings": [str(w) for w in project.files.warnings],
    }


@router.get("/admin/figures", dependencies=[Admin])
async def figures(
    st: StateDep,
    since: Annotated[str, Query(description="7d, 24h, or an ISO date")] = "7d",
    until: Annotated[str | None, Query(description="default: now")] = None,
    channel: str | None = None,
    fcr_days: Annotated[float, Query(gt=0, le=365)] = 7.0,
) -> dict[str, Any]:
    """The figures `botsvc report --json` prints, for dashboards."""
    start, end = _window(since, until)
    window = FigureWindow(since=start, until=end, channel=channel, fcr_window_s=fcr_days * 86400)
    return figures_json(await st.store.figures(window))


def _window(since: str, until: str | None) -> tuple[float, float]:
    try:
        return parse_when(since), parse_when(until) if until else time.time()
    except ConfigError as exc:
        raise ApiError(422, "invalid_window", str(exc)) from None


async def _clusters(st: State, since: str, until: str | None) -> list[Cluster]:
    start, end = _window(since, until)
    messages = await st.store.unanswered(since=start, until=end)
    return await anyio.to_thread.run_sync(
        lambda: cluster_unanswered(messages, st.embedder, since=start, until=end)
    )


@router.get("/admin/unanswered", dependencies=[Admin])
async def unanswered(
    st: StateDep,
    since: Annotated[str, Query(description="7d, 24h, or an ISO date")] = "7d",
    until: Annotated[str | None, Query(description="default: now")] = None,
) -> dict[str, Any]:
    """Clusters of the questions the bot did not answer (or whose answer was not helpful)."""
    return {"clusters": [cluster_json(c) for c in await _clusters(st, since, until)]}


@router.get("/admin/unanswered/{cluster_id}/export", dependencies=[Admin])
async def export_cluster(
    st: StateDep,
    cluster_id: str,
    format: Annotated[Literal["rasa", "kb"], Query()] = "rasa",
    since: str = "7d",
    until: str | None = None,
) -> Response:
    """One cluster as Rasa NLU YAML (a new intent) or a markdown article stub for kb/."""
    found = [c for c in await _clusters(st, since, until) if c.id == cluster_id]
    if not found:
        raise ApiError(404, "not_found", f"no cluster {cluster_id!r} in that window")
    if format == "rasa":
        name = f"{found[0].suggested_intent}.yml"
        body, media = as_rasa_nlu(found[0]), "application/yaml"
    else:
        name = f"{found[0].suggested_intent}.md"
        body, media = as_kb_stub(found[0]), "text/markdown"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=media, headers=headers)


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
