"""The intent model: training, ranking, and its artefact on disk.

Two heads on frozen sentence embeddings and character n-grams (:mod:`botsvc.nlu.features`),
calibrated at training time (:mod:`botsvc.nlu.calibration`). The encoder is never fine-tuned, so
the vectors the knowledge base searches with are the same ones the classifier reads.

An artefact is a folder ``intent-<key>/`` with ``model.json`` and a few ``.npy`` arrays (no
pickle). The key hashes the intent examples, the embedding model and the classifier's version, so
``train_or_load`` retrains only when one of them changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from botsvc.domain import IntentScore, Vector
from botsvc.embedding import Embedder, encode_in_batches
from botsvc.errors import ModelNotTrainedError, Problem, ProjectError
from botsvc.nlu.augment import typo_copies
from botsvc.nlu.calibration import Calibration, Copies, calibrate, max_cosine
from botsvc.nlu.features import CharNgrams, FloatArray, LinearLeg, combine, fit_leg, softmax
from botsvc.nlu.trainingdata import TrainingData
from botsvc.progress import progress_bar

CLASSIFIER_VERSION = "emb-char-lr/4"
FORMAT = 1
_ARRAYS = ("emb_coef", "emb_bias", "char_coef", "char_bias", "idf", "train_vectors", "train_labels")


@dataclass
class IntentModel:
    """Ranks the intents for one message; ``threshold`` is the out-of-scope cut on confidence."""

    intents: list[str]
    threshold: float
    key: str
    emb_leg: LinearLeg
    char_leg: LinearLeg
    ngrams: CharNgrams
    train_vectors: FloatArray
    train_labels: np.ndarray
    with_text: Calibration
    vector_only: Calibration
    info: dict[str, Any] = field(default_factory=dict)

    def rank(self, vector: Vector, *, text: str | None = None) -> list[IntentScore]:
        """All intents, best first, with calibrated probabilities.

        The top intent's confidence is the calibrated probability that it is right and the
        message is in scope. The others keep their relative odds and share what is left, so the
        list sums to at most 1; the rest is the chance that no intent fits. Give ``text`` as well
        (the parser does) to use the character n-gram leg too.
        """
        v = np.asarray(vector, dtype=np.float64).reshape(1, -1)
        emb_logits = self.emb_leg.logits(v)
        if text is None:
            log_probs, cal = combine(emb_logits, None), self.vector_only
        else:
            char_logits = self.char_leg.row_logits(*self.ngrams.row(text))
            log_probs, cal = combine(emb_logits, char_logits), self.with_text
        probs = softmax(log_probs / cal.temperature)[0]
        order = np.argsort(-probs, kind="stable")
        top = int(order[0])
        cosine = max_cosine(v, self.train_vectors, self.train_labels, np.array([top]))
        confidence = float(cal.confidence(probs[None, :], cosine)[0])
        p_top = float(probs[top])
        rest = 1.0 - p_top
        scale = (
            confidence / p_top if rest <= 0 else min(confidence / p_top, (1 - confidence) / rest)
        )
        scores = [IntentScore(self.intents[top], confidence)]
        scores += [IntentScore(self.intents[i], float(probs[i] * scale)) for i in order[1:]]
        return scores


def artefact_key(data: TrainingData, model_id: str) -> str:
    """Hash of what the intent model is trained on: the (intent, text) pairs, the embedding
    model and the classifier version. Entities, synonyms, regexes and lookups do not count."""
    pairs = sorted({(e.intent, e.text) for e in data.examples})
    blob = json.dumps([CLASSIFIER_VERSION, model_id, pairs], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def train_intent_model(
    data: TrainingData, embedder: Embedder, *, progress: bool = False
) -> IntentModel:
    """Trains and calibrates on the examples (seconds for a few hundred examples on 2 cores;
    encoding them is most of it, behind a progress bar with ``progress``).

    :raises ProjectError: when there are fewer than two intents.
    """
    started = time.perf_counter()
    pairs = sorted({(e.intent, e.text) for e in data.examples})
    intents = sorted({intent for intent, _ in pairs})
    if len(intents) < 2:
        raise ProjectError(
            [
                Problem(
                    "intents/",
                    None,
                    f"intent classification needs at least two "
                    f"intents with examples (found {len(intents)}); add examples",
                )
            ]
        )
    texts = [text for _, text in pairs]
    index = {name: i for i, name in enumerate(intents)}
    labels = np.array([index[intent] for intent, _ in pairs], dtype=np.int64)
    typo_texts, sources = typo_copies(texts, labels.tolist())
    every = texts + typo_texts
    with progress_bar(len(every), enabled=progress, what="embedding intent examples") as advance:
        encoded_all = encode_in_batches(embedder, every, advance=advance).astype(np.float64)
    vectors, typo_vectors = encoded_all[: len(texts)], encoded_all[len(texts) :]
    encoded = time.perf_counter()
    copies = Copies(typo_texts, typo_vectors, np.array(sources, dtype=np.int64))
    cal = calibrate(texts, vectors, labels, len(intents), copies=copies)
    all_texts = texts + typo_texts
    all_labels = np.concatenate([labels, labels[copies.sources]])
    ngrams = CharNgrams.fit(all_texts)
    model = IntentModel(
        intents=intents,
        threshold=cal.threshold,
        key=artefact_key(data, embedder.model_id),
        emb_leg=fit_leg(encoded_all, all_labels, len(intents)),
        char_leg=fit_leg(ngrams.transform(all_texts), all_labels, len(intents)),
        ngrams=ngrams,
        train_vectors=encoded_all,
        train_labels=all_labels,
        with_text=cal.with_text,
        vector_only=cal.vector_only,
    )
    model.info = {
        "classifier": CLASSIFIER_VERSION,
        "embedding_model": embedder.model_id,
        "examples": len(texts),
        "typo_copies": len(typo_texts),
        "intents": len(intents),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "encode_seconds": round(encoded - started, 3),
        "fit_seconds": round(time.perf_counter() - encoded, 3),
        **{k: round(v, 4) for k, v in cal.stats.items()},
    }
    return model


def save_intent_model(model: IntentModel, directory: Path) -> None:
    """Writes the artefact atomically: a reader sees the old folder or the complete new one."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        meta = {
            "format": FORMAT,
            "key": model.key,
            "intents": model.intents,
            "threshold": model.threshold,
            "with_text": _cal_json(model.with_text),
            "vector_only": _cal_json(model.vector_only),
            "vocabulary": sorted(model.ngrams.vocabulary, key=model.ngrams.vocabulary.__getitem__),
            "info": model.info,
        }
        (tmp / "model.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1))
        arrays = {
            "emb_coef": model.emb_leg.coef,
            "emb_bias": model.emb_leg.bias,
            "char_coef": model.char_leg.coef,
            "char_bias": model.char_leg.bias,
            "idf": model.ngrams.idf,
            "train_vectors": model.train_vectors.astype(np.float32),
            "train_labels": model.train_labels,
        }
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def load_intent_model(directory: Path) -> IntentModel:
    """Reads an artefact written by :func:`save_intent_model` (milliseconds).

    :raises ModelNotTrainedError: when the folder is missing, incomplete or of another format.
    """
    directory = Path(directory)
    try:
        meta = json.loads((directory / "model.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"artefact format {meta.get('format')!r}, expected {FORMAT}")
        arr = {n: np.load(directory / f"{n}.npy", allow_pickle=False) for n in _ARRAYS}
        return _model_from(meta, arr)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise ModelNotTrainedError(
            f"no usable intent model in {directory} ({exc}); run `botsvc train`"
        ) from exc


def _model_from(meta: dict[str, Any], arr: dict[str, np.ndarray]) -> IntentModel:
    vocabulary = {gram: i for i, gram in enumerate(meta["vocabulary"])}
    return IntentModel(
        intents=list(meta["intents"]),
        threshold=float(meta["threshold"]),
        key=str(meta["key"]),
        emb_leg=LinearLeg(arr["emb_coef"], arr["emb_bias"]),
        char_leg=LinearLeg(arr["char_coef"], arr["char_bias"]),
        ngrams=CharNgrams(vocabulary=vocabulary, idf=arr["idf"]),
        train_vectors=arr["train_vectors"].astype(np.float64),
        train_labels=arr["train_labels"],
        with_text=_cal_from_json(meta["with_text"]),
        vector_only=_cal_from_json(meta["vector_only"]),
        info=dict(meta.get("info", {})),
    )


def artefact_dir(models_dir: Path, key: str) -> Path:
    return Path(models_dir) / f"intent-{key}"


def train_or_load(
    data: TrainingData,
    embedder: Embedder,
    models_dir: Path,
    *,
    force: bool = False,
    progress: bool = False,
) -> tuple[IntentModel, bool]:
    """Loads the artefact for the current key, or trains and saves one. Returns (model, trained)."""
    directory = artefact_dir(models_dir, artefact_key(data, embedder.model_id))
    if not force and (directory / "model.json").is_file():
        try:
            return load_intent_model(directory), False
        except ModelNotTrainedError:
            pass  # damaged or older format: train a fresh one in its place
    model = train_intent_model(data, embedder, progress=progress)
    save_intent_model(model, directory)
    return model, True


def load_current(data: TrainingData, embedder_model_id: str, models_dir: Path) -> IntentModel:
    """The artefact trained on exactly this data and embedding model.

    :raises ModelNotTrainedError: when there is none (the data or the model changed since).
    """
    key = artefact_key(data, embedder_model_id)
    directory = artefact_dir(models_dir, key)
    if not (directory / "model.json").is_file():
        raise ModelNotTrainedError(
            f"no intent model for the current training data (key {key}) in {models_dir}; "
            "the intents or the embedding model changed since the last training: run `botsvc train`"
        )
    return load_intent_model(directory)


def _cal_json(cal: Calibration) -> dict[str, Any]:
    return {
        "temperature": cal.temperature,
        "weights": list(cal.weights),
        "bias": cal.bias,
        "fitted": cal.fitted,
    }


def _cal_from_json(raw: dict[str, Any]) -> Calibration:
    w = raw["weights"]
    return Calibration(
        float(raw["temperature"]),
        (float(w[0]), float(w[1]), float(w[2])),
        float(raw["bias"]),
        bool(raw["fitted"]),
    )
