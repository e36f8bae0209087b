"""`botsvc init [DIR]`: a small working bot to start from, as `rasa init` gives one: intents,
flows with a collected slot and a handoff, two knowledge-base articles and conversation tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from botsvc.errors import ConfigError

__all__ = ["TEMPLATE", "init_project"]

TEMPLATE = Path(__file__).resolve().parent / "template"


def init_project(target: Path) -> list[Path]:
    """Copies the template into `target` (created if missing); refuses to overwrite a file.
    Returns the files written."""
    sources = sorted(p for p in TEMPLATE.rglob("*") if p.is_file())
    clashes = [target / p.relative_to(TEMPLATE) for p in sources]
    existing = [p for p in clashes if p.exists()]
    if existing:
        names = ", ".join(str(p) for p in existing[:5])
        raise ConfigError(f"{target} already has {names}: choose an empty folder")
    written = []
    for src in sources:
        dest = target / src.relative_to(TEMPLATE)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        written.append(dest)
    return written
