"""Fixtures for the NLU tests: the example shop bot in tests/nlu/data/shop, trained once."""

from __future__ import annotations

from pathlib import Path

import pytest

from botsvc.embedding import Embedder
from botsvc.nlu.classifier import IntentModel, train_or_load
from botsvc.nlu.entities import EntityExtractor
from botsvc.nlu.parser import NluParser
from botsvc.nlu.trainingdata import TrainingData, load_training_data

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def shop_data() -> TrainingData:
    return load_training_data(DATA / "shop")


@pytest.fixture(scope="session")
def shop_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def shop_model(shop_data: TrainingData, embedder: Embedder, shop_models_dir: Path) -> IntentModel:
    model, _ = train_or_load(shop_data, embedder, shop_models_dir)
    return model


@pytest.fixture(scope="session")
def shop_extractor(shop_data: TrainingData) -> EntityExtractor:
    return EntityExtractor.from_training_data(shop_data)


@pytest.fixture(scope="session")
def shop_parser(shop_model: IntentModel, shop_extractor: EntityExtractor) -> NluParser:
    return NluParser(model=shop_model, extractor=shop_extractor)
