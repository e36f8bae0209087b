"""What a sentence-transformers folder says about itself: its name, pooling and lengths."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botsvc.errors import ConfigError


@dataclass(frozen=True)
class SourceModel:
    path: Path
    max_seq_length: int
    pooling: str  # "mean" or "cls"
    normalize: bool

    @property
    def id(self) -> str:
        """Names the weights: folder names and a digest of their config."""
        config = self.path / "config.json"
        digest = hashlib.sha256(config.read_bytes()).hexdigest()[:12] if config.exists() else "x"
        return f"{self.path.parent.name}/{self.path.name}@{digest}"

    @classmethod
    def read(cls, path: str | Path) -> SourceModel:
        folder = Path(path)
        if not (folder / "config.json").is_file():
            raise ConfigError(f"not a sentence-transformers model folder: {folder}")
        st = _json(folder / "sentence_bert_config.json")
        pooling = _json(folder / "1_Pooling" / "config.json")
        modules = _json(folder / "modules.json") or []
        if pooling.get("pooling_mode_cls_token"):
            mode = "cls"
        elif pooling.get("pooling_mode_mean_tokens", True):
            mode = "mean"
        else:
            raise ConfigError(f"{folder}: only mean or CLS pooling can be served by ONNX")
        return cls(
            path=folder,
            max_seq_length=int(st.get("max_seq_length") or 256),
            pooling=mode,
            normalize=any(str(m.get("type", "")).endswith("Normalize") for m in modules),
        )


def _json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else {}
