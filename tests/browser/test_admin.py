"""The operations dashboard (`/admin/`) in headless Chromium against the real service: the
token prompt, the figures and charts, the unanswered questions with their export, and the
conversation browser down to one turn's trace.

Set BOTSVC_SCREENSHOT=1 to rewrite docs/admin.png and docs/admin-conversation.png."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from botsvc.config import Settings
from botsvc.embedding import Embedder
from tests.api.test_api import settings_for
from tests.browser.test_widget import chromium  # noqa: F401  (the fixture)
from tests.conftest import REPO
from tests.receiver import Receiver
from tests.served import serve

pytestmark = [pytest.mark.browser, pytest.mark.anyio]
UI_MS = 60_000  # clustering runs the real model: generous on a loaded machine
HELPDESK = {"Authorization": "Bearer helpdesk-token"}


@pytest.fixture
def base_url(
    example_project: Path,
    receiver: Receiver,
    action_server: str,
    tmp_path: Path,
    embedder: Embedder,
) -> Iterator[str]:
    settings: Settings = settings_for(
        example_project, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", receiver, action_server
    )
    with serve(settings, embedder) as url:
        yield url


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:  # noqa: F811
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield b
        finally:
            await b.close()


async def _conversations(base_url: str) -> None:
    """A few real conversations: a flow, a KB answer, a handoff a person resolves and the
    customer rates, and the same unanswered question asked three ways."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as c:

        async def say(conv: str, text: str) -> dict:  # type: ignore[type-arg]
            r = await c.post(
                f"/v1/conversations/{conv}/messages",
                json={"text": text, "customer": {"id": f"u-{conv}"}},
                headers={"Authorization": "Bearer server-key"},
            )
            assert r.status_code == 200, r.text
            return r.json()  # type: ignore[no-any-return]

        await say("d-1", "I want a refund for my order")
        await say("d-1", "NW-100234")
        await say("d-2", "do you ship to canada?")
        human = await say("d-3", "I want to talk to a human")
        handoff = human["handoff"]["id"]
        reply = {"text": "Hi, Kim here.", "agent": {"id": "kim", "name": "Kim"}}
        r = await c.post(f"/v1/handoffs/{handoff}/messages", json=reply, headers=HELPDESK)
        assert r.status_code == 200, r.text
        await c.post(f"/v1/handoffs/{handoff}/resolve", json={}, headers=HELPDESK)
        await c.post(
            "/v1/conversations/d-3/rating",
            json={"score": 5},
            headers={"Authorization": "Bearer server-key"},
        )
        for i, q in enumerate(
            ["do you price match", "can you match a cheaper price", "price match guarantee?"]
        ):
            turn = await say(f"p-{i}", q)
            if turn["handled_by"] in ("kb", "flow"):  # an answer, which did not help
                r = await c.post(
                    f"/v1/conversations/p-{i}/turns/{turn['turn_id']}/feedback",
                    json={"helpful": False},
                    headers={"Authorization": "Bearer server-key"},
                )
                assert r.status_code == 200, r.text


async def _sign_in(browser: Browser, base_url: str) -> Page:
    page = await browser.new_page(viewport={"width": 1280, "height": 1500})
    await page.goto(f"{base_url}/admin/")
    await page.get_by_label("The service's BOTSVC_ADMIN_TOKEN").fill("wrong")
    await page.get_by_role("button", name="Open the dashboard").click()
    await expect(page.get_by_role("alert")).to_contain_text("refused")
    await page.get_by_label("The service's BOTSVC_ADMIN_TOKEN").fill("admin-token")
    await page.get_by_role("button", name="Open the dashboard").click()
    return page


async def test_ops_read_the_figures_the_unanswered_and_one_conversation(
    browser: Browser, base_url: str
) -> None:
    await _conversations(base_url)
    page = await _sign_in(browser, base_url)

    tiles = page.locator("#tiles")
    await expect(tiles).to_contain_text("Conversations", timeout=UI_MS)
    await expect(tiles.locator(".tile").first).to_contain_text("6")
    await expect(page.get_by_role("img", name="Conversations and handoffs per day")).to_be_visible()
    await expect(page.get_by_role("img", name="Handoffs by reason")).to_be_visible()
    await expect(page.get_by_role("table", name="Flow funnel")).to_contain_text("request_refund")

    clusters = page.locator("#clusters")
    await expect(clusters).to_contain_text("price", timeout=UI_MS)
    async with page.expect_download() as got:
        await clusters.get_by_role("button", name="Export as Rasa NLU intent").first.click()
    download = await got.value
    exported = Path(await download.path()).read_text()
    assert exported.startswith('version: "3.1"') and "price match" in exported
    if os.environ.get("BOTSVC_SCREENSHOT"):
        await page.screenshot(path=REPO / "docs" / "admin.png", full_page=True)

    # the browser: only the conversation a person took, then its turns with their traces
    await page.get_by_label("Outcome").select_option("escalated")
    await page.get_by_role("button", name="Filter").click()
    rows = page.get_by_role("table", name="Conversations").locator("tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("I want to talk to a human")
    await rows.first.click()
    detail = page.locator("#detail")
    await expect(detail).to_contain_text("Conversation d-3")
    await expect(detail).to_contain_text("handed off: customer_request")
    await expect(detail).to_contain_text("rated 5/5")
    await expect(detail).to_contain_text("Hi, Kim here.")
    await expect(detail.locator(".trace").first).to_contain_text("human")
    if os.environ.get("BOTSVC_SCREENSHOT"):
        await detail.screenshot(path=REPO / "docs" / "admin-conversation.png")

    await page.get_by_label("Words").fill("canada")
    await page.get_by_label("Outcome").select_option("")
    await page.get_by_role("button", name="Filter").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("do you ship to canada?")
