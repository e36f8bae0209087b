"""The encoder backends behind `Embedder`: ONNX Runtime (int8 or float32) and torch.

`onnx-int8` is the default: about six times faster than torch on one sentence here, with
embeddings at cosine >= 0.98 to torch's. The ONNX files are exported from the
sentence-transformers folder into a folder of ours (`export.py`, which alone needs torch);
serving reads them with onnxruntime and tokenizers and never imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

Backend = Literal["onnx-int8", "onnx", "torch"]
BACKENDS: tuple[Backend, ...] = ("onnx-int8", "onnx", "torch")


class Encoder(Protocol):
    """A loaded model: texts in, L2-normalised float32 rows out."""

    dimensions: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


__all__ = ["BACKENDS", "Backend", "Encoder"]
