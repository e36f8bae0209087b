"""The operator's dashboard (`/admin/`) and the data it shows: figures, unanswered questions
grouped (with their exports) and the conversation browser. The page is static; every data
route needs the admin token, which the page asks for and keeps for the browser tab."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from botsvc.api import render
from botsvc.api import schemas as s
from botsvc.api.deps import Admin, State, StateDep
from botsvc.api.errors import ApiError
from botsvc.api.routes.widget import STATIC
from botsvc.errors import ConfigError
from botsvc.report import cluster_json, figures_json, parse_when
from botsvc.store import BrowseFilter, FigureWindow
from botsvc.unanswered import Cluster, as_kb_stub, as_rasa_nlu, cluster_unanswered

router = APIRouter()
Since = Annotated[str, Query(description="7d, 24h, or an ISO date")]
Until = Annotated[str | None, Query(description="default: now")]


@router.get("/admin/", include_in_schema=False)
async def dashboard() -> FileResponse:
    return FileResponse(STATIC / "admin.html", media_type="text/html")


@router.get("/admin/admin.js", include_in_schema=False)
async def dashboard_js() -> FileResponse:
    return FileResponse(STATIC / "admin.js", media_type="text/javascript")


@router.get("/admin/conversations", dependencies=[Admin])
async def conversations(
    st: StateDep,
    since: Since = "7d",
    until: Until = None,
    channel: str | None = None,
    outcome: Literal["contained", "escalated"] | None = None,
    intent: str | None = None,
    flow: str | None = None,
    reason: str | None = None,
    rating: Annotated[int | None, Query(ge=1, le=5)] = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
    before: float | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Conversations started in the window, newest first; `next_before` pages on."""
    start, end = _window(since, until)
    found = await st.store.browse(
        BrowseFilter(
            since=start,
            until=end,
            channel=channel,
            outcome=outcome,
            intent=intent,
            flow=flow,
            reason=reason,
            rating=rating,
            text=text or None,
            before=before,
            limit=limit,
        )
    )
    return {
        "conversations": [c.__dict__ for c in found],
        "next_before": found[-1].created_at if len(found) == limit else None,
    }


@router.get("/admin/conversations/{conversation_id}", dependencies=[Admin])
async def conversation(st: StateDep, conversation_id: s.ConversationId) -> dict[str, Any]:
    """The transcript with each turn's full trace: intent, entities, KB hits, flow events,
    decision and timings."""
    view = await st.service.conversation(conversation_id)
    out = render.conversation_out(view.conversation, view.messages, view.handoff)
    return {
        **out.model_dump(mode="json"),
        "turns": [
            {
                "turn_id": t.id,
                "text": t.text,
                "handled_by": t.handled_by,
                "at": t.created_at,
                "trace": t.trace,
            }
            for t in view.turns
        ],
        "handoffs": [
            render.handoff_out(h).model_dump(mode="json")
            for h in await st.store.handoffs_of(conversation_id)
        ],
        "ratings": [r.__dict__ for r in await st.store.ratings(conversation_id)],
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


@router.get("/admin/customers/{customer_id}/data", dependencies=[Admin])
async def customer_data(st: StateDep, customer_id: str) -> dict[str, Any]:
    """Everything stored about a customer (GDPR access), as `botsvc customer export` gives it."""
    return await st.store.customer_data(customer_id)


@router.delete("/admin/customers/{customer_id}", dependencies=[Admin])
async def erase_customer(st: StateDep, customer_id: str) -> dict[str, Any]:
    """Every conversation of a customer deleted (GDPR erasure), webhooks not yet sent included."""
    n = await st.store.erase_customer(customer_id)
    return {"customer_id": customer_id, "conversations_erased": n}
