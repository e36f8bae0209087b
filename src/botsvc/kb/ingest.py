"""Reads `kb/` into chunks: the units the index embeds, searches and answers from.

Formats (DESIGN.md, `kb/`):
- `.md`/`.markdown`: split by headings; YAML front matter may set `title`, `url`, `tags`.
- `.html`/`.htm`: split by headings; navigation, headers, footers, sidebars and scripts dropped;
  only `<main>`/`<article>` when the page has one; URL from `<link rel="canonical">`.
- `.txt`: paragraphs; a short first line standing alone is the title.
- `.csv`/`.jsonl`: FAQ rows with `question`, `answer` and optional `id`, `title`, `url`, `tags`,
  `alt_questions` (other phrasings; `|`-separated in CSV). A row's `id` is its hit id.
- A sidecar `<stem>.meta.yml|yaml|json` beside a file sets `url`, `title`, `tags` for it.
- Skipped: files and folders whose name starts with `.` or `_` (drafts), README, LICENSE and
  CHANGELOG files, and other formats (with a warning in the log).

Sections longer than `MAX_CHUNK_CHARS` are cut into runs of whole sentences that overlap by a
sentence or two. Identical chunks are kept once. Every problem found is reported at once, with
its file and line, in a `ProjectError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from botsvc.errors import ConfigError, Problem, ProjectError
from botsvc.kb.faq import FaqRow, read_faq_rows
from botsvc.kb.faq import text_or_none as _text
from botsvc.kb.html import parse_html
from botsvc.kb.markup import (
    Document,
    humanise_stem,
    parse_markdown,
    parse_tags,
    parse_text,
    split_front_matter,
)
from botsvc.kb.sentences import join_sentences, pack_sentences, split_sentences

log = logging.getLogger(__name__)

MAX_CHUNK_CHARS = 900  # about 200 word pieces: inside the encoder's 256-token window
OVERLAP_CHARS = 220
PASSAGE_SUFFIXES = frozenset({".md", ".markdown", ".html", ".htm", ".txt"})
FAQ_SUFFIXES = frozenset({".csv", ".jsonl"})
SIDECAR_SUFFIXES = (".meta.yml", ".meta.yaml", ".meta.json")

ChunkKind = Literal["passage", "faq"]


@dataclass(frozen=True)
class Chunk:
    id: str
    doc_id: str
    title: str
    section: str  # heading path below the title, " > "-joined; "" for the lead section
    text: str  # passage text, or the FAQ answer
    url: str | None
    tags: tuple[str, ...]
    source: str  # file path relative to kb/, with forward slashes
    kind: ChunkKind
    question: str | None  # FAQ question; None for passages
    alt_questions: tuple[str, ...] = ()  # other phrasings of the FAQ question
    line: int = 1  # where in `source` the chunk starts


@dataclass(frozen=True)
class KbSources:
    """What `kb/` holds: the chunks, each file's content hash, and what was dropped."""

    chunks: tuple[Chunk, ...]
    file_hashes: dict[str, str]  # relative path -> sha256 of the file (and of its sidecar)
    duplicates: int = 0
    warnings: tuple[Problem, ...] = field(default=())


def load_chunks(kb_dir: Path) -> list[Chunk]:
    """The chunks of every knowledge-base file under `kb_dir`, in a stable order.

    :raises ConfigError: `kb_dir` does not exist.
    :raises ProjectError: a file cannot be read, or the folder holds no chunk at all.
    """
    return list(load_sources(kb_dir).chunks)


def load_sources(kb_dir: Path) -> KbSources:
    """`load_chunks` with the file hashes and counts that an index build records."""
    if not kb_dir.is_dir():
        raise ConfigError(f"knowledge-base folder not found: {kb_dir}")
    problems: list[Problem] = []
    warnings: list[Problem] = []
    chunks: list[Chunk] = []
    hashes: dict[str, str] = {}
    for path in _source_files(kb_dir, warnings):
        rel = path.relative_to(kb_dir).as_posix()
        sidecar = _sidecar_of(path)
        try:
            data = path.read_bytes()
            side = sidecar.read_bytes() if sidecar else b""
        except OSError as exc:
            problems.append(Problem(rel, None, f"cannot read the file: {exc.strerror}"))
            continue
        hashes[rel] = _hash(data, side)
        text = _decode(data, rel, problems)
        if text is None:
            continue
        meta = _read_sidecar(sidecar, kb_dir, problems) if sidecar else {}
        chunks.extend(_read_file(path, rel, text, meta, problems))
    unique, duplicates = _deduplicate(chunks)
    problems.extend(_duplicate_ids(unique))
    if not problems and not unique:
        problems.append(
            Problem(
                str(kb_dir),
                None,
                "no knowledge-base content found; add .md, .html, .txt, .csv or .jsonl files",
            )
        )
    if problems:
        raise ProjectError(problems)
    for w in warnings:
        log.warning("%s", w)
    return KbSources(tuple(unique), hashes, duplicates, tuple(warnings))


def hash_sources(kb_dir: Path) -> dict[str, str]:
    """Each knowledge-base file's content hash (with its sidecar's), as `load_sources` records
    them; cheap enough to tell whether an index is current."""
    if not kb_dir.is_dir():
        raise ConfigError(f"knowledge-base folder not found: {kb_dir}")
    hashes: dict[str, str] = {}
    for path in _source_files(kb_dir, []):
        sidecar = _sidecar_of(path)
        try:
            side = sidecar.read_bytes() if sidecar else b""
            hashes[path.relative_to(kb_dir).as_posix()] = _hash(path.read_bytes(), side)
        except OSError:
            continue
    return hashes


def _hash(data: bytes, sidecar: bytes) -> str:
    return hashlib.sha256(data + b"\0" + sidecar).hexdigest()


def _source_files(kb_dir: Path, warnings: list[Problem]) -> list[Path]:
    files: list[Path] = []
    for path in sorted(kb_dir.rglob("*")):
        rel = path.relative_to(kb_dir)
        if any(part.startswith((".", "_")) for part in rel.parts) or not path.is_file():
            continue
        name = path.name.lower()
        if name.endswith(SIDECAR_SUFFIXES):
            continue
        if path.stem.lower() in ("readme", "license", "changelog"):
            continue  # notes for the people who edit kb/, not for customers
        if path.suffix.lower() in PASSAGE_SUFFIXES | FAQ_SUFFIXES:
            files.append(path)
        else:
            warnings.append(
                Problem(rel.as_posix(), None, "not a knowledge-base format; skipped", "warning")
            )
    return files


def _sidecar_of(path: Path) -> Path | None:
    for suffix in SIDECAR_SUFFIXES:
        candidate = path.with_name(path.stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def _decode(data: bytes, rel: str, problems: list[Problem]) -> str | None:
    try:
        return data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.append(Problem(rel, line, "not UTF-8 text; save the file as UTF-8"))
        return None


def _read_sidecar(path: Path, kb_dir: Path, problems: list[Problem]) -> dict[str, Any]:
    rel = path.relative_to(kb_dir).as_posix()
    text = path.read_text("utf-8", errors="replace")
    if path.suffix == ".json":
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(Problem(rel, exc.lineno, f"invalid JSON: {exc.msg}"))
            return {}
    else:
        loaded = _load_yaml(text, rel, 0, problems)
    if not isinstance(loaded, dict):
        problems.append(Problem(rel, 1, "a sidecar must be a mapping with url, title, tags"))
        return {}
    return loaded


def _load_yaml(text: str, rel: str, line_offset: int, problems: list[Problem]) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return YAML(typ="safe", pure=True).load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 + line_offset if mark is not None else None
        problems.append(Problem(rel, line, f"invalid YAML: {exc.problem or exc}"))
    except YAMLError as exc:
        problems.append(Problem(rel, line_offset + 1, f"invalid YAML: {exc}"))
    return None


# --- one file ------------------------------------------------------------------------------------


def _read_file(
    path: Path, rel: str, text: str, meta: dict[str, Any], problems: list[Problem]
) -> list[Chunk]:
    suffix = path.suffix.lower()
    if suffix in FAQ_SUFFIXES:
        rows = read_faq_rows(text, rel, csv_format=suffix == ".csv", problems=problems)
        return _faq_chunks(rows, rel, meta)
    if suffix in (".md", ".markdown"):
        fm_text, body, body_line = split_front_matter(text)
        front: dict[str, Any] = {}
        if fm_text is not None:
            loaded = _load_yaml(fm_text, rel, 1, problems)
            if loaded is not None and not isinstance(loaded, dict):
                problems.append(Problem(rel, 2, "front matter must be a YAML mapping"))
            elif isinstance(loaded, dict):
                front = {str(k): v for k, v in loaded.items()}
        front["__body_line__"] = body_line
        doc = parse_markdown(body, front)
    elif suffix in (".html", ".htm"):
        doc = parse_html(text)
    else:
        doc = parse_text(text)
    return _passage_chunks(doc, path, rel, meta)


def _passage_chunks(doc: Document, path: Path, rel: str, meta: dict[str, Any]) -> list[Chunk]:
    title = _text(meta.get("title")) or doc.title or humanise_stem(path)
    url = _text(meta.get("url")) or doc.url
    tags = parse_tags(meta.get("tags")) or doc.tags
    chunks: list[Chunk] = []
    used: dict[str, int] = {}
    for section in doc.sections:
        name = " > ".join(section.headings)
        anchor = _slug(section.headings[-1]) if section.headings else "top"
        used[anchor] = used.get(anchor, 0) + 1
        if used[anchor] > 1:
            anchor = f"{anchor}-{used[anchor]}"
        runs = pack_sentences(
            split_sentences(section.text), max_chars=MAX_CHUNK_CHARS, overlap_chars=OVERLAP_CHARS
        )
        for n, run in enumerate(runs, start=1):
            chunks.append(
                Chunk(
                    id=f"{rel}#{anchor}" + (f"~{n}" if n > 1 else ""),
                    doc_id=rel,
                    title=title,
                    section=name,
                    text=join_sentences(run),
                    url=url,
                    tags=tags,
                    source=rel,
                    kind="passage",
                    question=None,
                    line=section.line,
                )
            )
    return chunks


# --- FAQ files -----------------------------------------------------------------------------------


def _faq_chunks(rows: list[FaqRow], rel: str, meta: dict[str, Any]) -> list[Chunk]:
    chunks: list[Chunk] = []
    for row in rows:
        chunk_id = row.id or f"{rel}#{_slug(row.question)}"
        chunks.append(
            Chunk(
                id=chunk_id,
                doc_id=chunk_id,
                title=row.title or _text(meta.get("title")) or row.question,
                section="",
                text=row.answer,
                url=row.url or _text(meta.get("url")),
                tags=row.tags or parse_tags(meta.get("tags")),
                source=rel,
                kind="faq",
                question=row.question,
                alt_questions=row.alt_questions,
                line=row.line,
            )
        )
    return chunks


# --- the whole set -------------------------------------------------------------------------------


def _deduplicate(chunks: list[Chunk]) -> tuple[list[Chunk], int]:
    """Identical chunks (same text; for FAQs the same question and answer) are kept once."""
    seen: set[tuple[str, ...]] = set()
    unique: list[Chunk] = []
    for chunk in chunks:
        key = (chunk.kind, _fold(chunk.question or ""), _fold(chunk.text))
        if key in seen:
            continue
        seen.add(key)
        unique.append(chunk)
    return unique, len(chunks) - len(unique)


def _duplicate_ids(chunks: list[Chunk]) -> list[Problem]:
    first: dict[str, Chunk] = {}
    problems: list[Problem] = []
    for chunk in chunks:
        if chunk.id in first:
            other = first[chunk.id]
            problems.append(
                Problem(
                    chunk.source,
                    chunk.line,
                    f"id {chunk.id!r} is already used at "
                    f"{other.source}:{other.line}; give each row its own id",
                )
            )
        else:
            first[chunk.id] = chunk
    return problems


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def _slug(text: str) -> str:
    slug = re.sub(r"[^\w]+", "-", text.casefold()).strip("-")
    return slug[:60].rstrip("-") or "section"
