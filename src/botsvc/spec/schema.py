"""The shape of `flows/*.yml` as pydantic models. Only the loader uses these, never the runtime.

Unknown keys are errors (typos should not pass silently); the keys Rasa allows but botsvc does
not use are accepted and ignored so that Rasa projects load.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from botsvc.domain import Priority

SlotType = Literal["text", "bool", "float", "categorical", "any", "list"]
STEP_KINDS = ("collect", "action", "set_slots", "link", "call", "handoff", "noop")
TOP_LEVEL_KEYS = ("version", "slots", "responses", "actions", "flows", "escalation")
# Rasa response keys a BotMessage cannot carry: accepted with a warning
IGNORED_RESPONSE_KEYS = (
    "channel",
    "id",
    "button_type",
)


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class SlotMappingModel(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    type: str
    entity: str | None = None
    role: str | None = None  # Rasa: only entities with this role fill the slot


class RejectionModel(Shape):
    if_: str | bool = Field(alias="if")
    utter: str | None = None


class SlotValidationModel(Shape):
    """Rasa Pro's slot `validation`: rejections checked at every collect of the slot."""

    rejections: list[RejectionModel] = []
    refill_utter: str | None = None  # Rasa: the question after a rejection; not used yet


class SlotModel(Shape):
    type: SlotType
    values: list[str | int | float | bool] | None = None
    initial_value: Any = None
    mappings: list[SlotMappingModel] | None = None
    description: str | None = None
    validation: SlotValidationModel | None = None
    # Rasa keys with no meaning here (`min_value`/`max_value` bound a float slot's feature for
    # Rasa's policies; they reject nothing, in Rasa or here)
    influence_conversation: bool | None = None
    min_value: float | None = None
    max_value: float | None = None
    shared_for_coexistence: bool | None = None


class ButtonModel(Shape):
    title: str
    payload: str


class VariantModel(Shape):
    text: str = ""  # may be left out when the variant shows an image or a custom payload
    buttons: list[ButtonModel] = []
    image: str | None = None  # a URL, as Rasa's `image:`
    custom: Any = None  # passed to the channel as it is, as Rasa's `custom:`
    attachment: Any = None
    tone: Literal["neutral", "empathetic"] | None = None
    # Rasa's `- {type: slot, name, value}` list, checked item by item by spec/sections.py
    condition: Any = None
    # Rasa's free-form metadata; `template: jinja` makes the text a Jinja template
    metadata: dict[str, Any] | None = None


class ActionsModel(Shape):
    endpoint: str | None = None
    names: list[str] | None = None  # optional declaration of the custom actions the server has


class LowConfidenceModel(Shape):
    kb_min_score: float | None = Field(default=None, ge=0, le=1)
    intent_min_confidence: float | None = Field(default=None, ge=0, le=1)


class NegativeSentimentModel(Shape):
    threshold: float = Field(ge=-1, le=1)


class MetadataRuleModel(Shape):
    if_: str = Field(alias="if")
    priority: Priority = "normal"
    reason: str | None = None


class EscalationModel(Shape):
    low_confidence: LowConfidenceModel | None = None
    max_consecutive_fallbacks: int = Field(default=2, ge=1)
    negative_sentiment: NegativeSentimentModel | None = None
    human_request_intents: list[str] = []
    human_request_keywords: list[str] = []
    metadata_rules: list[MetadataRuleModel] = []
    max_rejections: int = Field(default=3, ge=1)


class IntentTriggerModel(Shape):
    name: str
    confidence_threshold: float | None = Field(default=None, ge=0, le=1)


class TriggerModel(Shape):
    intent: str | IntentTriggerModel


class FlowModel(Shape):
    description: str | None = None
    name: str | None = None
    if_: str | bool | None = Field(default=None, alias="if")
    nlu_trigger: list[TriggerModel] | None = None
    steps: list[Any] = Field(min_length=1)
    # Rasa keys with no meaning here
    always_include_in_prompt: bool | None = None
    file_path: str | None = None
    persisted_slots: list[str] | None = None
    run_pattern_completed: bool | None = None


class StepModel(Shape):
    id: str | None = Field(default=None, pattern=r"^\S+$")
    next: str | list[Any] | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None


class CollectModel(StepModel):
    collect: str
    utter: str | None = None
    rejections: list[RejectionModel] = []
    ask_before_filling: bool = False
    reset_after_flow_ends: bool = True
    # Rasa keys with no meaning here
    force_slot_filling: bool | None = None
    silence_timeout: float | None = None


class ActionModel(StepModel):
    action: str


class SetSlotsModel(StepModel):
    set_slots: list[dict[str, Any]] | dict[str, Any]
    reset_after_flow_ends: bool | None = None  # Rasa; ignored


class LinkModel(StepModel):
    link: str


class CallModel(StepModel):
    call: str


class HandoffSpecModel(Shape):
    reason: str = "flow_handoff"
    priority: Priority = "normal"
    detail: str = ""


class HandoffModel(StepModel):
    handoff: str | HandoffSpecModel | Literal[True]


class NoopModel(StepModel):
    noop: Literal[True]


STEP_MODELS: dict[str, type[StepModel]] = {
    "collect": CollectModel,
    "action": ActionModel,
    "set_slots": SetSlotsModel,
    "link": LinkModel,
    "call": CallModel,
    "handoff": HandoffModel,
    "noop": NoopModel,
}


class BranchModel(Shape):
    if_: str | bool | None = Field(default=None, alias="if")
    then: str | list[Any] | None = None
    else_: str | list[Any] | None = Field(default=None, alias="else")
