"""Readers that turn markdown, HTML and plain text into titled sections of plain text.

Each reader returns a `Document`: the title, the URL and tags found in the file itself, and its
sections in order, each with the path of headings above it. Section text has one paragraph or
list item per line, so that `sentences.split_sentences` sees every line break as a boundary.
HTML is read in kb/html.py, into the same `Document`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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


# --- markdown ------------------------------------------------------------------------------------

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST = re.compile(r"^\s{0,3}(?:([-*+])|(\d{1,9})[.)])\s+(.*)$")
_RULE = re.compile(r"^ {0,3}(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


def parse_markdown(source: str, front_matter: dict[str, Any]) -> Document:
    """`source` is the body after any front matter; `front_matter` its parsed YAML."""
    lines = source.split("\n")
    offset = int(front_matter.pop("__body_line__", 1)) - 1
    builder = SectionBuilder()
    paragraph: list[str] = []
    fence: str | None = None

    def flush() -> None:
        if paragraph:
            builder.add_line(_inline(" ".join(p.strip() for p in paragraph)))
            paragraph.clear()

    for i, raw in enumerate(lines):
        lineno = i + 1 + offset
        fence_match = _FENCE.match(raw)
        if fence is not None:
            if fence_match and fence_match.group(1)[0] == fence[0]:
                fence = None
            elif raw.strip():
                builder.add_line(raw.strip())
            continue
        if fence_match:
            flush()
            fence = fence_match.group(1)
            continue
        heading = _ATX.match(raw)
        if heading:
            flush()
            builder.heading(len(heading.group(1)), _inline(heading.group(2) or ""), lineno)
            continue
        setext = _SETEXT.match(raw)
        if setext and paragraph and not _LIST.match(paragraph[0]):
            level = 1 if setext.group(1)[0] == "=" else 2
            title = _inline(" ".join(p.strip() for p in paragraph))
            paragraph.clear()
            builder.heading(level, title, lineno - 1)
            continue
        if not raw.strip() or _RULE.match(raw):
            flush()
            continue
        stripped = raw.strip()
        item = _LIST.match(raw)
        if item:
            flush()
            marker = "-" if item.group(1) else f"{item.group(2)}."
            paragraph.append(f"{marker} {item.group(3)}")
        elif stripped.startswith("|"):
            flush()
            if not _TABLE_SEP.match(stripped):
                cells = [c.strip() for c in stripped.strip("|").split("|")]
                builder.add_line(_inline("; ".join(c for c in cells if c)))
        elif stripped.startswith(">"):
            paragraph.append(stripped.lstrip("> "))
        else:
            paragraph.append(stripped)
    flush()
    return Document(
        title=_str_or_none(front_matter.get("title")) or builder.title,
        url=_str_or_none(front_matter.get("url") or front_matter.get("canonical_url")),
        tags=parse_tags(front_matter.get("tags")),
        sections=builder.sections(),
        meta=front_matter,
    )


_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|~~)(?=\S)(.+?)(?<=\S)\1")
_CODE = re.compile(r"`+([^`]+)`+")


def _inline(text: str) -> str:
    text = _COMMENT.sub("", text)
    text = _IMAGE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _REF_LINK.sub(lambda m: m.group(1), text)
    text = _AUTOLINK.sub(lambda m: m.group(1), text)
    text = _TAG.sub("", text)
    text = _CODE.sub(lambda m: m.group(1), text)
    for _ in range(2):  # nested emphasis: ***x***
        text = _EMPHASIS.sub(lambda m: m.group(2), text)
    return re.sub(r"\s+", " ", text).strip()


class SectionBuilder:
    """Collects lines under the current heading path; the first level-1 heading is the title."""

    def __init__(self) -> None:
        self.title: str | None = None
        self._path: list[tuple[int, str]] = []
        self._lines: list[str] = []
        self._done: list[Section] = []
        self.line = 1
        self._seen_content = False

    def heading(self, level: int, text: str, lineno: int) -> None:
        self._close()
        if level == 1 and self.title is None and not self._seen_content and not self._path:
            self.title = text
        else:
            while self._path and self._path[-1][0] >= level:
                self._path.pop()
            self._path.append((level, text))
        self.line = lineno

    def add_line(self, text: str) -> None:
        if text:
            self._lines.append(text)
            self._seen_content = True

    def _close(self) -> None:
        body = "\n".join(self._lines).strip()
        if body:
            path = tuple(t for _, t in self._path if t)
            self._done.append(Section(headings=path, text=body, line=max(self.line, 1)))
        self._lines = []

    def sections(self) -> tuple[Section, ...]:
        self._close()
        return tuple(self._done)


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


def parse_text(source: str) -> Document:
    """Paragraphs split by blank lines; wrapped lines joined. A short first line standing alone
    (no end punctuation) is the title."""
    paragraphs: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 1
    for i, raw in enumerate(source.split("\n"), start=1):
        if raw.strip():
            if not current:
                start = i
            current.append(raw.strip())
        elif current:
            paragraphs.append((start, current))
            current = []
    if current:
        paragraphs.append((start, current))
    title = None
    if len(paragraphs) > 1 and len(paragraphs[0][1]) == 1:
        first = paragraphs[0][1][0]
        if len(first) <= 80 and not first.endswith((".", "!", "?", ":", ";", ",")):
            title = first
            paragraphs = paragraphs[1:]
    lines: list[str] = []
    for _, para in paragraphs:
        joined: list[str] = []
        for line in para:
            if _LIST.match(line) or not joined:
                joined.append(line)
            else:
                joined[-1] += " " + line
        lines.extend(joined)
    first_line = paragraphs[0][0] if paragraphs else 1
    text = "\n".join(lines).strip()
    sections = (Section(headings=(), text=text, line=first_line),) if text else ()
    return Document(title=title, url=None, tags=(), sections=sections)


# --- HTML ----------------------------------------------------------------------------------------


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
