"""Exporting a sentence-transformers folder to ONNX, once, into a folder of ours.

The only module of the encoders that needs torch: `botsvc train` and `kb build` export when the
folder is missing; serving only reads it. Dynamic int8 quantisation is per channel, which keeps
the embeddings at cosine >= 0.98 to torch's (per tensor, some fall to 0.95).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from botsvc.encoders import Backend
from botsvc.encoders.source import SourceModel
from botsvc.errors import ConfigError

MANIFEST = "encoder.json"
FORMAT = 1  # bump when the exported files change shape


def export_folder(cache_dir: Path, source: SourceModel, backend: Backend) -> Path:
    """Where the export of `source` for `backend` lives (one per weights and backend)."""
    safe = source.id.replace("/", "-").replace("@", "-")
    return cache_dir / f"{safe}-{backend}"


def is_exported(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return bool(manifest.get("format") == FORMAT and (folder / "model.onnx").is_file())


def export_onnx(source: SourceModel, folder: Path, backend: Backend) -> Path:
    """Writes model.onnx (float32, or int8 for "onnx-int8"), tokenizer.json and encoder.json
    into `folder`, atomically: a crash leaves the old folder or none."""
    if backend == "torch":
        raise ConfigError("the torch backend reads the model folder itself; nothing to export")
    if not (source.path / "tokenizer.json").is_file():
        raise ConfigError(f"{source.path}: no tokenizer.json, so it cannot be served by ONNX")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        fp32 = staging / "model.fp32.onnx"
        dimensions = _export_fp32(source, fp32)
        if backend == "onnx-int8":
            _quantize(fp32, staging / "model.onnx")
            fp32.unlink()
        else:
            fp32.rename(staging / "model.onnx")
        shutil.copy(source.path / "tokenizer.json", staging / "tokenizer.json")
        manifest = {
            "format": FORMAT,
            "source": source.id,
            "backend": backend,
            "dimensions": dimensions,
            "max_seq_length": source.max_seq_length,
            "pooling": source.pooling,
            "normalize": source.normalize,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
        staging.chmod(0o755)  # mkdtemp's is 0700; other workers' users may read it
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _export_fp32(source: SourceModel, target: Path) -> int:
    import torch
    from transformers import AutoModel

    base = AutoModel.from_pretrained(str(source.path)).eval()

    class HiddenStates(torch.nn.Module):  # keyword arguments: the exporter passes positionals
        def __init__(self) -> None:
            super().__init__()
            self.base = base

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            out = self.base(input_ids=input_ids, attention_mask=attention_mask)
            return out.last_hidden_state  # type: ignore[no-any-return]

    ids = torch.ones((2, 8), dtype=torch.long)
    axes = {"batch": 0, "tokens": 1}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on opset details
        torch.onnx.export(
            HiddenStates(),
            (ids, torch.ones_like(ids)),
            str(target),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                name: {v: k for k, v in axes.items()}
                for name in ("input_ids", "attention_mask", "last_hidden_state")
            },
            opset_version=17,
            dynamo=False,
        )
    return int(base.config.hidden_size)


def _quantize(fp32: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its advice to pre-process is for static quantisation
    try:
        quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        quiet.setLevel(level)


__all__ = ["MANIFEST", "export_folder", "export_onnx", "is_exported"]
