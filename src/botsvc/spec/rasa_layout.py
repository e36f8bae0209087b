"""A Rasa Pro (CALM) project folder as the (file, text) documents botsvc's loaders already take.

Rasa Pro lays a bot out as

    domain.yml or domain/**.yml  slots, responses, actions (and intents, entities, forms, ...)
    data/**.yml                  `flows:` and `nlu:`; simple `rules:` (an intent, then actions) as
                                 flows; `stories:` are not run
    endpoints.yml                `action_endpoint.url`
    docs/                        the knowledge base
    actions/, config.yml         the action server and the model pipeline: not read

This module only gathers text; spec/loader.py and nlu/trainingdata.py read it. Each reader gets
whole files in which the top-level sections that are not its own are blanked line for line, so
every problem keeps the file's real line numbers and no reader warns about another's section.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botsvc.errors import Problem
from botsvc.spec.rasa_defaults import DEFAULTS, DEFAULTS_FILE
from botsvc.spec.yamlio import Source, read_yaml

__all__ = ["DOMAIN_ONLY_KEYS", "RasaProject", "is_rasa_project", "read_rasa_project"]

# Domain keys Rasa uses and botsvc does not (intents come from the `nlu:` data): read silently.
DOMAIN_ONLY_KEYS = frozenset(
    {"intents", "entities", "forms", "session_config", "config", "e2e_actions"}
)
_FLOW_KEYS = frozenset({"version", "flows"})
_NLU_KEYS = frozenset({"version", "nlu"})
_STORY_KEYS = ("rules", "stories")
RULE_PREFIX = "rule_"  # flows made from Rasa rules: the NLU-based side of a coexistence bot
Document = tuple[str, str]  # (file relative to the project, text)


@dataclass(frozen=True)
class RasaProject:
    spec_documents: tuple[Document, ...]  # for spec.loader.load_flow_documents
    nlu_documents: tuple[Document, ...]  # for nlu.trainingdata.load_training_documents
    default_documents: tuple[Document, ...]  # botsvc's stand-ins for what Rasa ships
    action_endpoint: tuple[str, str] | None  # (url, "endpoints.yml")
    kb_dir: Path
    problems: tuple[Problem, ...]


def is_rasa_project(project_dir: Path) -> bool:
    """A domain and a data/ folder, and not botsvc's own complete layout (which wins, so that a
    botsvc bot keeping a Rasa domain beside it loads as before)."""
    own = (project_dir / "intents").is_dir() and (project_dir / "flows").is_dir()
    return not own and bool(_domain_files(project_dir)) and (project_dir / "data").is_dir()


def read_rasa_project(project_dir: Path) -> RasaProject:
    problems: list[Problem] = []
    spec: list[Document] = []
    nlu: list[Document] = []
    for file, text in _read_texts(project_dir, _domain_files(project_dir), problems):
        spec.append((file, _domain_document(file, text)))
    for file, text in _read_texts(project_dir, _yaml_under(project_dir / "data"), problems):
        _route_data_file(file, text, spec, nlu, problems)
    if not nlu:
        problems.append(
            Problem(
                "data",
                None,
                "data/ holds no `nlu:` training data; botsvc starts flows from intents "
                "(`nlu_trigger`), so add a data/nlu.yml with the intents' examples",
            )
        )
    return RasaProject(
        spec_documents=tuple(spec),
        nlu_documents=tuple(nlu),
        default_documents=((DEFAULTS_FILE, DEFAULTS),),
        action_endpoint=_action_endpoint(project_dir, problems),
        kb_dir=kb_dir(project_dir),
        problems=tuple(problems),
    )


def _domain_files(project_dir: Path) -> list[Path]:
    single = [project_dir / n for n in ("domain.yml", "domain.yaml") if (project_dir / n).is_file()]
    return single + _yaml_under(project_dir / "domain")


def _yaml_under(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def _read_texts(
    project_dir: Path, paths: Iterable[Path], problems: list[Problem]
) -> Iterator[Document]:
    for path in paths:
        file = path.relative_to(project_dir).as_posix()
        try:
            yield file, path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(file, None, f"cannot read the file: {exc}"))


def _domain_document(file: str, text: str) -> str:
    """The domain file without the keys botsvc does not use; any other key stays, so that the
    flows loader still warns about a misspelt one. A file that does not parse is left whole:
    the loader reports its syntax error with the line."""
    source, _ = read_yaml(text, file=file)
    if source is None or not isinstance(source.data, dict):
        return text
    return _keep(text, source, set(source.data) - DOMAIN_ONLY_KEYS)


def _route_data_file(
    file: str, text: str, spec: list[Document], nlu: list[Document], problems: list[Problem]
) -> None:
    source, _ = read_yaml(text, file=file)
    if source is None:
        spec.append((file, text))  # one reader is enough to report the syntax error
        return
    if source.data is None:
        return
    if not isinstance(source.data, dict):
        problems.append(source.problem((), "a data file must be a mapping (`flows:`, `nlu:`)"))
        return
    keys = set(source.data)
    problems += _skipped_data_keys(source)
    if "flows" in keys:
        spec.append((file, _keep(text, source, _FLOW_KEYS)))
    if "nlu" in keys:
        nlu.append((file, _keep(text, source, _NLU_KEYS)))
    if "rules" in keys:
        flows, skipped = _rule_flows(source)
        problems += skipped
        if flows:
            spec.append((f"{file} (rules)", json.dumps({"flows": flows}, indent=1)))


def _rule_flows(source: Source) -> tuple[dict[str, Any], list[Problem]]:
    """Rasa rules of the simplest kind, an intent answered by actions, become flows triggered by
    that intent (`rule_<name>`); the others (conditions, forms, slot checks) are skipped."""
    flows: dict[str, Any] = {}
    problems: list[Problem] = []
    for i, rule in enumerate(source.data.get("rules") or []):
        steps = rule.get("steps") if isinstance(rule, dict) else None
        simple = (
            isinstance(steps, list)
            and len(steps) >= 2
            and set(rule) <= {"rule", "steps"}
            and isinstance(steps[0], dict)
            and set(steps[0]) == {"intent"}
            and all(isinstance(s, dict) and set(s) == {"action"} for s in steps[1:])
        )
        if not simple or not isinstance(steps, list):
            problems.append(
                source.problem(
                    ("rules", i),
                    "this Rasa rule is not run by botsvc (only `intent` then `action` steps are)",
                    severity="warning",
                )
            )
            continue
        name = str(rule.get("rule") or f"rule {i + 1}")
        flow_id = RULE_PREFIX + (re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or str(i))
        flows[flow_id] = {
            "description": f"Rasa rule: {name}",
            "nlu_trigger": [{"intent": str(steps[0]["intent"])}],
            "steps": [{"action": str(s["action"])} for s in steps[1:]],
        }
    return flows, problems


def _skipped_data_keys(source: Source) -> list[Problem]:
    out = []
    for key in source.data:
        if key == "stories":
            message = (
                f"Rasa `{key}` are not run by botsvc (it runs flows started by intents); "
                "the section is skipped"
            )
        elif key not in {*_FLOW_KEYS, *_NLU_KEYS, "rules"}:
            message = f"top-level key {key!r} of a data file is not used and is skipped"
        else:
            continue
        out.append(source.problem((key,), message, severity="warning"))
    return out


def _keep(text: str, source: Source, keep: Collection[str]) -> str:
    """`text` with every top-level section not in `keep` turned into empty lines, so that the
    lines kept stay where they were. A top-level mapping whose keys do not start lines of their
    own (flow style, `{flows: ...}`) cannot be cut and is returned whole."""
    keys = list(source.data)
    if all(k in keep for k in keys):
        return text
    lines = text.splitlines(keepends=True)
    starts = [(source.line((k,)) or 1) - 1 for k in keys]
    if any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
        return text
    ends = starts[1:] + [len(lines)]
    for key, start, end in zip(keys, starts, ends, strict=True):
        if key not in keep:
            lines[start:end] = ["\n"] * (end - start)
    return "".join(lines)


def _action_endpoint(project_dir: Path, problems: list[Problem]) -> tuple[str, str] | None:
    """`action_endpoint.url` of endpoints.yml; its other sections (nlg, stores, LLMs) are Rasa's."""
    path = next(
        (
            project_dir / n
            for n in ("endpoints.yml", "endpoints.yaml")
            if (project_dir / n).is_file()
        ),
        None,
    )
    if path is None:
        return None
    texts = list(_read_texts(project_dir, [path], problems))
    if not texts:
        return None
    source, found = read_yaml(texts[0][1], file=texts[0][0])
    problems += found
    if source is None or not isinstance(source.data, dict):
        return None
    section = source.data.get("action_endpoint")
    if section is None:
        return None
    url = section.get("url") if isinstance(section, dict) else None
    if not isinstance(url, str) or not url.strip():
        problems.append(
            source.problem(
                ("action_endpoint", "url"),
                "`action_endpoint` needs `url: http://host:5055/webhook` (the action server)",
            )
        )
        return None
    return url.strip(), source.file


def kb_dir(project_dir: Path) -> Path:
    """`kb/` when the project has one, else Rasa's `docs/` (enterprise search's documents)."""
    kb = project_dir / "kb"
    docs = project_dir / "docs"
    return docs if not kb.is_dir() and docs.is_dir() else kb
