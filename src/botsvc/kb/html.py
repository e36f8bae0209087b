"""The HTML reader: a help-centre page → a `Document` of titled sections.

Navigation, headers, footers, scripts and forms are dropped; headings open sections; block
elements end paragraphs, so that each paragraph or list item is one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from botsvc.kb.markup import Document, SectionBuilder

_SKIP_TAGS = frozenset(
    [
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "nav",
        "footer",
        "aside",
        "form",
        "button",
        "iframe",
        "select",
        "object",
        "canvas",
        "dialog",
    ]
)
_SKIP_ROLES = frozenset(
    ["navigation", "banner", "contentinfo", "search", "complementary", "dialog", "menu"]
)
_SKIP_CLASS = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|navigation|menu|breadcrumbs?|footer|sidebar|cookies?|"
    r"skip-link|share|social|pagination|toc)(?:$|[\s_-])",
    re.I,
)
_BLOCK = frozenset(
    [
        "p",
        "div",
        "li",
        "tr",
        "br",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "main",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "table",
        "thead",
        "tbody",
        "blockquote",
        "pre",
        "header",
        "hr",
        "figure",
        "figcaption",
        "details",
        "summary",
    ]
)
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    ]
)
_HEADINGS = {f"h{i}": i for i in range(1, 7)}


@dataclass
class _Open:
    tag: str
    skip: bool
    main: bool


class _HtmlExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[_Open] = []
        self.blocks: list[tuple[bool, str, int, str]] = []  # (in main, kind, line, text)
        self.current: list[str] = []
        self.heading_level = 0
        self.doc_title: list[str] = []
        self.in_title = False
        self.canonical: str | None = None
        self.saw_main = False

    @property
    def skipping(self) -> bool:
        return any(o.skip for o in self.stack)

    @property
    def in_main(self) -> bool:
        return any(o.main for o in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "link" and "canonical" in a.get("rel", "").split():
            self.canonical = a.get("href") or self.canonical
        if tag == "meta" and a.get("property") == "og:url" and not self.canonical:
            self.canonical = a.get("content") or None
        if tag == "title":
            self.in_title = True
        if tag in _BLOCK:
            self._end_block()
        if tag in _VOID:
            return
        main = tag in ("main", "article") or a.get("role") == "main"
        skip = (
            tag in _SKIP_TAGS
            or (tag == "header" and not self.in_main)
            or a.get("role", "") in _SKIP_ROLES
            or a.get("aria-hidden") == "true"
            or "hidden" in a
            or bool(_SKIP_CLASS.search(a.get("class", "") + " " + a.get("id", "")))
        )
        self.saw_main = self.saw_main or (main and not self.skipping)
        self.stack.append(_Open(tag, skip, main))
        if tag in _HEADINGS:
            self.heading_level = _HEADINGS[tag]
        elif tag == "li":
            self.current.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in _BLOCK:
            self._end_block()
        if tag in _HEADINGS:
            self.heading_level = 0
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                break
        if tag in ("td", "th"):
            self.current.append("; ")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.doc_title.append(data)
            return
        if not self.skipping:
            self.current.append(data)

    def _end_block(self) -> None:
        text = re.sub(r"\s+", " ", "".join(self.current)).strip().strip(";").strip()
        self.current = []
        if not text or text == "-":
            return
        kind = f"h{self.heading_level}" if self.heading_level else "text"
        self.blocks.append((self.in_main, kind, self.getpos()[0], text))

    def close(self) -> None:
        super().close()
        self._end_block()


def parse_html(source: str) -> Document:
    parser = _HtmlExtractor()
    parser.feed(source)
    parser.close()
    builder = SectionBuilder()
    for in_main, kind, line, text in parser.blocks:
        if parser.saw_main and not in_main:
            continue
        if kind.startswith("h"):
            builder.heading(int(kind[1:]), text, line)
        else:
            builder.add_line(text)
    html_title = re.sub(r"\s+", " ", "".join(parser.doc_title)).strip() or None
    return Document(
        title=builder.title or html_title,
        url=parser.canonical,
        tags=(),
        sections=builder.sections(),
    )


# --- shared helpers ------------------------------------------------------------------------------
