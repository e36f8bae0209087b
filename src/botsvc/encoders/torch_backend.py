"""Serving the sentence-transformers folder itself, with torch (the `torch` backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


class TorchEncoder:
    def __init__(self, folder: Path, *, threads: int = 1) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.model = SentenceTransformer(str(folder), device="cpu")
        get = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        self.dimensions = int(get() or 0)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=max(1, len(texts)),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
