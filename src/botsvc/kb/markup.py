"""Readers that turn markdown and plain text into titled sections of plain text.

Each reader returns a `Document`: the title, the URL and tags found in the file itself, and its
sections in order, each with the path of headings above it. Section text has one paragraph,
list item, table row or code line per line, so that `sentences.split_sentences` sees every line
break as a boundary. Markdown is CommonMark with tables, read by markdown-it-py; HTML is read in
kb/html.py, into the same `Document`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token


@dataclass(frozen=True)
class Section:
    headings: tuple[str, ...]  # the heading path below the document title, outermost first
    text: str
    line: int  # 1-based line where the section starts


@dataclass(frozen=True)
class Document:
    title: str | None
    url: str | None
    tags: tuple[str, ...]
    sections: tuple[Section, ...]
    meta: dict[str, Any] = field(default_factory=dict)


class SectionBuilder:
    """Collects lines under the current heading path. A level-1 heading that comes before any
    other heading and any text is the document title, not part of the path."""

    def __init__(self) -> None:
        self.title: str | None = None
        self._path: list[tuple[int, str]] = []
        self._lines: list[str] = []
        self._line: int | None = None
        self._done: list[Section] = []

    def heading(self, level: int, text: str, line: int) -> None:
        self._close()
        if level == 1 and self.title is None and not self._path and not self._done:
            self.title = text
        else:
            while self._path and self._path[-1][0] >= level:
                self._path.pop()
            self._path.append((level, text))
        self._line = line

    def add_line(self, text: str, line: int) -> None:
        if text:
            self._lines.append(text)
            if self._line is None:  # a section without a heading starts at its first text
                self._line = line

    def _close(self) -> None:
        if self._lines:
            path = tuple(t for _, t in self._path if t)
            text = "\n".join(self._lines)
            self._done.append(Section(headings=path, text=text, line=self._line or 1))
        self._lines = []
        self._line = None

    def sections(self) -> tuple[Section, ...]:
        self._close()
        return tuple(self._done)


# --- markdown ------------------------------------------------------------------------------------


@cache
def _markdown() -> MarkdownIt:
    # strikethrough too: "~~old price~~" should read as text, not as tildes.
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def parse_markdown(source: str, front_matter: dict[str, Any]) -> Document:
    """`source` is the body after any front matter; `front_matter` its parsed YAML, with the
    body's first line number under `__body_line__` (popped) so that lines count the file's."""
    builder = SectionBuilder()
    _read_markdown(source, builder, first_line=int(front_matter.pop("__body_line__", 1)))
    return Document(
        title=_str_or_none(front_matter.get("title")) or builder.title,
        url=_str_or_none(front_matter.get("url") or front_matter.get("canonical_url")),
        tags=parse_tags(front_matter.get("tags")),
        sections=builder.sections(),
        meta=front_matter,
    )


def _read_markdown(source: str, builder: SectionBuilder, *, first_line: int) -> None:
    heading: int | None = None  # level of the heading being read
    cells: list[str] | None = None  # cells of the table row being read
    marker = ""  # list marker waiting for the item's first line
    line = first_line
    for token in _markdown().parse(source):
        if token.map is not None:  # 0-based line of the body
            line = token.map[0] + first_line
        kind = token.type
        if kind == "heading_open":
            heading = int(token.tag[1])
        elif kind == "heading_close":
            heading = None
        elif kind == "list_item_open":
            marker = f"{token.info}. " if token.info else "- "
        elif kind == "list_item_close":
            marker = ""
        elif kind == "tr_open":
            cells = []
        elif kind == "tr_close" and cells is not None:
            builder.add_line("; ".join(c for c in cells if c), line)
            cells = None
        elif kind == "inline":
            text = _plain(token.children or ())
            if heading is not None:
                builder.heading(heading, text, line)
            elif cells is not None:
                cells.append(text)
            elif text:
                builder.add_line(marker + text, line)
                marker = ""
        elif kind in ("fence", "code_block"):
            for code in filter(None, map(str.strip, token.content.splitlines())):
                builder.add_line(marker + code, line)
                marker = ""
        elif kind == "html_block":
            from botsvc.kb.html import add_html  # html.py imports this module

            add_html(token.content, builder, first_line=line)


def _plain(children: Sequence[Token]) -> str:
    """Inline markup as plain text: link and image text kept, emphasis and HTML tags dropped."""
    parts: list[str] = []
    for child in children:
        if child.type in ("text", "text_special", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak") or child.content[:3].lower() == "<br":
            parts.append(" ")  # a line break, or an inline <br> tag (text was taken above)
        elif child.type == "image":
            parts.append(_plain(child.children or ()))
    return " ".join("".join(parts).split())


def split_front_matter(text: str) -> tuple[str | None, str, int]:
    """(front matter YAML or None, body, 1-based line where the body starts)."""
    if not text.startswith("---"):
        return None, text, 1
    lines = text.split("\n")
    if lines[0].strip() != "---":
        return None, text, 1
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1 :]), i + 2
    return None, text, 1


# --- plain text ----------------------------------------------------------------------------------

_LIST_ITEM = re.compile(r"^(?:[-*+]|\d{1,9}[.)])\s")


def parse_text(source: str) -> Document:
    """Paragraphs split by blank lines; wrapped lines joined, list items kept apart. A short
    first line standing alone (no end punctuation) is the title."""
    paragraphs: list[tuple[int, list[str]]] = []
    for i, raw in enumerate(source.split("\n"), start=1):
        if not raw.strip():
            continue
        if paragraphs and paragraphs[-1][0] + len(paragraphs[-1][1]) == i:
            paragraphs[-1][1].append(raw.strip())
        else:
            paragraphs.append((i, [raw.strip()]))
    title = None
    if len(paragraphs) > 1 and len(paragraphs[0][1]) == 1:
        first = paragraphs[0][1][0]
        if len(first) <= 80 and not first.endswith((".", "!", "?", ":", ";", ",")):
            title = first
            paragraphs = paragraphs[1:]
    lines: list[str] = []
    for _, para in paragraphs:
        for n, line in enumerate(para):
            if n == 0 or _LIST_ITEM.match(line):
                lines.append(line)
            else:
                lines[-1] += " " + line
    text = "\n".join(lines)
    sections = (Section(headings=(), text=text, line=paragraphs[0][0]),) if text else ()
    return Document(title=title, url=None, tags=(), sections=sections)


# --- metadata ------------------------------------------------------------------------------------


def _str_or_none(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_tags(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        parts = re.split(r"[,;|]", value)
    elif isinstance(value, list | tuple):
        parts = [str(v) for v in value]
    else:
        parts = [str(value)]
    return tuple(p.strip() for p in parts if p.strip())


def humanise_stem(path: Path) -> str:
    """'returns-and-refunds.md' -> 'Returns and refunds'."""
    words = re.sub(r"[_-]+", " ", path.stem).strip()
    return words[:1].upper() + words[1:] if words else path.name
