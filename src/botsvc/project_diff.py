"""What a reload changed: intents, flows, responses and knowledge-base documents added,
changed or removed, as ops want to read it after editing YAML or articles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botsvc.kb.retrieval import KnowledgeBase
from botsvc.project import Project

__all__ = ["project_changes", "summary"]

Changes = dict[str, list[str]]


def project_changes(old: Project, new: Project) -> dict[str, Changes]:
    return {
        "intents": _diff(_intents(old), _intents(new)),
        "flows": _diff(old.spec.flows, new.spec.flows),
        "responses": _diff(old.spec.responses, new.spec.responses),
        "kb_documents": _diff(_documents(old.kb), _documents(new.kb)),
    }


def summary(changes: dict[str, Changes]) -> str:
    """`intents +1 ~2, kb_documents -1` (nothing: `no change`)."""
    parts = []
    for what, c in changes.items():
        marks = "".join(
            f" {sign}{len(c[kind])}"
            for sign, kind in (("+", "added"), ("~", "changed"), ("-", "removed"))
            if c[kind]
        )
        if marks:
            parts.append(what + marks)
    return ", ".join(parts) or "no change"


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> Changes:
    return {
        "added": sorted(set(new) - set(old)),
        "changed": sorted(k for k in set(old) & set(new) if old[k] != new[k]),
        "removed": sorted(set(old) - set(new)),
    }


def _intents(p: Project) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for e in p.files.training.examples:
        out.setdefault(e.intent, []).append(e.text)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _documents(kb: KnowledgeBase) -> dict[str, tuple[tuple[str, str], ...]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for c in kb.chunks:
        out.setdefault(c.source, []).append((c.section, c.text))
    return {k: tuple(v) for k, v in out.items()}
