"""The chat widget (api/static/widget.js) in a real headless Chromium against the real service
under uvicorn: the demo page at `/`, real turns on the example bot, a person taking over through
the helpdesk API, live events over Server-Sent Events, and the rating kept in the store.

Chromium is Debian's (`/usr/bin/chromium`), driven by playwright; never `playwright install`.
Set BOTSVC_SCREENSHOT=1 to rewrite docs/widget.png from the conversation."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, async_playwright, expect

from botsvc.access import user_hash
from botsvc.config import Settings
from botsvc.embedding import Embedder
from botsvc.store import open_store
from tests.api.test_api import settings_for
from tests.conftest import REPO
from tests.receiver import Receiver
from tests.served import serve

pytestmark = [pytest.mark.browser, pytest.mark.anyio]

TURN_MS = 60_000  # a turn runs the real model: on a loaded machine it can take many seconds
LIVE_MS = 20_000  # a helpdesk action reaching the page over the event stream
HELPDESK = {"Authorization": "Bearer helpdesk-token"}
TITLE = "Example shop assistant"
# a site page of our own (served by the test), embedding the widget closed
SHOP_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Shop</title></head>
<body><a href="#top">Shop home</a><p>Products.</p>
<script src="/widget.js" data-title="Shop assistant" {attributes} defer></script></body></html>"""


@pytest.fixture(autouse=True)
def chromium() -> str:
    """Debian's chromium; without it the tests skip here, before the service starts (on CI
    they fail instead)."""
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI")
        pytest.skip("chromium is not on PATH: browser tests skipped")
    return path


@pytest.fixture
def settings(
    example_project: Path, receiver: Receiver, action_server: str, tmp_path: Path
) -> Settings:
    return settings_for(
        example_project, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", receiver, action_server
    )


@pytest.fixture
def base_url(settings: Settings, embedder: Embedder) -> Iterator[str]:
    with serve(settings, embedder) as url:
        yield url


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield b
        finally:
            await b.close()


async def shop_page(
    browser: Browser, base_url: str, attributes: str = "", **context: object
) -> Page:
    """A new page showing SHOP_PAGE at `{base_url}/shop`, so the widget's script is same-origin;
    `attributes` go on its script tag."""
    page = await browser.new_page(**context)  # type: ignore[arg-type]
    await page.route(f"{base_url}/shop", _serve(SHOP_PAGE.format(attributes=attributes)))
    await page.goto(f"{base_url}/shop")
    return page


def _serve(html: str) -> Callable[[Route], Awaitable[None]]:
    async def fulfil(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/html", body=html)

    return fulfil


async def _unavailable(route: Route) -> None:
    await route.fulfill(
        status=503,
        content_type="application/json",
        body='{"error": {"code": "unavailable", "message": "the store is down"}}',
    )


async def say(page: Page, text: str) -> None:
    """Types `text` into the widget and sends it with Enter, as a customer would."""
    box = page.get_by_role("textbox", name="Your message")
    await box.fill(text)
    await box.press("Enter")
    await expect(page.get_by_role("log").get_by_text(text, exact=True)).to_be_visible()


async def test_a_customer_talks_to_the_bot_then_to_a_person_and_rates_the_help(
    browser: Browser, base_url: str, settings: Settings
) -> None:
    page = await browser.new_page(viewport={"width": 900, "height": 760})
    await page.goto(f"{base_url}/")
    dialog = page.get_by_role("dialog", name=TITLE)
    log = dialog.get_by_role("log")
    box = dialog.get_by_role("textbox", name="Your message")
    await expect(dialog).to_be_visible()  # data-open="true" on the demo page

    # the network fails: a polite notice, and the text stays to send again
    await page.route("**/v1/conversations/*/messages", lambda route: route.abort())
    await box.fill("I want a refund for my order")
    await box.press("Enter")
    await expect(dialog.get_by_role("alert")).to_contain_text("couldn't reach the assistant")
    await expect(box).to_have_value("I want a refund for my order")
    await page.unroute("**/v1/conversations/*/messages")
    # ... and so does a server error
    await page.route("**/v1/conversations/*/messages", _unavailable)
    await box.press("Enter")
    await expect(dialog.get_by_role("alert")).to_contain_text("something went wrong")
    await expect(box).to_have_value("I want a refund for my order")
    await expect(log.get_by_text("I want a refund for my order")).to_have_count(0)
    await page.unroute("**/v1/conversations/*/messages")

    # the typing indicator shows while the turn is in flight (held here until it is seen)
    release = asyncio.Event()

    async def held(route: Route) -> None:
        await release.wait()
        await route.continue_()

    await page.route("**/v1/conversations/*/messages", held)
    await box.press("Enter")
    await expect(dialog.get_by_text("Assistant is typing")).to_be_visible()
    await expect(dialog.get_by_role("alert")).to_be_hidden()
    release.set()
    await expect(log.get_by_text("order number").last).to_be_visible(timeout=TURN_MS)
    await expect(dialog.get_by_text("Assistant is typing")).to_be_hidden()
    await page.unroute("**/v1/conversations/*/messages")
    await expect(box).to_have_value("")

    await say(page, "NW-553201")  # an order not shipped yet: refunded straight away
    await expect(log.get_by_text("started the refund for NW-553201")).to_be_visible(timeout=TURN_MS)

    # a knowledge-base answer, with its source as a link and "Was this helpful?"
    await say(page, "how do I reset my password?")
    source = log.get_by_role("link", name="How to reset your password")
    await expect(source).to_be_visible(timeout=TURN_MS)
    await expect(source).to_have_attribute(
        "href", "https://help.northwind.example/articles/reset-password"
    )
    await expect(log.get_by_text("Was this helpful?")).to_be_visible()
    await log.get_by_role("button", name="Yes, this was helpful").click()
    await expect(log.get_by_text("Thanks for letting us know.")).to_be_visible()

    # a flow with buttons: a click sends the payload and shows the title
    await say(page, "my files aren't syncing")
    mac = log.get_by_role("button", name="Mac")
    await expect(mac).to_be_visible(timeout=TURN_MS)
    await mac.click()
    await expect(log.locator(".customer").last).to_have_text("Mac")
    await expect(log.get_by_role("button", name="Windows PC")).to_be_disabled()
    await expect(log.get_by_text("sync problems on a Mac")).to_be_visible(timeout=TURN_MS)
    await expect(log.get_by_role("button", name="Yes", exact=True)).to_be_enabled()

    # ... it did not help: a person takes over
    await say(page, "I want to speak to a human")
    queued = dialog.get_by_role("status").filter(has_text="You're in the queue")
    await expect(queued).to_have_text("You're in the queue — a person will join shortly.")

    async with httpx.AsyncClient(base_url=base_url, headers=HELPDESK) as helpdesk:
        r = await helpdesk.get("/v1/handoffs", params={"status": "open"})
        assert r.status_code == 200, r.text
        [handoff] = r.json()
        r = await helpdesk.post(
            f"/v1/handoffs/{handoff['id']}/messages",
            json={
                "text": "Hi, I'm Kim. Let me look into it.",
                "agent": {"id": "a1", "name": "Kim"},
            },
        )
        assert r.status_code == 200, r.text

        # live, without a reload
        kim = log.locator(".agent").filter(has_text="Hi, I'm Kim. Let me look into it.")
        await expect(kim).to_be_visible(timeout=LIVE_MS)
        await expect(kim).to_contain_text("Kim")  # the bubble is labelled with the agent's name
        joined = dialog.get_by_role("status").filter(has_text="Kim has joined")
        await expect(joined).to_be_visible()
        await expect(queued).to_be_hidden()
        if os.environ.get("BOTSVC_SCREENSHOT"):
            await page.locator(".panel").screenshot(path=REPO / "docs" / "widget.png")

        # a reload restores the transcript, and the stream carries on from where it was
        await page.reload()
        await expect(log.get_by_text("I want a refund for my order", exact=True)).to_be_visible()
        await expect(log.get_by_text("started the refund for NW-553201")).to_be_visible()
        await expect(log.locator(".customer").get_by_text("Mac", exact=True)).to_be_visible()
        await expect(log.get_by_role("button", name="Windows PC")).to_be_disabled()
        await expect(kim).to_be_visible()
        await expect(joined).to_be_visible()

        r = await helpdesk.post(f"/v1/handoffs/{handoff['id']}/resolve")
        assert r.status_code == 200, r.text
    await expect(log.get_by_text("How would you rate this conversation?")).to_be_visible(
        timeout=LIVE_MS
    )
    await expect(joined).to_be_hidden()
    await log.get_by_role("button", name="4 out of 5").click()
    await expect(log.get_by_text("Thanks for your feedback!")).to_be_visible()

    store = open_store(settings.database_url)
    await store.open()
    try:
        conversation_id = (await store.get_handoff(handoff["id"])).conversation_id
        assert [r.score for r in await store.ratings(conversation_id)] == [4]
        assert [f.helpful for f in await store.feedback(conversation_id)] == [True]
    finally:
        await store.close()


async def test_the_widget_works_from_the_keyboard(browser: Browser, base_url: str) -> None:
    page = await shop_page(browser, base_url)
    launcher = page.get_by_role("button", name="Chat: Shop assistant")
    dialog = page.get_by_role("dialog", name="Shop assistant")
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    await expect(dialog).to_be_hidden()

    await page.keyboard.press("Tab")  # the page's own link
    await page.keyboard.press("Tab")
    await expect(launcher).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_visible()
    await expect(launcher).to_have_attribute("aria-expanded", "true")
    await expect(dialog.get_by_role("textbox", name="Your message")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(dialog.get_by_role("button", name="Send")).to_be_focused()

    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(launcher).to_be_focused()
    await expect(launcher).to_have_attribute("aria-expanded", "false")


async def test_on_a_phone_the_open_panel_fills_the_screen(browser: Browser, base_url: str) -> None:
    page = await shop_page(browser, base_url, viewport={"width": 375, "height": 667})
    await page.get_by_role("button", name="Chat: Shop assistant").click()
    dialog = page.get_by_role("dialog", name="Shop assistant")
    await expect(dialog).to_be_visible()
    assert await dialog.bounding_box() == {"x": 0, "y": 0, "width": 375, "height": 667}
    box = dialog.get_by_role("textbox", name="Your message")
    # under 16px iOS Safari zooms into the field
    assert await box.evaluate("e => parseFloat(getComputedStyle(e).fontSize)") >= 16


async def stored_conversation(page: Page, base_url: str, customer_id: str = "") -> object:
    """What the widget keeps in localStorage: its conversation id and token."""
    key = f"botsvc:conversation:{base_url}:{customer_id}"
    return await page.evaluate("key => JSON.parse(localStorage.getItem(key))", key)


async def test_a_stored_conversation_that_is_not_ours_is_forgotten(
    browser: Browser, base_url: str
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as other:  # another customer's conversation
        r = await other.post(
            "/v1/conversations/w-someone-else/messages",
            json={"text": "I want a refund for my order", "channel": "widget"},
        )
        assert r.status_code == 200, r.text
    page = await browser.new_page()
    key = f"botsvc:conversation:{base_url}:"
    forged = '{"id": "w-someone-else", "token": "forged"}'
    await page.add_init_script(f"localStorage.setItem({key!r}, {forged!r})")

    await page.route(f"{base_url}/shop", _serve(SHOP_PAGE.format(attributes="")))
    async with page.expect_response("**/v1/conversations/w-someone-else") as restoring:
        await page.goto(f"{base_url}/shop")
    assert (await restoring.value).status == 403
    await page.evaluate("() => window.botsvc.open()")
    log = page.get_by_role("log")
    await expect(log.get_by_text("I want a refund for my order")).to_have_count(0)

    await page.evaluate("() => window.botsvc.send('hello')")
    await expect(log.locator(".bot")).not_to_have_count(0, timeout=TURN_MS)
    ours = await stored_conversation(page, base_url)
    assert isinstance(ours, dict) and ours["id"] != "w-someone-else" and ours["token"]


async def test_a_signed_in_customer_is_known_by_the_id_the_site_signed(
    browser: Browser, base_url: str, settings: Settings
) -> None:
    assert settings.identity_secret is not None, "the site signs customer ids with it"
    signed = user_hash("cust-42", settings.identity_secret.get_secret_value())
    page = await shop_page(
        browser,
        base_url,
        f'data-customer-id="cust-42" data-customer-hash="{signed}" '
        'data-customer-name="Pieter Janssen" data-customer-email="pieter@example.com"',
    )
    await page.get_by_role("button", name="Chat: Shop assistant").click()
    await say(page, "I want a refund for my order")
    await expect(page.get_by_role("log").get_by_text("order number").last).to_be_visible(
        timeout=TURN_MS
    )
    stored = await stored_conversation(page, base_url, "cust-42")
    assert isinstance(stored, dict)

    store = open_store(settings.database_url)
    await store.open()
    try:
        conversation = await store.get_conversation(stored["id"])
    finally:
        await store.close()
    assert conversation.customer.id == "cust-42"
    assert conversation.customer.name == "Pieter Janssen"
    assert conversation.channel == "widget"
