"""A bot project on disk (intents/, flows/, kb/, kb_index/, models/): check, prepare, load, reload.

A Rasa Pro (CALM) folder (domain, data/, endpoints.yml, docs/) is read as it is; spec/rasa_layout.py
turns it into the documents the same loaders take.

`load_project` builds the whole object graph the pipeline runs on. The service answers with
`LiveProject.current`, and `LiveProject.reload` swaps in a whole new one, so a turn always sees
one consistent project and a broken project on disk leaves the running one in place.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx

from botsvc.artefacts import ArtefactCache
from botsvc.domain import BotMessage, Customer, DialogueState, IntentScore, NluResult, TurnContext
from botsvc.embedding import Embedder
from botsvc.errors import Problem, ProjectError
from botsvc.flows.actions import ActionClient
from botsvc.flows.descriptions import DescriptionRouter
from botsvc.flows.engine import FlowEngine
from botsvc.flows.responses import render_response
from botsvc.kb.index import build_index, index_is_current
from botsvc.kb.retrieval import KnowledgeBase
from botsvc.nlu.classifier import load_current, train_or_load
from botsvc.nlu.entities import EntityExtractor
from botsvc.nlu.language import BotLanguage
from botsvc.nlu.parser import NluParser
from botsvc.nlu.trainingdata import TrainingData, load_training_data, load_training_documents
from botsvc.pipeline import DEFAULT_TEXTS, Pipeline, Say
from botsvc.spec.loader import load_flow_documents, load_flow_spec
from botsvc.spec.model import FlowSpec
from botsvc.spec.rasa_layout import is_rasa_project, read_rasa_project
from botsvc.spec.rasa_layout import kb_dir as rasa_kb_dir


@dataclass(frozen=True)
class ProjectFiles:
    """The checked YAML of a project (no model needed): what `validate` looks at."""

    training: TrainingData
    spec: FlowSpec
    warnings: tuple[Problem, ...]
    kb_dir: Path  # kb/, or a Rasa Pro project's docs/


@dataclass(frozen=True)
class _Layout:
    """Where a project's parts are, whichever layout it has: the two loads and the KB folder."""

    load_training: Callable[[], TrainingData]
    load_spec: Callable[[Collection[str] | None], FlowSpec]
    kb_dir: Path
    problems: tuple[Problem, ...] = ()


def check_project(project_dir: Path) -> ProjectFiles:
    """Reads the training data and the flows and cross-checks them; ProjectError lists every
    problem. The folder is botsvc's layout (intents/, flows/, kb/) or Rasa Pro's (domain,
    data/, endpoints.yml, docs/)."""
    layout = _rasa_layout(project_dir) if is_rasa_project(project_dir) else _own_layout(project_dir)
    problems: list[Problem] = list(layout.problems)
    training: TrainingData | None = None
    spec: FlowSpec | None = None
    try:
        training = layout.load_training()
    except ProjectError as exc:
        problems += exc.problems
    try:
        spec = layout.load_spec(None if training is None else training.intents)
    except ProjectError as exc:
        problems += exc.problems
    if training is not None and spec is not None:
        problems += _cross_check(training, spec)
    errors = [p for p in problems if p.severity == "error"]
    if errors or training is None or spec is None:
        raise ProjectError(_relative(problems, project_dir))
    warnings = _relative(problems + list(training.warnings) + list(spec.warnings), project_dir)
    return ProjectFiles(training, spec, tuple(warnings), layout.kb_dir)


def _own_layout(project_dir: Path) -> _Layout:
    intents_dir, flows_dir = project_dir / "intents", project_dir / "flows"
    missing = [
        Problem(str(folder), None, f"missing folder {folder.name}/ (see README: project layout)")
        for folder in (intents_dir, flows_dir)
        if not folder.is_dir()
    ]
    if missing:
        raise ProjectError(missing)
    return _Layout(
        load_training=lambda: load_training_data(intents_dir),
        load_spec=lambda intents: load_flow_spec(flows_dir, intents=intents),
        kb_dir=project_dir / "kb",
    )


def _rasa_layout(project_dir: Path) -> _Layout:
    rasa = read_rasa_project(project_dir)
    return _Layout(
        load_training=lambda: load_training_documents(rasa.nlu_documents, root=project_dir),
        load_spec=lambda intents: load_flow_documents(
            rasa.spec_documents,
            intents=intents,
            fallback_endpoint=rasa.action_endpoint,
            defaults=rasa.default_documents,
            rasa_project=True,
        ),
        kb_dir=rasa.kb_dir,
        problems=rasa.problems,
    )


def kb_folder(project_dir: Path) -> Path:
    """The knowledge-base folder: kb/, or a Rasa Pro project's docs/ (no checks needed)."""
    return rasa_kb_dir(project_dir) if is_rasa_project(project_dir) else project_dir / "kb"


def kb_floor_problems(project_dir: Path, spec: FlowSpec) -> list[Problem]:
    """A warning when the escalation rules' `kb_min_score` is above the answer threshold that
    `botsvc kb build` calibrated: answers scoring between the two are declined, silently."""
    floor = spec.escalation.kb_min_score
    manifest = project_dir / "kb_index" / "manifest.json"
    if floor is None or not manifest.is_file():
        return []
    try:
        threshold = float(json.loads(manifest.read_text())["answer"]["threshold"])
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if floor <= threshold:
        return []
    return [
        Problem(
            spec.source_of("escalation"),
            None,
            f"escalation.low_confidence.kb_min_score {floor} is above the knowledge base's "
            f"calibrated answer threshold {threshold:.3f}: answers scoring between the two are "
            "declined; lower it or remove it",
            "warning",
        )
    ]


def _relative(problems: list[Problem], project_dir: Path) -> list[Problem]:
    """Problems name files relative to the project, as ops see them (`flows/orders.yml:12`)."""
    out = []
    for p in problems:
        path = Path(p.file)
        if path.is_absolute() and path.is_relative_to(project_dir.resolve()):
            p = Problem(str(path.relative_to(project_dir.resolve())), p.line, p.message, p.severity)
        out.append(p)
    return out


def _cross_check(training: TrainingData, spec: FlowSpec) -> list[Problem]:
    known = set(training.intents)
    return [
        Problem(
            str(spec.source_of("escalation")),
            None,
            f"escalation.human_request_intents names intent {name!r}, "
            "which intents/ does not define",
        )
        for name in spec.escalation.human_request_intents
        if name not in known
    ]


@dataclass(frozen=True)
class Project:
    directory: Path
    files: ProjectFiles
    parser: NluParser
    engine: FlowEngine
    kb: KnowledgeBase
    pipeline: Pipeline
    loaded_at: float

    @property
    def spec(self) -> FlowSpec:
        return self.files.spec

    def say_named(
        self, name: str, state: DialogueState, text: str, customer: Customer
    ) -> tuple[BotMessage, ...]:
        nlu = NluResult(text=text, intent=IntentScore("", 0.0), ranking=())
        ctx = TurnContext(conversation_id="", customer=customer, channel="", metadata={})
        return _say(self.spec)(name, state, nlu, ctx)


def _say(spec: FlowSpec) -> Say:
    def say(
        name: str, state: DialogueState, nlu: NluResult, ctx: TurnContext
    ) -> tuple[BotMessage, ...]:
        if name in spec.responses:
            return render_response(
                spec,
                name,
                slots=state.slots,
                customer=ctx.customer,
                sentiment=nlu.sentiment,
                languages=state.languages,
            )
        text = DEFAULT_TEXTS.get(name)
        return (BotMessage(text, response=name),) if text else ()

    return say


def prepare_project(
    project_dir: Path,
    embedder: Embedder,
    *,
    progress: bool = True,
    files: ProjectFiles | None = None,
) -> list[str]:
    """Trains the intent model and builds kb_index/ when they are missing or stale.
    `files`: the project's checked files, when the caller has them already."""
    done: list[str] = []
    files = files or check_project(project_dir)
    started = time.perf_counter()
    _, trained = train_or_load(files.training, embedder, project_dir / "models", progress=progress)
    if trained:
        done.append(f"trained the intent model in {time.perf_counter() - started:.1f}s")
    build_derived(project_dir, files, embedder)
    if not index_is_current(files.kb_dir, project_dir / "kb_index", embedder.model_id):
        started = time.perf_counter()
        build_index(files.kb_dir, project_dir / "kb_index", embedder, progress=progress)
        done.append(f"built kb_index/ in {time.perf_counter() - started:.1f}s")
    return done


def artefact_cache(project_dir: Path) -> ArtefactCache:
    """Where the entity CRF and the flow-description vectors are kept (models/)."""
    return ArtefactCache(project_dir / "models")


def build_derived(project_dir: Path, files: ProjectFiles, embedder: Embedder) -> None:
    """Computes and keeps the artefacts a load reads back (no-op when they are current)."""
    cache = artefact_cache(project_dir)
    entity_extractor(files, cache)
    DescriptionRouter.build(files.spec, files.training, embedder, cache)


def entity_extractor(files: ProjectFiles, cache: ArtefactCache | None = None) -> EntityExtractor:
    """The extractor for the project's NLU data. A categorical slot's values (and their
    synonyms) are extractable values of its entity, when the NLU data already extracts that
    entity: a slot filled only by asking (yes/no, say) is not read from unrelated messages."""
    known = set(files.training.entity_names)
    extra: dict[str, tuple[str, ...]] = {}
    for slot in files.spec.slots.values():
        if slot.type == "categorical" and slot.values and slot.entity in known:
            extra[slot.entity] = extra.get(slot.entity, ()) + tuple(slot.values)
    return EntityExtractor.from_training_data(files.training, extra_values=extra, cache=cache)


def load_project(
    project_dir: Path,
    *,
    embedder: Embedder,
    http: httpx.AsyncClient,
    action_endpoint: str | None = None,
    action_timeout_s: float = 5.0,
    files: ProjectFiles | None = None,
) -> Project:
    """Everything the pipeline needs, loaded; ConfigError when the model or index is missing."""
    files = files or check_project(project_dir)
    model = load_current(files.training, embedder.model_id, project_dir / "models")
    kb = KnowledgeBase.load(project_dir / "kb_index", model_id=embedder.model_id)
    cache = artefact_cache(project_dir)
    parser = NluParser(model=model, extractor=entity_extractor(files, cache))
    endpoint = action_endpoint or files.spec.action_endpoint
    actions = ActionClient(endpoint, http=http, timeout_s=action_timeout_s) if endpoint else None
    engine = FlowEngine(files.spec, actions=actions, synonyms=files.training.synonyms)
    router = DescriptionRouter.build(files.spec, files.training, embedder, cache)
    pipeline = Pipeline(
        spec=files.spec,
        engine=engine,
        kb=kb,
        say=_say(files.spec),
        router=router,
        language=BotLanguage([e.text for e in files.training.examples]),
    )
    return Project(project_dir, files, parser, engine, kb, pipeline, time.time())


class LiveProject:
    """The project the service is answering with, and the one way to replace it."""

    def __init__(
        self,
        project: Project,
        *,
        embedder: Embedder,
        http: httpx.AsyncClient,
        action_endpoint: str | None = None,
        action_timeout_s: float = 5.0,
    ) -> None:
        self.current = project
        self._embedder, self._http = embedder, http
        self._action_endpoint, self._action_timeout_s = action_endpoint, action_timeout_s
        self._lock = asyncio.Lock()

    async def reload(self) -> Project:
        """Checks the files, retrains or rebuilds kb_index/ if stale, loads, and swaps. Raises
        ProjectError with every problem (the running project stays) or ConfigError."""
        directory = self.current.directory
        async with self._lock:
            files = await anyio.to_thread.run_sync(lambda: check_project(directory))
            await anyio.to_thread.run_sync(
                lambda: prepare_project(directory, self._embedder, progress=False, files=files)
            )
            self.current = await anyio.to_thread.run_sync(
                lambda: load_project(
                    directory,
                    embedder=self._embedder,
                    http=self._http,
                    action_endpoint=self._action_endpoint,
                    action_timeout_s=self._action_timeout_s,
                    files=files,
                )
            )
        return self.current


__all__ = [
    "LiveProject",
    "Project",
    "ProjectFiles",
    "artefact_cache",
    "build_derived",
    "check_project",
    "load_project",
    "prepare_project",
]
