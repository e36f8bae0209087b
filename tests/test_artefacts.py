"""What `botsvc train` keeps in models/ so that a start reads instead of recomputing: the entity
CRF and the flow-description vectors, each under the hash of its inputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from botsvc.artefacts import ArtefactCache
from botsvc.nlu.entities import EntityExtractor
from botsvc.nlu.trainingdata import load_training_data_from_str

REPO = Path(__file__).resolve().parent.parent

NLU = """version: "3.1"
nlu:
- intent: book_table
  examples: |
    - book a table for [Maria](guest_name)
    - reservation under the name [John](guest_name) please
    - table for two, name is [Aisha](guest_name)
    - can you book under [Peter](guest_name)
    - reserve a table, my name is [Lena](guest_name)
    - the booking is for [Tom](guest_name)
    - a table for tonight
"""


def _names(extractor: EntityExtractor, text: str) -> list[str]:
    return [text[e.start : e.end] for e in extractor.extract(text)]


def test_a_kept_crf_is_read_back_and_tags_as_the_trained_one(tmp_path: Path) -> None:
    data = load_training_data_from_str(NLU)
    cache = ArtefactCache(tmp_path)
    trained = EntityExtractor.from_training_data(data, cache=cache)
    (kept,) = tmp_path.glob("entities-crf-*.bin")
    mtime = kept.stat().st_mtime_ns
    again = EntityExtractor.from_training_data(data, cache=cache)
    assert kept.stat().st_mtime_ns == mtime  # read, not rewritten
    text = "reserve a table, my name is Henrik"
    assert _names(again, text) == _names(trained, text) == ["Henrik"]


def test_changed_examples_are_never_served_a_stale_crf(tmp_path: Path) -> None:
    cache = ArtefactCache(tmp_path)
    EntityExtractor.from_training_data(load_training_data_from_str(NLU), cache=cache)
    (first,) = tmp_path.glob("entities-crf-*.bin")
    changed = NLU + "    - a table for [Ingrid](guest_name) at eight\n"
    EntityExtractor.from_training_data(load_training_data_from_str(changed), cache=cache)
    (second,) = tmp_path.glob("entities-crf-*.bin")
    assert second != first  # a new key, and the old file is gone


def test_a_models_folder_that_cannot_be_written_still_builds(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")  # even root cannot create a folder under a file
    extractor = EntityExtractor.from_training_data(
        load_training_data_from_str(NLU), cache=ArtefactCache(blocked / "models")
    )
    assert _names(extractor, "book a table for Henrik") == ["Henrik"]


def test_train_keeps_the_artefacts_a_service_start_reads(tmp_path: Path) -> None:
    project = tmp_path / "bot"
    for part in ("intents", "flows"):
        shutil.copytree(REPO / part, project / part)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "botsvc", "train", "--project", str(project)]
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=300)
    names = sorted(p.name.split("-")[0] for p in (project / "models").glob("*.bin"))
    assert names == ["entities", "flow"]
