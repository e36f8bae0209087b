"""FAQ files: `.csv` (a header row) and `.jsonl` (one object per line) with `question`,
`answer` and optional `id`, `title`, `url`, `tags` (list, or `,`/`;`/`|`-separated),
`alt_questions` (list, or `|`-separated in CSV). Each problem is reported with its line."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

from botsvc.errors import Problem
from botsvc.kb.markup import parse_tags


@dataclass(frozen=True)
class FaqRow:
    line: int
    id: str | None
    question: str
    answer: str
    title: str | None
    url: str | None
    tags: tuple[str, ...]
    alt_questions: tuple[str, ...]


_Raw = tuple[int, dict[str, Any]]  # (line, fields)


def read_faq_rows(
    text: str, rel: str, *, csv_format: bool, problems: list[Problem]
) -> list[FaqRow]:
    raw = _csv_rows(text, rel, problems) if csv_format else _jsonl_rows(text, rel, problems)
    rows: list[FaqRow] = []
    for line, fields in raw:
        row = _validate(line, fields, rel, problems)
        if row is not None:
            rows.append(row)
    return rows


def _validate(line: int, row: dict[str, Any], rel: str, problems: list[Problem]) -> FaqRow | None:
    question = text_or_none(row.get("question"))
    answer = text_or_none(row.get("answer"))
    if not question or not answer:
        missing = "question" if not question else "answer"
        hint = " (found `text`: rename it to `answer`)" if "text" in row and not answer else ""
        problems.append(Problem(rel, line, f"the row has no {missing}{hint}"))
        return None
    alts = row.get("alt_questions") or ()
    if isinstance(alts, str):
        alts = [alts]
    if not isinstance(alts, list | tuple):
        problems.append(Problem(rel, line, "alt_questions must be a list of strings"))
        return None
    return FaqRow(
        line=line,
        id=text_or_none(row.get("id")),
        question=question,
        answer=_normalise_answer(answer),
        title=text_or_none(row.get("title")),
        url=text_or_none(row.get("url")),
        tags=parse_tags(row.get("tags")),
        alt_questions=tuple(a for a in (text_or_none(x) for x in alts) if a and a != question),
    )


def _csv_rows(text: str, rel: str, problems: list[Problem]) -> list[_Raw]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("question", "answer") if c not in header]
    if missing:
        problems.append(
            Problem(
                rel,
                1,
                f"the header row has no {' or '.join(missing)} column "
                f"(found: {', '.join(header) or 'nothing'})",
            )
        )
        return []
    reader.fieldnames = header
    rows: list[_Raw] = []
    line = 2
    try:
        for row in reader:
            fields: dict[str, Any] = {k: v for k, v in row.items() if k is not None}
            if None in row:
                problems.append(Problem(rel, line, "the row has more cells than the header"))
            if "alt_questions" in fields and isinstance(fields["alt_questions"], str):
                fields["alt_questions"] = fields["alt_questions"].split("|")
            rows.append((line, fields))
            line = reader.line_num + 1
    except csv.Error as exc:
        problems.append(Problem(rel, reader.line_num, f"invalid CSV: {exc}"))
    return rows


def _jsonl_rows(text: str, rel: str, problems: list[Problem]) -> list[_Raw]:
    rows: list[_Raw] = []
    for n, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(Problem(rel, n, f"invalid JSON: {exc.msg} (column {exc.colno})"))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(rel, n, "each line must be a JSON object"))
            continue
        rows.append((n, obj))
    return rows


def _normalise_answer(answer: str) -> str:
    lines = [re.sub(r"[ \t]+", " ", ln).strip() for ln in answer.split("\n")]
    return "\n".join(ln for ln in lines if ln)


def text_or_none(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
