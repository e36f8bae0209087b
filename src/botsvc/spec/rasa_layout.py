"""A Rasa Pro (CALM) project folder as the (file, text) documents botsvc's loaders already take.

Rasa Pro lays a bot out as

    domain.yml or domain/**.yml  slots, responses, actions (and intents, entities, forms, ...)
    data/**.yml                  `flows:` and `nlu:`; simple `rules:` (an intent, then actions) and
                                 forms (see `_rule_flows`) as flows; `stories:` are not run
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botsvc.errors import Problem
from botsvc.spec.rasa_defaults import DEFAULTS, DEFAULTS_FILE
from botsvc.spec.yamlio import Source, read_yaml

__all__ = [
    "DOMAIN_ONLY_KEYS",
    "RULES_DOCUMENT",
    "RasaProject",
    "is_rasa_project",
    "read_rasa_project",
]

# Domain keys Rasa uses and botsvc does not (intents come from the `nlu:` data): read silently.
DOMAIN_ONLY_KEYS = frozenset(
    {"intents", "entities", "forms", "session_config", "config", "e2e_actions"}
)
_FLOW_KEYS = frozenset({"version", "flows"})
_NLU_KEYS = frozenset({"version", "nlu"})
_STORY_KEYS = ("rules", "stories")
RULE_PREFIX = "rule_"  # flows made from Rasa rules: the NLU-based side of a coexistence bot
# the suffix of the documents holding those flows; the loader marks their flows `nlu_based`
RULES_DOCUMENT = " (rules)"
Document = tuple[str, str]  # (file relative to the project, text)
_NOT_RUN = "this Rasa rule is not run by botsvc"


@dataclass
class _DomainNames:
    """What the rules need from the domain files: the forms' slots, the response names."""

    forms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    responses: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Rule:
    source: Source
    index: int  # under `rules:`
    body: Any


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
    names = _DomainNames()
    for file, text in _read_texts(project_dir, _domain_files(project_dir), problems):
        spec.append((file, _domain_document(file, text, names, problems)))
    rules: list[_Rule] = []
    for file, text in _read_texts(project_dir, _yaml_under(project_dir / "data"), problems):
        _route_data_file(file, text, spec, nlu, rules, problems)
    for file, flows in _rule_flows(rules, names, problems).items():
        spec.append((file + RULES_DOCUMENT, json.dumps({"flows": flows}, indent=1)))
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


def _domain_document(file: str, text: str, names: _DomainNames, problems: list[Problem]) -> str:
    """The domain file without the keys botsvc does not use; any other key stays, so that the
    flows loader still warns about a misspelt one. A file that does not parse is left whole:
    the loader reports its syntax error with the line. Its forms and response names go to
    `names`, for the rules."""
    source, _ = read_yaml(text, file=file)
    if source is None or not isinstance(source.data, dict):
        return text
    responses = source.data.get("responses")
    if isinstance(responses, dict):
        names.responses.update(str(n) for n in responses)
    forms = source.data.get("forms")
    for name, body in forms.items() if isinstance(forms, dict) else ():
        slots = _required_slots(body)
        if slots is None:
            problems.append(
                source.problem(
                    ("forms", name),
                    f"form {name!r}: `required_slots` must list slot names; "
                    "the form is not run by botsvc",
                    severity="warning",
                )
            )
        else:
            names.forms.setdefault(str(name), slots)
    return _keep(text, source, set(source.data) - DOMAIN_ONLY_KEYS)


def _required_slots(body: Any) -> tuple[str, ...] | None:
    """A form's slots in order: `required_slots: [a, b]`, the older `required_slots: {a:
    [mappings], ...}` or Rasa 2.0's `{a: [mappings], ...}` (mappings not read: the slots' own
    `mappings` fill them)."""
    if body is None:
        return ()
    if not isinstance(body, dict):
        return None
    slots = body.get("required_slots", {k: v for k, v in body.items() if k != "ignored_intents"})
    if isinstance(slots, (list, dict)) and all(isinstance(s, str) for s in slots):
        return tuple(slots)
    return None


def _route_data_file(
    file: str,
    text: str,
    spec: list[Document],
    nlu: list[Document],
    rules: list[_Rule],
    problems: list[Problem],
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
        raw = source.data["rules"]
        rules += [_Rule(source, i, r) for i, r in enumerate(raw if isinstance(raw, list) else [])]


def _rule_flows(
    rules: list[_Rule], names: _DomainNames, problems: list[Problem]
) -> dict[str, dict[str, Any]]:
    """The Rasa rules botsvc runs, as flows `rule_<rule name>` grouped by the rule's file:

    - an intent answered by actions: a flow of those actions, triggered by the intent;
    - a form's activation (an intent, any actions, `action: <form>`, `active_loop: <form>`): a
      flow triggered by the intent that runs those actions, then a `collect` of each of the
      form's `required_slots` in order, asked with `utter_ask_<form>_<slot>` or else
      `utter_ask_<slot>` and kept after the flow (`reset_after_flow_ends: false`, as Rasa keeps
      a form's slots), then the actions of the form's first submit rule (`condition:
      [active_loop: <form>]`, `action: <form>`, `active_loop: null`, optionally `slot_was_set:
      [requested_slot: null]`, then actions), if there is one.

    A form's `ignored_intents` are not read (a message that answers no question is read as any
    other). A form with a slot asked only by a custom action (`action_ask_...`: a collect asks
    with responses) is not run. Every other rule is skipped with a warning."""
    submits: dict[str, tuple[_Rule, list[str]]] = {}
    for rule in rules:
        if (submit := _submission(rule.body, names.forms)) is not None:
            submits.setdefault(submit[0], (rule, submit[1]))
    flows: dict[str, dict[str, Any]] = {}
    activated: set[str] = set()
    for rule in rules:
        if _submission(rule.body, names.forms) is not None:
            continue
        flow, form_or_why = _rule_flow(rule, names, submits)
        if flow is None:
            problems.append(_skipped(rule, form_or_why))
            continue
        activated.add(form_or_why)
        flows.setdefault(rule.source.file, {})[_flow_id(rule)] = flow
    for rule in rules:
        if (submit := _submission(rule.body, names.forms)) is None:
            continue
        if submits[submit[0]][0] is not rule:
            problems.append(_skipped(rule, f"an earlier rule already submits form {submit[0]!r}"))
        elif submit[0] not in activated:
            problems.append(_skipped(rule, f"no rule botsvc runs activates form {submit[0]!r}"))
    return flows


def _rule_flow(
    rule: _Rule, names: _DomainNames, submits: dict[str, tuple[_Rule, list[str]]]
) -> tuple[dict[str, Any] | None, str]:
    """(the flow, the form it runs or "") for a simple rule or a form's activation, else
    (None, why it is not run)."""
    why = "only an intent then actions, and forms' activation and submit rules, are"
    steps = _plain_steps(rule.body, keys={"rule", "steps"})
    if steps is None or len(steps) < 2 or steps[0][0] != "intent":
        return None, why
    flow: dict[str, Any] = {
        "description": f"Rasa rule: {_rule_name(rule)}",
        "nlu_trigger": [{"intent": str(steps[0][1])}],
    }
    actions = [str(a) for kind, a in steps[1:] if kind == "action"]
    if len(actions) == len(steps) - 1:
        return {**flow, "steps": [{"action": a} for a in actions]}, ""
    form = steps[-1][1] if steps[-1][0] == "active_loop" else None
    if (
        not isinstance(form, str)
        or form not in names.forms
        or actions[-1:] != [form]
        or len(actions) != len(steps) - 2
    ):
        return None, why
    collects = []
    for slot in names.forms[form]:
        # no response: the collect asks with `action_ask_<form>_<slot>` if the project has it
        question = _question(form, slot, names.responses) or f"utter_ask_{form}_{slot}"
        collects.append({"collect": slot, "utter": question, "reset_after_flow_ends": False})
    submit = submits[form][1] if form in submits else []
    body = [{"action": a} for a in actions[:-1]] + collects + [{"action": a} for a in submit]
    if not body:
        return None, f"form {form!r} has no `required_slots` and no submit rule"
    return {**flow, "description": f"Rasa form {form} ({flow['description']})", "steps": body}, form


def _submission(body: Any, forms: Collection[str]) -> tuple[str, list[str]] | None:
    """(form, the actions run after it) of a rule that submits a form."""
    condition = body.get("condition") if isinstance(body, dict) else None
    steps = _plain_steps(body, keys={"rule", "condition", "steps"})
    if steps is None or not isinstance(condition, list) or len(condition) != 1:
        return None
    only = condition[0] if isinstance(condition[0], dict) and len(condition[0]) == 1 else {}
    looped = only.get("active_loop")
    if (
        not isinstance(looped, str)
        or looped not in forms
        or not steps
        or steps[0] != ("action", looped)
    ):
        return None
    rest, closed = steps[1:], False
    while rest and rest[0] in (("active_loop", None), ("slot_was_set", [{"requested_slot": None}])):
        closed = closed or rest[0][0] == "active_loop"
        rest = rest[1:]
    if not closed or any(kind != "action" for kind, _ in rest):
        return None
    return str(looped), [str(a) for _, a in rest]


def _plain_steps(body: Any, *, keys: set[str]) -> list[tuple[str, Any]] | None:
    """A rule's steps as (kind, value) pairs, if the rule has only `keys` and every step is
    one key (an intent with `entities`, a `slot_was_set` check, ... are not plain)."""
    steps = body.get("steps") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not set(body) <= keys or not isinstance(steps, list):
        return None
    if not all(isinstance(s, dict) and len(s) == 1 for s in steps):
        return None
    return [next(iter(s.items())) for s in steps]


def _question(form: str, slot: str, responses: Collection[str]) -> str | None:
    return next(
        (r for r in (f"utter_ask_{form}_{slot}", f"utter_ask_{slot}") if r in responses), None
    )


def _rule_name(rule: _Rule) -> str:
    name = rule.body.get("rule") if isinstance(rule.body, dict) else None
    return str(name or f"rule {rule.index + 1}")


def _flow_id(rule: _Rule) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", _rule_name(rule).lower()).strip("_")
    return RULE_PREFIX + (slug or str(rule.index))


def _skipped(rule: _Rule, why: str) -> Problem:
    return rule.source.problem(("rules", rule.index), f"{_NOT_RUN} ({why})", severity="warning")


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
