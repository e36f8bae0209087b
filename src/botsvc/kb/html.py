"""The HTML reader: a help-centre page → a `Document` of titled sections.

selectolax (lexbor) parses the page as a browser does, entities decoded. Boilerplate is left
out by tag, ARIA role or class name: scripts, styles, forms, navigation, site headers and
footers, sidebars, dialogs and cookie banners. A page with a `<main>` (else an `<article>`) is
read there only. Headings open sections; block elements end lines, so that each paragraph, list
item or table row is one line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from selectolax.lexbor import LexborHTMLParser, LexborNode

from botsvc.kb.markup import Document, SectionBuilder

_LINE = "data-botsvc-line"
_START_TAG = re.compile(r"<[A-Za-z][A-Za-z0-9-]*(?=[\s/>])")

_BOILERPLATE = (
    "script, style, noscript, template, svg, math, nav, footer, aside, form, button, iframe, "
    "select, textarea, object, canvas, dialog, [hidden], [aria-hidden=true], [role=navigation], "
    "[role=banner], [role=contentinfo], [role=search], [role=complementary], [role=dialog], "
    "[role=alertdialog], [role=menu]"
)
_SKIP_NAMES = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|navigation|menu|breadcrumbs?|footer|sidebar|cookies?|consent|"
    r"skip-link|share|social|pagination|toc)(?:$|[\s_-])",
    re.I,
)
_BLOCKS = (
    "p, div, li, tr, td, th, br, hr, h1, h2, h3, h4, h5, h6, section, article, main, header, ul, "
    "ol, dl, dt, dd, table, thead, tbody, tfoot, caption, blockquote, pre, figure, figcaption, "
    "details, summary, address"
)
# A row holding headings or tables lays out the page; others are data, read as one line.
_LAYOUT = "h1, h2, h3, h4, h5, h6, table"
_CELL = "\x1f"  # ends a table cell while a row is read; the ASCII unit separator
_HEADINGS = {f"h{i}": i for i in range(1, 7)}
# Never dropped by class name: "cookies" on the article of a page about cookies is its topic.
_CONTENT = frozenset(["html", "body", "main", "article", *_HEADINGS])


def parse_html(source: str) -> Document:
    tree = LexborHTMLParser(_with_lines(source, first=1))
    builder = SectionBuilder()
    _read(tree, builder)
    title = tree.css_first("title")
    return Document(
        title=builder.title or (_clean(title.text()) if title else "") or None,
        url=_canonical(tree),
        tags=(),
        sections=builder.sections(),
    )


def add_html(fragment: str, builder: SectionBuilder, *, first_line: int) -> None:
    """Adds the headings and text of an HTML fragment that starts at `first_line` to `builder`."""
    _read(LexborHTMLParser(_with_lines(fragment, first=first_line)), builder)


def _read(tree: LexborHTMLParser, builder: SectionBuilder) -> None:
    if tree.root is None:
        return
    skip = _boilerplate(tree.root)
    lines = _Lines(builder, skip=skip, blocks={node.mem_id for node in tree.root.css(_BLOCKS)})
    for root in _content(tree, skip):
        _walk(root, lines)
    lines.end()


def _with_lines(source: str, *, first: int) -> str:
    """Each start tag gets its line as an attribute, because lexbor keeps no source positions."""
    return "\n".join(
        _START_TAG.sub(rf'\g<0> {_LINE}="{n}"', text)
        for n, text in enumerate(source.split("\n"), start=first)
    )


def _boilerplate(root: LexborNode) -> set[int]:
    """The `mem_id`s of the elements left out, with everything inside them."""
    found = {node.mem_id for node in root.css(_BOILERPLATE)}
    for node in root.css("[class], [id]"):
        names = f"{node.attrs.sget('class')} {node.attrs.sget('id')}"
        if node.tag not in _CONTENT and _SKIP_NAMES.search(names):
            found.add(node.mem_id)
    for node in root.css("header"):  # the page's banner, unless it heads an article or section
        if not any(up.tag in ("main", "article", "section") for up in _ancestors(node)):
            found.add(node.mem_id)
    return found


def _content(tree: LexborHTMLParser, skip: set[int]) -> list[LexborNode]:
    """The outermost `<main>`s not inside boilerplate, else such `<article>`s, else the body."""
    for selector in ("main, [role=main]", "article"):
        found = {node.mem_id: node for node in tree.css(selector)}  # a selector list repeats
        outer = [
            node
            for node in found.values()
            if not any(up.mem_id in found or up.mem_id in skip for up in _ancestors(node))
            and node.mem_id not in skip
        ]
        if outer:
            return outer
    return [tree.body] if tree.body is not None else []


def _ancestors(node: LexborNode) -> Iterator[LexborNode]:
    up = node.parent
    while up is not None and up.is_element_node:
        yield up
        up = up.parent


def _walk(node: LexborNode, out: _Lines, *, inline: bool = False, depth: int = 0) -> None:
    """Feeds the text below `node` to `out`, line by line. `inline`: inside a heading or a table
    row, where blocks are spaces and cells are joined by "; "."""
    start = node.attrs.sget("start", "1") if node.tag == "ol" else ""
    number = int(start) if start.isdigit() else None  # the next item's, in an <ol>
    for child in node.iter(include_text=True):
        tag = child.tag or ""
        if child.is_text_node:
            out.text(child.text_content or "", child)
        elif not child.is_element_node or child.mem_id in out.skip:
            continue
        elif depth > 100:  # deeper than any real page: its text, without recursing further
            out.text(child.text(separator=" "), child)
        elif inline:
            out.text(_CELL if tag in ("td", "th") else " " if child.mem_id in out.blocks else "")
            _walk(child, out, inline=True, depth=depth + 1)
        elif tag in _HEADINGS or (tag == "tr" and child.css_first(_LAYOUT) is None):
            out.end(level=_HEADINGS.get(tag, 0), line=_line_of(child))
            _walk(child, out, inline=True, depth=depth + 1)
            out.end()
        elif tag == "pre":  # preformatted: a line of text per line of source
            out.end()
            for line in child.text().splitlines():
                out.text(line, child)
                out.end()
        elif tag == "li":
            out.end()
            out.marker = "- " if number is None else f"{number}. "
            number = None if number is None else number + 1
            _walk(child, out, depth=depth + 1)
            out.end()
            out.marker = ""
        elif child.mem_id in out.blocks:
            out.end()
            _walk(child, out, depth=depth + 1)
            out.end()
        else:
            _walk(child, out, depth=depth + 1)


class _Lines:
    """Gives the blocks of text read to a `SectionBuilder`; `end()` closes the one being read."""

    def __init__(self, builder: SectionBuilder, *, skip: set[int], blocks: set[int]) -> None:
        self.skip = skip  # the `mem_id`s of boilerplate elements
        self.blocks = blocks  # and of block elements
        self.marker = ""  # the list item's marker, for its first line
        self._builder = builder
        self._parts: list[str] = []
        self._level = 0
        self._line: int | None = None

    def text(self, text: str, node: LexborNode | None = None) -> None:
        if self._line is None and text.strip() and node is not None:
            self._line = _line_of(node)
        self._parts.append(text)

    def end(self, *, level: int = 0, line: int | None = None) -> None:
        """Closes the current block; the next is a heading of `level` (0: text) at `line`."""
        cells = (_clean(cell) for cell in "".join(self._parts).split(_CELL))
        text = "; ".join(cell for cell in cells if cell)
        if text and self._level:
            self._builder.heading(self._level, text, self._line or 1)
        elif text:
            self._builder.add_line(self.marker + text, self._line or 1)
            self.marker = ""
        self._parts, self._level, self._line = [], level, line


def _line_of(node: LexborNode | None) -> int:
    while node is not None:
        if node.is_element_node and (value := node.attrs.sget(_LINE)).isdigit():
            return int(value)
        node = node.parent
    return 1


def _canonical(tree: LexborHTMLParser) -> str | None:
    link = tree.css_first('link[rel~="canonical" i][href]')
    og = tree.css_first('meta[property="og:url"][content]')
    url = link.attrs.sget("href") if link else og.attrs.sget("content") if og else ""
    return _clean(url) or None


def _clean(text: str) -> str:
    return " ".join(text.split())
