from __future__ import annotations

from pathlib import Path

from botsvc.kb.html import parse_html
from botsvc.kb.ingest import Chunk, load_chunks
from botsvc.kb.markup import Document, parse_markdown


def _chunks(tmp_path: Path, name: str, text: str) -> dict[str, Chunk]:
    (tmp_path / name).write_text(text)
    return {c.section: c for c in load_chunks(tmp_path)}


def _markdown(text: str) -> Document:
    return parse_markdown(text, {})


def _sections(doc: Document) -> dict[tuple[str, ...], str]:
    return {s.headings: s.text for s in doc.sections}


# --- markdown ------------------------------------------------------------------------------------


def test_nested_list_items_each_get_their_own_line() -> None:
    doc = _markdown(
        "# Payment\n\n- Cards\n  - Visa\n  - Mastercard\n- PayPal\n\n"
        "1. Open **Billing**.\n2. Pick a method:\n   1. Card\n"
    )
    assert doc.sections[0].text.splitlines() == [
        "- Cards",
        "- Visa",
        "- Mastercard",
        "- PayPal",
        "1. Open Billing.",
        "2. Pick a method:",
        "1. Card",
    ]


def test_setext_headings_are_headings_and_the_first_h1_is_the_title() -> None:
    doc = _markdown("Refunds\n=======\n\nLead text.\n\nCard refunds\n------------\n\nThree days.\n")
    assert doc.title == "Refunds"
    assert doc.sections[1].headings == ("Card refunds",)
    assert doc.sections[1].line == 6
    assert doc.sections[0].line == 1  # the lead section starts at the title


def test_an_h1_after_text_is_a_section_not_the_title() -> None:
    doc = _markdown("Some intro.\n\n# Billing\n\nText.\n")
    assert doc.title is None
    assert _sections(doc) == {(): "Some intro.", ("Billing",): "Text."}


def test_tables_are_read_one_row_per_line() -> None:
    doc = _markdown(
        "## Plans\n\n| Plan | Price | Note |\n|------|------:|------|\n"
        "| **Plus** | €5 | [details](https://x.example) |\n| Free | €0 | |\n"
    )
    assert _sections(doc)[("Plans",)].splitlines() == [
        "Plan; Price; Note",
        "Plus; €5; details",
        "Free; €0",
    ]


def test_hash_lines_inside_a_fence_are_code_not_headings() -> None:
    doc = _markdown(
        "# Guide\n\n## Install\n\n```sh\n# download it first\ncurl -O x.tar.gz\n```\n\nDone.\n"
    )
    assert [s.headings for s in doc.sections] == [("Install",)]
    assert doc.sections[0].text.splitlines() == [
        "# download it first",
        "curl -O x.tar.gz",
        "Done.",
    ]


def test_inline_markup_becomes_plain_text() -> None:
    doc = _markdown(
        'Use `Settings → Plan` on *the* [account page](https://x.example/a "t"),\n'
        "not ~~the app~~ ![the app](app.png) &amp; &copy; <b>now</b>.\n"
    )
    assert doc.sections[0].text == (
        "Use Settings → Plan on the account page, not the app the app & © now."
    )


def test_html_inside_markdown_is_read_as_html() -> None:
    doc = _markdown(
        "## FAQ\n\n<details><summary>Can I pay by invoice?</summary>"
        "Yes, on Business plans &amp; above.</details>\n\n<!-- internal note -->\n"
    )
    assert _sections(doc)[("FAQ",)].splitlines() == [
        "Can I pay by invoice?",
        "Yes, on Business plans & above.",
    ]


def test_headings_make_paths_with_the_lines_they_start_on(tmp_path: Path) -> None:
    sections = _chunks(
        tmp_path,
        "guide.md",
        "# Guide\n\nIntro.\n\n## Billing\n\n### Invoices\n\nDownload them.\n\n## Other\n\nMore.\n",
    )
    assert {name: c.line for name, c in sections.items()} == {
        "": 1,
        "Billing > Invoices": 7,
        "Other": 11,
    }


def test_front_matter_lines_count_in_section_lines(tmp_path: Path) -> None:
    sections = _chunks(
        tmp_path,
        "refunds.md",
        "---\ntitle: Refunds\ntags: [billing]\n---\n\nLead.\n\n## Card refunds\n\nDays.\n",
    )
    assert sections[""].line == 6
    assert sections["Card refunds"].line == 8
    assert sections["Card refunds"].title == "Refunds"


# --- HTML ----------------------------------------------------------------------------------------

_PAGE = """<!DOCTYPE html>
<html><head><title>Billing | Help Centre</title>
<link rel="canonical" href="https://help.example/billing"></head>
<body>
<header class="site-header"><a href="/">Help Centre</a></header>
<nav aria-label="Main"><ul><li>Orders</li><li>Billing</li></ul></nav>
<div id="cookie-consent" class="banner">We use cookies. <button>Accept</button></div>
<div role="navigation">Back to top</div>
<p>Outside the main content.</p>
<main>
  <h1>Billing</h1>
  <p>Fish &amp; chips cost &euro;5&nbsp;&ndash; or &#8364;4 with a coupon.</p>
  <h2 id="share-a-card">Share a card</h2>
  <ol>
    <li>Open <b>Settings</b>.</li>
    <li><p>Choose a card:</p>
      <ul><li>Visa</li><li>Mastercard</li></ul></li>
  </ol>
  <h3>Prices <a class="anchor" aria-hidden="true" href="#prices">#</a></h3>
  <table>
    <tr><th>Plan</th><th>Price</th></tr>
    <tr><td>Plus<br>yearly</td><td>€50</td></tr>
  </table>
  <pre>line one
    line two</pre>
  <footer>Was this article helpful?</footer>
</main>
<aside class="sidebar"><h3>Popular articles</h3></aside>
<footer>© 2026 Example</footer>
<script>window.dataLayer = [];</script>
</body></html>
"""


def test_html_reads_the_main_content_with_headings_and_lines() -> None:
    doc = parse_html(_PAGE)
    assert doc.title == "Billing"
    assert doc.url == "https://help.example/billing"
    assert [(s.headings, s.line) for s in doc.sections] == [
        ((), 11),
        (("Share a card",), 13),
        (("Share a card", "Prices"), 19),
    ]
    assert _sections(doc)[("Share a card",)].splitlines() == [
        "1. Open Settings.",
        "2. Choose a card:",
        "- Visa",
        "- Mastercard",
    ]
    assert _sections(doc)[("Share a card", "Prices")].splitlines() == [
        "Plan; Price",
        "Plus yearly; €50",
        "line one",
        "line two",
    ]


def test_html_entities_are_decoded() -> None:
    lead = parse_html(_PAGE).sections[0].text
    assert lead == "Fish & chips cost €5 – or €4 with a coupon."


def test_boilerplate_is_not_indexed() -> None:
    text = "\n".join(s.text for s in parse_html(_PAGE).sections)
    for boilerplate in (
        "Help Centre",
        "Orders",
        "cookies",
        "Accept",
        "Back to top",
        "Outside the main",
        "helpful",
        "Popular",
        "2026",
        "dataLayer",
        "#",
    ):
        assert boilerplate not in text


def test_without_main_the_body_is_read_and_boilerplate_still_dropped() -> None:
    doc = parse_html(
        "<title>Contact</title><header><p>Site</p></header>"
        '<div class="cookie-banner">Allow cookies?</div>'
        "<h2>Phone</h2><p>Call us.</p><footer>Imprint</footer>"
    )
    assert doc.title == "Contact"
    assert [(s.headings, s.text) for s in doc.sections] == [(("Phone",), "Call us.")]


def test_an_article_about_cookies_is_not_taken_for_a_cookie_banner() -> None:
    doc = parse_html(
        '<main><article class="cookies"><h1>Cookies</h1><p>We set two cookies.</p></article>'
        '</main><div class="cookie-notice">Accept all?</div>'
    )
    assert doc.title == "Cookies"
    assert [s.text for s in doc.sections] == ["We set two cookies."]


def test_html_files_report_heading_lines_through_ingest(tmp_path: Path) -> None:
    sections = _chunks(tmp_path, "billing.html", _PAGE)
    assert sections["Share a card > Prices"].line == 19
    assert sections["Share a card"].url == "https://help.example/billing"
