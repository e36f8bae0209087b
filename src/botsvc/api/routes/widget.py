"""The chat widget's script (`/widget.js`, for sites to embed) and the demo page at `/`."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parent.parent / "static"


def router(*, demo_page: bool) -> APIRouter:
    r = APIRouter(include_in_schema=False)

    @r.get("/widget.js")
    async def widget_js() -> FileResponse:
        # sites load it from their pages: cached for a while, revalidated by its ETag
        return FileResponse(
            STATIC / "widget.js",
            media_type="text/javascript",
            headers={"cache-control": "public, max-age=300"},
        )

    if demo_page:

        @r.get("/")
        async def demo() -> FileResponse:
            return FileResponse(STATIC / "demo.html", media_type="text/html")

    return r
