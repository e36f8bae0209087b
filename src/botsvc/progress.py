"""A progress bar for the long CLI steps (embedding training examples and KB chunks), or
nothing when the caller runs in the background (a reload) or output is not wanted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Advance = Callable[[int], None]


@contextmanager
def progress_bar(total: int, *, enabled: bool, what: str) -> Iterator[Advance]:
    """Yields ``advance(n)``; draws a rich bar for ``total`` steps when ``enabled``."""
    if not enabled or total == 0:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(what, total=total)
        yield lambda n: bar.advance(task, n)
