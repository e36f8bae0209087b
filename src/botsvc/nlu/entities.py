"""Entity extraction: regexes and lookup tables as Rasa users write them, a CRF learned from the
annotated examples, and built-ins (email, amount of money, number, time, phone number, person:
builtins.py).

Every candidate is collected, then overlapping spans are resolved: the ops team's own patterns
(regex, lookup) win over the CRF, which wins over the generic built-ins; among the built-ins an
email or a phone number beats a date, an amount or a name, which beat a bare number (so "$20",
"2024-05-01" or "415-555-2671" are not also numbers); within a tier the longer span wins. String
values are then normalised with the synonyms.

Regex patterns match case-insensitively (Rasa's default), and each regex or lookup name is
extracted as an entity of that name. Lookup entries match whole words, case-insensitively.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from botsvc.domain import Entity
from botsvc.nlu.builtins import BuiltinSettings, extract_builtins
from botsvc.nlu.crf import CrfExtractor, Token
from botsvc.nlu.trainingdata import TrainingData

# Lower tier wins an overlap; the order says whose judgement we trust most.
_TIER = {
    "regex": 0,
    "lookup": 0,
    "payload": 0,
    "crf": 1,
    "email": 1,
    "phone_number": 1,
    "time": 2,
    "amount_of_money": 2,
    "person": 2,
    "number": 3,
}


@dataclass
class EntityExtractor:
    regexes: dict[str, list[re.Pattern[str]]]
    lookups: dict[str, re.Pattern[str]]
    synonyms: dict[str, str]
    crf: CrfExtractor | None = None
    seen: dict[str, re.Pattern[str]] | None = None  # annotated surface forms, a CRF feature only
    builtins: BuiltinSettings = field(default_factory=BuiltinSettings)

    @classmethod
    def from_training_data(
        cls, data: TrainingData, builtins: BuiltinSettings | None = None
    ) -> EntityExtractor:
        regexes = {
            name: [re.compile(p, re.IGNORECASE) for p in patterns]
            for name, patterns in data.regexes.items()
        }
        lookups = {name: _lookup_pattern(values) for name, values in data.lookups.items() if values}
        extractor = cls(regexes=regexes, lookups=lookups, synonyms=dict(data.synonyms))
        if builtins is not None:
            extractor.builtins = builtins
        extractor.seen = _seen_values(data)
        samples = [(e.text, e.entities) for e in data.examples]
        extractor.crf = CrfExtractor.train(samples, extractor.pattern_hits)
        return extractor

    def extract(self, text: str, *, now: datetime | None = None) -> list[Entity]:
        """Entities in ``text``, in order of appearance, without overlaps.

        ``now`` is what relative dates ("tomorrow at 7") are read against; default: the current
        local time.
        """
        candidates = self._patterns(text)
        if self.crf is not None:
            candidates += self.crf.extract(text)
        candidates += extract_builtins(text, now=now, settings=self.builtins)
        return [self._normalise(e) for e in resolve_overlaps(candidates)]

    def pattern_hits(self, text: str, tokens: list[Token]) -> list[set[str]]:
        """For each token, the regex and lookup names whose matches cover it (a CRF feature)."""
        hits: list[set[str]] = [set() for _ in tokens]
        for ent in self._patterns(text):
            for i, (_, start, end) in enumerate(tokens):
                if start < ent.end and end > ent.start:
                    hits[i].add(f"{ent.extractor}:{ent.entity}")
        for name, pattern in (self.seen or {}).items():
            for m in pattern.finditer(text):
                for i, (_, start, end) in enumerate(tokens):
                    if start < m.end() and end > m.start():
                        hits[i].add(f"seen:{name}")
        return hits

    def _patterns(self, text: str) -> list[Entity]:
        found: list[Entity] = []
        for name, patterns in self.regexes.items():
            for pattern in patterns:
                found += [_match(name, m, "regex") for m in pattern.finditer(text) if m.group(0)]
        for name, pattern in self.lookups.items():
            found += [_match(name, m, "lookup") for m in pattern.finditer(text)]
        return found

    def _normalise(self, ent: Entity) -> Entity:
        if isinstance(ent.value, str):
            canonical = self.synonyms.get(ent.value.strip().lower())
            if canonical is not None:
                return replace(ent, value=canonical)
        return ent


def resolve_overlaps(candidates: list[Entity]) -> list[Entity]:
    """Keeps the best non-overlapping spans (tier first, then length), in text order."""

    def rank(e: Entity) -> tuple[int, int, int]:
        tier = _TIER.get(e.extractor, _TIER.get(e.entity, 2))
        return (tier, -(e.end - e.start), e.start)

    kept: list[Entity] = []
    for cand in sorted(candidates, key=rank):
        if all(cand.end <= k.start or cand.start >= k.end for k in kept):
            kept.append(cand)
    return sorted((_with_learned_role(k, candidates) for k in kept), key=lambda e: (e.start, e.end))


def _with_learned_role(kept: Entity, candidates: list[Entity]) -> Entity:
    """A pattern hit takes the role and group the CRF learned for the same span and entity."""
    if kept.role is not None or kept.group is not None:
        return kept
    for c in candidates:
        same = (c.entity, c.start, c.end) == (kept.entity, kept.start, kept.end)
        if same and c.extractor == "crf" and (c.role or c.group):
            return replace(kept, role=c.role, group=c.group)
    return kept


def _seen_values(data: TrainingData) -> dict[str, re.Pattern[str]]:
    """Per annotated entity, its surface forms and those of synonyms of its values."""
    forms: dict[str, set[str]] = {}
    for ex in data.examples:
        for ent in ex.entities:
            forms.setdefault(ent.entity, set()).add(ex.text[ent.start : ent.end])
    for values in forms.values():
        canon = {data.synonyms.get(v.lower(), v) for v in values}
        values.update(s for s, c in data.synonyms.items() if c in canon)
    return {name: _lookup_pattern(tuple(v)) for name, v in forms.items() if v}


def _lookup_pattern(values: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _match(name: str, m: re.Match[str], extractor: str) -> Entity:
    return Entity(entity=name, value=m.group(0), start=m.start(), end=m.end(), extractor=extractor)
