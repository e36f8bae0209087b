"""Rasa NLU training data (YAML, ``version: "3.1"``): intents, entity annotations, synonyms, regexes
and lookup tables, read from one file or merged from a folder, with file:line in every problem.

Existing Rasa projects' ``nlu.yml`` load unchanged. Sections that are not NLU (``stories``,
``rules``, ``responses``, ...) are skipped with a warning; every error is collected, and
:func:`load_training_data` raises one :class:`ProjectError` carrying all of them. (About 400
lines: Rasa's format is read in one pass, each section beside the others that share its rules.)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from botsvc.domain import Entity
from botsvc.errors import Problem, ProjectError
from botsvc.nlu.annotations import AnnotationError, parse_annotated

NLU_KEYS = ("intent", "synonym", "regex", "lookup")
_ALLOWED_TOP = {"version", "nlu"}
_ALLOWED_ITEM = {"examples", "metadata"}


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    entities: tuple[Entity, ...]
    file: str
    line: int


@dataclass(frozen=True)
class TrainingData:
    examples: tuple[Example, ...]
    synonyms: dict[str, str]  # lower-cased surface form -> canonical value
    regexes: dict[str, tuple[str, ...]]
    lookups: dict[str, tuple[str, ...]]
    warnings: tuple[Problem, ...] = ()

    @property
    def intents(self) -> list[str]:
        return sorted({e.intent for e in self.examples})

    @property
    def entity_names(self) -> list[str]:
        """Entities annotated in examples, plus the names of regexes and lookup tables."""
        names = {en.entity for ex in self.examples for en in ex.entities}
        return sorted(names | set(self.regexes) | set(self.lookups))

    def fingerprint(self) -> str:
        """A stable hash of the content: independent of file names, line numbers and file order."""
        content = {
            "examples": sorted(
                [
                    e.intent,
                    e.text,
                    [[n.entity, str(n.value), n.start, n.end, n.role, n.group] for n in e.entities],
                ]
                for e in self.examples
            ),
            "synonyms": sorted(self.synonyms.items()),
            "regexes": sorted((k, list(v)) for k, v in self.regexes.items()),
            "lookups": sorted((k, sorted(v)) for k, v in self.lookups.items()),
        }
        blob = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def load_training_data(path: Path) -> TrainingData:
    """Reads one YAML file, or every ``*.yml``/``*.yaml`` under a folder (recursively), merged.

    :raises ProjectError: with every problem found (file, line, and how to fix it).
    """
    path = Path(path)
    if not path.exists():
        raise ProjectError(
            [
                Problem(
                    str(path),
                    None,
                    "not found; create it or point --project at the folder that holds intents/",
                )
            ]
        )
    files = _yaml_files(path) if path.is_dir() else [path]
    if not files:
        raise ProjectError(
            [
                Problem(
                    str(path),
                    None,
                    "holds no *.yml or *.yaml files; add Rasa NLU "
                    "training data such as intents/nlu.yml",
                )
            ]
        )
    reader = _Reader()
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reader.error(str(file), None, f"cannot be read ({exc}); save it as UTF-8 text")
            continue
        reader.read(text, str(file), base_dir=file.parent)
    return reader.finish()


def load_training_data_from_str(
    text: str, file: str = "<string>", *, base_dir: Path | None = None
) -> TrainingData:
    """Reads training data from a YAML string; lookup files are resolved against ``base_dir``."""
    reader = _Reader()
    reader.read(text, file, base_dir=base_dir or Path.cwd())
    return reader.finish()


def load_training_documents(documents: Iterable[tuple[str, str]], *, root: Path) -> TrainingData:
    """Reads (file, text) documents, each `file` named relative to `root` (a Rasa project's
    `data/nlu.yml`); a lookup file is found beside the document that names it, as on disk."""
    reader = _Reader()
    for file, text in documents:
        reader.read(text, file, base_dir=(root / file).parent)
    return reader.finish()


def _yaml_files(folder: Path) -> list[Path]:
    found = [p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file()]
    return sorted(found)


@dataclass
class _Reader:
    examples: list[Example] = field(default_factory=list)
    synonyms: dict[str, str] = field(default_factory=dict)
    synonym_where: dict[str, str] = field(default_factory=dict)
    regexes: dict[str, list[str]] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def error(self, file: str, line: int | None, message: str) -> None:
        self.problems.append(Problem(file, line, message))

    def warn(self, file: str, line: int | None, message: str) -> None:
        self.problems.append(Problem(file, line, message, severity="warning"))

    def read(self, text: str, file: str, *, base_dir: Path) -> None:
        try:
            doc = YAML(typ="rt").load(text)
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            self.error(
                file,
                line,
                f"is not valid YAML: {exc.problem or exc.context}; check the "
                "indentation and quoting around this line",
            )
            return
        except YAMLError as exc:
            self.error(file, None, f"is not valid YAML: {exc}")
            return
        if doc is None:
            self.warn(file, None, "is empty; it adds no training data")
            return
        if not isinstance(doc, CommentedMap):
            self.error(file, 1, 'the top level must be a mapping with `version: "3.1"` and `nlu:`')
            return
        self._top_level(doc, file, base_dir)

    def _top_level(self, doc: CommentedMap, file: str, base_dir: Path) -> None:
        for key in doc:
            if key not in _ALLOWED_TOP:
                self.warn(
                    file,
                    _key_line(doc, key),
                    f"section `{key}` is not NLU training data "
                    "and is skipped (botsvc reads intents, synonyms, regexes and lookups)",
                )
        version = doc.get("version")
        if "version" in doc and (not isinstance(version, str) or not version.strip()):
            self.warn(
                file,
                _key_line(doc, "version"),
                f'version {version!r} should be a quoted string such as `version: "3.1"`',
            )
        nlu = doc.get("nlu")
        if nlu is None:
            return
        if not isinstance(nlu, CommentedSeq):
            self.error(
                file,
                _key_line(doc, "nlu"),
                "`nlu` must be a list of `- intent:`, "
                "`- synonym:`, `- regex:` or `- lookup:` entries",
            )
            return
        for index, item in enumerate(nlu):
            self._item(item, file, nlu.lc.item(index)[0] + 1, base_dir)

    def _item(self, item: object, file: str, line: int, base_dir: Path) -> None:
        if not isinstance(item, CommentedMap):
            self.error(
                file,
                line,
                "each `nlu` entry must be a mapping such as "
                "`- intent: greet` followed by `examples: |`",
            )
            return
        kinds = [k for k in NLU_KEYS if k in item]
        if len(kinds) != 1:
            found = ", ".join(map(str, item)) or "nothing"
            self.error(
                file,
                line,
                f"an `nlu` entry needs exactly one of intent, synonym, regex or "
                f"lookup (found: {found})",
            )
            return
        kind = kinds[0]
        name = item[kind]
        if not isinstance(name, str) or not name.strip():
            self.error(file, line, f"`{kind}` needs a non-empty name, e.g. `- {kind}: my_name`")
            return
        for key in item:
            if key != kind and key not in _ALLOWED_ITEM:
                self.warn(
                    file,
                    _key_line(item, key),
                    f"key `{key}` in {kind} `{name}` is not part of Rasa's format and is ignored",
                )
        if "examples" not in item:
            self.error(
                file,
                line,
                f"{kind} `{name}` has no `examples`; add `examples: |` "
                "followed by lines starting with `- `",
            )
            return
        lines = list(self._example_lines(item, kind, name, file, base_dir))
        if kind == "intent":
            self._intent(name.strip(), lines, file)
        elif kind == "synonym":
            for value, _ in lines:
                self._synonym(value, name.strip(), file, line)
        elif kind == "regex":
            self._regex(name.strip(), lines, file)
        else:
            self.lookups.setdefault(name.strip(), []).extend(v for v, _ in lines)

    def _example_lines(
        self, item: CommentedMap, kind: str, name: str, file: str, base_dir: Path
    ) -> Iterator[tuple[str, int]]:
        examples = item["examples"]
        line = _value_line(item, "examples")
        if isinstance(examples, CommentedSeq):
            yield from self._example_list(examples, kind, name, file)
            return
        if not isinstance(examples, str):
            self.error(
                file,
                line,
                f"`examples` of {kind} `{name}` must be a block of `- ` lines "
                "(write `examples: |` and one `- example` per line)",
            )
            return
        if kind == "lookup" and _is_file_reference(examples):
            yield from self._lookup_file(examples.strip(), file, line, base_dir)
            return
        first = line + 1 if isinstance(examples, LiteralScalarString | FoldedScalarString) else line
        for offset, raw in enumerate(examples.splitlines()):
            stripped = raw.strip()
            if not stripped:
                continue
            if not stripped.startswith("-"):
                self.warn(
                    file,
                    first + offset,
                    f"example {stripped!r} of {kind} `{name}` does not "
                    "start with `- ` and is skipped",
                )
                continue
            value = stripped[1:].strip()
            if value:
                yield value, first + offset

    def _example_list(
        self, examples: CommentedSeq, kind: str, name: str, file: str
    ) -> Iterator[tuple[str, int]]:
        for index, entry in enumerate(examples):
            line = examples.lc.item(index)[0] + 1
            text = entry.get("text") if isinstance(entry, CommentedMap) else entry
            if not isinstance(text, str) or not text.strip():
                self.error(
                    file,
                    line,
                    f"each example of {kind} `{name}` in list form must be text or a "
                    "mapping with `text:` (and optional `metadata:`)",
                )
                continue
            yield text.strip(), line

    def _lookup_file(
        self, reference: str, file: str, line: int, base_dir: Path
    ) -> Iterator[tuple[str, int]]:
        target = Path(reference) if Path(reference).is_absolute() else base_dir / reference
        if not target.is_file():
            self.error(
                file,
                line,
                f"lookup file {reference!r} not found (looked for {target}); "
                "paths are relative to the YAML file that names them",
            )
            return
        for number, raw in enumerate(target.read_text(encoding="utf-8").splitlines(), start=1):
            value = raw.strip()
            if value.startswith("- "):
                value = value[2:].strip()
            if value and not value.startswith("#"):
                yield value, number

    def _intent(self, intent: str, lines: list[tuple[str, int]], file: str) -> None:
        if not lines:
            self.warn(file, None, f"intent `{intent}` has no examples and is not learned")
        for raw, line in lines:
            try:
                parsed = parse_annotated(raw)
            except AnnotationError as exc:
                self.error(file, line, f"intent `{intent}`: {exc}")
                continue
            if not parsed.text.strip():
                self.error(file, line, f"intent `{intent}` has an empty example; remove the line")
                continue
            for ent in parsed.entities:
                if isinstance(ent.value, str) and ent.value != parsed.text[ent.start : ent.end]:
                    self._synonym(parsed.text[ent.start : ent.end], ent.value, file, line)
            self.examples.append(Example(parsed.text, intent, parsed.entities, file, line))

    def _synonym(self, surface: str, canonical: str, file: str, line: int) -> None:
        key = surface.strip().lower()
        previous = self.synonyms.get(key)
        if previous is not None and previous != canonical:
            self.warn(
                file,
                line,
                f"{surface!r} is a synonym of both {previous!r} "
                f"({self.synonym_where[key]}) and {canonical!r}; the last one wins",
            )
        self.synonyms[key] = canonical
        self.synonym_where[key] = f"{file}:{line}"

    def _regex(self, name: str, lines: list[tuple[str, int]], file: str) -> None:
        for pattern, line in lines:
            try:
                re.compile(pattern)
            except re.error as exc:
                self.error(
                    file,
                    line,
                    f"regex `{name}`: pattern {pattern!r} is invalid ({exc}); "
                    "escape special characters with a backslash",
                )
                continue
            self.regexes.setdefault(name, []).append(pattern)

    def finish(self) -> TrainingData:
        self._warn_conflicts()
        errors = [p for p in self.problems if p.severity == "error"]
        if errors:
            raise ProjectError(sorted(self.problems, key=_order))
        return TrainingData(
            examples=tuple(self.examples),
            synonyms=dict(self.synonyms),
            regexes={k: tuple(v) for k, v in self.regexes.items()},
            lookups={k: tuple(dict.fromkeys(v)) for k, v in self.lookups.items()},
            warnings=tuple(sorted(self.problems, key=_order)),
        )

    def _warn_conflicts(self) -> None:
        first: dict[str, Example] = {}
        for ex in self.examples:
            key = ex.text.strip().lower()
            seen = first.setdefault(key, ex)
            if seen.intent != ex.intent:
                self.warn(
                    ex.file,
                    ex.line,
                    f"example {ex.text!r} is in intent `{ex.intent}` and "
                    f"in `{seen.intent}` ({seen.file}:{seen.line}); keep it in one intent",
                )


def _is_file_reference(examples: str) -> bool:
    text = examples.strip()
    return "\n" not in text and not text.startswith("-") and text.endswith(".txt")


def _key_line(mapping: CommentedMap, key: object) -> int | None:
    try:
        return int(mapping.lc.key(key)[0]) + 1
    except (KeyError, TypeError, AttributeError):
        return None


def _value_line(mapping: CommentedMap, key: object) -> int:
    try:
        return int(mapping.lc.value(key)[0]) + 1
    except (KeyError, TypeError, AttributeError):
        return int(mapping.lc.line) + 1


def _order(problem: Problem) -> tuple[str, int]:
    return (problem.file, problem.line or 0)
