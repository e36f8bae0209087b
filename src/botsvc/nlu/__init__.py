"""Natural-language understanding: Rasa NLU training data, the intent model with out-of-scope
detection, entity extraction, sentiment, and the parser that puts them together for one message.

    trainingdata  Rasa NLU YAML -> TrainingData (annotations.py parses the entity markup)
    classifier    IntentModel: train, rank, save/load the artefact (features.py, calibration.py)
    entities      EntityExtractor: regex, lookup, CRF (crf.py), built-ins (builtins.py), synonyms
    builtins      email, money, numbers; dates.py (time), phones.py, names.py (person)
    sentiment     VADER compound score
    parser        NluParser.parse(text, vector) -> NluResult; Rasa /model/parse JSON
    evaluate      `botsvc eval intents`
"""

from botsvc.nlu.classifier import (
    IntentModel,
    artefact_key,
    load_current,
    load_intent_model,
    save_intent_model,
    train_intent_model,
    train_or_load,
)
from botsvc.nlu.entities import EntityExtractor
from botsvc.nlu.evaluate import IntentReport, evaluate_intents, format_report, report_as_dict
from botsvc.nlu.parser import NluParser, parse_response
from botsvc.nlu.sentiment import sentiment
from botsvc.nlu.trainingdata import (
    Example,
    TrainingData,
    load_training_data,
    load_training_data_from_str,
)

__all__ = [
    "EntityExtractor",
    "Example",
    "IntentModel",
    "IntentReport",
    "NluParser",
    "TrainingData",
    "artefact_key",
    "evaluate_intents",
    "format_report",
    "load_current",
    "load_intent_model",
    "load_training_data",
    "load_training_data_from_str",
    "parse_response",
    "report_as_dict",
    "save_intent_model",
    "sentiment",
    "train_intent_model",
    "train_or_load",
]
