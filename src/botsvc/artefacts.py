"""Derived artefacts kept in models/ under the hash of everything they are computed from.

The entity CRF and the flow-description vectors are pure functions of the project's files and
the encoder. `botsvc train` computes them once; a service (or each of its workers) starting on
the same files reads them back instead of spending a second of CPU on every start and reload.
A changed input changes the hash, so a stale artefact is never read; the older files of the
same kind are removed when a new one is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["ArtefactCache"]

log = logging.getLogger(__name__)


class ArtefactCache:
    """`folder` None: nothing is kept (everything is computed each time)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def get_or_make(self, kind: str, inputs: object, make: Callable[[], bytes]) -> bytes:
        """The bytes `make()` returned for the same `kind` and JSON-able `inputs`, read back
        when kept; otherwise made now and kept (a read-only folder only costs the reuse)."""
        if self.folder is None:
            return make()
        blob = json.dumps(inputs, ensure_ascii=False, sort_keys=True, default=str)
        digest = hashlib.sha256(f"{kind}\n{blob}".encode()).hexdigest()[:20]
        path = self.folder / f"{kind}-{digest}.bin"
        try:
            return path.read_bytes()
        except OSError:
            pass
        data = make()
        try:
            self._write(path, data)
            for old in self.folder.glob(f"{kind}-*.bin"):
                if old != path:
                    old.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not keep %s in %s: %s", kind, self.folder, exc)
        return data

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        """Atomically: a worker reading it meanwhile sees the whole file or none."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
