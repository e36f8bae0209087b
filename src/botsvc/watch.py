"""`botsvc serve --watch`: the project reloads itself when its files change, while developing.

Every reload says what changed (intents, flows, responses, KB documents) or, when the files
are broken, every problem with file:line, and the running project stays. The service's own
output (var/, models/, kb_index/) is not watched.
"""

from __future__ import annotations

import logging
from pathlib import Path

from botsvc.errors import BotError, ProjectError
from botsvc.logs import log_event
from botsvc.project import LiveProject
from botsvc.project_diff import project_changes, summary

__all__ = ["watch_project"]

log = logging.getLogger(__name__)
IGNORED = ("var", "models", "kb_index", ".git", "__pycache__", ".venv", "tests", "src", "bench")
SUFFIXES = {".yml", ".yaml", ".md", ".markdown", ".html", ".htm", ".csv", ".txt", ".json"}


def _watched(_change: object, path: str, root: Path) -> bool:
    try:
        parts = Path(path).relative_to(root).parts
    except ValueError:
        return False
    return (
        bool(parts)
        and parts[0] not in IGNORED
        and not parts[-1].startswith(".")
        and Path(path).suffix.lower() in SUFFIXES
    )


async def watch_project(live: LiveProject, root: Path) -> None:
    from watchfiles import awatch

    async for changed in awatch(root, watch_filter=lambda c, p: _watched(c, p, root)):
        before = live.current
        files = sorted({str(Path(p).relative_to(root)) for _, p in changed})
        try:
            after = await live.reload()
        except ProjectError as exc:
            log_event(
                log,
                "reload refused",
                level=logging.WARNING,
                files=files,
                problems=[str(p) for p in exc.problems],
            )
            continue
        except BotError as exc:
            log_event(log, "reload failed", level=logging.ERROR, files=files, error=str(exc))
            continue
        log_event(log, "reloaded", files=files, changes=summary(project_changes(before, after)))
