"""Entity extraction: regexes and lookup tables as Rasa users write them, the values the data
names for each entity, a CRF learned from the annotated examples, and built-ins (email, amount of
money, number, time, phone number, person: builtins.py).

An entity's known values are matched like a lookup table (whole words, case-insensitively) even
where no example shows them:

- the forms of a synonym (and its canonical value) once any of them is annotated as the entity,
  unless the examples show that form more often outside the entity than inside it ("high" is
  a priority in a helpdesk bot; a word the examples mostly leave unannotated is left to the CRF);
- a categorical slot's values and their synonyms, for the entity that fills the slot, when the
  caller passes them (``extra_values``: the flows, not the NLU data, declare slots).

Every candidate is collected, then overlapping spans are resolved: the ops team's own patterns
(regex, lookup) win over the CRF and the known values, which win over the generic built-ins;
among the built-ins an email or a phone number beats a date, an amount or a name, which beat a
bare number (so "$20", "2024-05-01" or "415-555-2671" are not also numbers); within a tier the
longer span wins, so the CRF's "minimum balance" beats the known value "balance" inside it.
String values are then normalised with the synonyms, and a categorical value to its spelling.

Regex patterns match case-insensitively (Rasa's default), and each regex or lookup name is
extracted as an entity of that name. Lookup entries match whole words, case-insensitively.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from botsvc.artefacts import ArtefactCache
from botsvc.domain import Entity
from botsvc.nlu.builtins import BuiltinSettings, extract_builtins
from botsvc.nlu.crf import CrfExtractor, Span
from botsvc.nlu.trainingdata import Example, TrainingData

KNOWN = "known_value"
# Lower tier wins an overlap; the order says whose judgement we trust most.
_TIER = {
    "regex": 0,
    "lookup": 0,
    "payload": 0,
    "crf": 1,
    KNOWN: 1,
    "email": 1,
    "phone_number": 1,
    "time": 2,
    "amount_of_money": 2,
    "person": 2,
    "number": 3,
}
# No number, amount, date or phone number anyone types is this long; the built-ins do not see
# longer digit runs (they would parse 5,000 digits into one int, past Python's limit).
_MAX_DIGITS = 30
_LONG_DIGITS = re.compile(rf"\d{{{_MAX_DIGITS + 1},}}")


@dataclass(frozen=True, kw_only=True)
class Patterns:
    """What the extractor matches itself, and what the CRF reads as its gazetteer."""

    regexes: dict[str, tuple[re.Pattern[str], ...]]
    lookups: dict[str, re.Pattern[str]]
    known: dict[str, re.Pattern[str]]  # synonym forms and categorical values, per entity
    seen: dict[str, re.Pattern[str]]  # annotated surface forms and their synonyms: a feature only

    def matches(self, text: str) -> list[Entity]:
        found: list[Entity] = []
        for name, patterns in self.regexes.items():
            for pattern in patterns:
                found += [_match(name, m, "regex") for m in pattern.finditer(text) if m.group(0)]
        for name, pattern in self.lookups.items():
            found += [_match(name, m, "lookup") for m in pattern.finditer(text)]
        for name, pattern in self.known.items():
            found += [_match(name, m, KNOWN) for m in pattern.finditer(text)]
        return found

    def spans(self, text: str, matches: list[Entity] | None = None) -> list[Span]:
        """The gazetteer of ``text`` (``matches``: its ``matches``, when the caller has them)."""
        found = self.matches(text) if matches is None else matches
        spans = [(f"{e.extractor}:{e.entity}", e.start, e.end) for e in found]
        for name, pattern in self.seen.items():
            spans += [(f"seen:{name}", m.start(), m.end()) for m in pattern.finditer(text)]
        return spans


@dataclass
class EntityExtractor:
    patterns: Patterns
    synonyms: dict[str, str]
    # (entity, lower-cased value) -> a categorical slot's value as the domain spells it
    spellings: dict[tuple[str, str], str] = field(default_factory=dict)
    crf: CrfExtractor | None = None
    builtins: BuiltinSettings = field(default_factory=BuiltinSettings)
    # (entity, the word before it) -> the one role the annotations give it after that word
    role_cues: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def from_training_data(
        cls,
        data: TrainingData,
        builtins: BuiltinSettings | None = None,
        *,
        extra_values: Mapping[str, tuple[str, ...]] | None = None,
        cache: ArtefactCache | None = None,
    ) -> EntityExtractor:
        """Builds the patterns and trains the CRF (or reads it from ``cache``). ``extra_values``:
        entity name -> more values of it, such as a categorical slot's ``values`` for the entity
        that fills the slot."""
        extra = {n: {v for v in vs if v.strip()} for n, vs in (extra_values or {}).items()}
        patterns, values = _vocabulary(data, extra)
        samples = [(e.text, e.entities) for e in data.examples]
        return cls(
            patterns=patterns,
            synonyms=dict(data.synonyms),
            spellings={(name, v.lower()): v for name, vs in extra.items() for v in vs},
            crf=CrfExtractor.train(samples, patterns.spans, values=values, cache=cache),
            builtins=builtins or BuiltinSettings(),
            role_cues=_role_cues(data),
        )

    def extract(self, text: str, *, now: datetime | None = None) -> list[Entity]:
        """Entities in ``text``, in order of appearance, without overlaps.

        ``now`` is what relative dates ("tomorrow at 7") are read against; default: the current
        local time.
        """
        candidates = self.patterns.matches(text)
        if self.crf is not None:
            candidates += self.crf.extract(text, self.patterns.spans(text, candidates))
        plain = _LONG_DIGITS.sub(lambda m: " " * len(m.group(0)), text)  # same offsets
        candidates += extract_builtins(plain, now=now, settings=self.builtins)
        return [
            self._with_cued_role(self._normalise(e), text) for e in resolve_overlaps(candidates)
        ]

    def _with_cued_role(self, ent: Entity, text: str) -> Entity:
        """An entity the CRF gave no role takes the role its annotations always have after the
        same word ("from [Berlin]" is an origin): small data teaches the CRF that cue unevenly."""
        if ent.role is not None or not self.role_cues:
            return ent
        before = _word_before(text, ent.start)
        role = self.role_cues.get((ent.entity, before)) if before else None
        return ent if role is None else replace(ent, role=role)

    def _normalise(self, ent: Entity) -> Entity:
        if not isinstance(ent.value, str):
            return ent
        value = self.synonyms.get(ent.value.strip().lower(), ent.value)
        value = self.spellings.get((ent.entity, value.strip().lower()), value)
        return ent if value == ent.value else replace(ent, value=value)


_WORD_BEFORE = re.compile(r"(\w+)\W*$")
_BEFORE_WINDOW = 40  # characters looked back: the regex is quadratic in one long word
_MIN_CUE_COUNT = 2


def _word_before(text: str, start: int) -> str | None:
    """The lower-cased word just before ``start`` ("from" in "from Berlin"), if any."""
    found = _WORD_BEFORE.search(text, max(0, start - _BEFORE_WINDOW), start)
    return found.group(1).lower() if found else None


def _role_cues(data: TrainingData) -> dict[tuple[str, str], str]:
    """(entity, preceding word) -> role, where the annotations show that word before the entity
    with a role at least twice and always the same one (an annotation without a role, such as
    an answer to "where from?", leaves the role open rather than contradicting it)."""
    roles: dict[tuple[str, str], Counter[str | None]] = defaultdict(Counter)
    for example in data.examples:
        for ent in example.entities:
            before = _word_before(example.text, ent.start)
            if before:
                roles[(ent.entity, before)][ent.role] += 1
    cues: dict[tuple[str, str], str] = {}
    for key, counts in roles.items():
        named = [(role, n) for role, n in counts.items() if role is not None]
        if len(named) == 1 and named[0][1] >= _MIN_CUE_COUNT:
            cues[key] = named[0][0]
    return cues


def resolve_overlaps(candidates: list[Entity]) -> list[Entity]:
    """Keeps the best non-overlapping spans (tier first, then length), in text order."""

    def rank(e: Entity) -> tuple[int, int, int]:
        tier = _TIER.get(e.extractor, _TIER.get(e.entity, 2))
        return (tier, -(e.end - e.start), e.start)

    kept: list[Entity] = []  # in text order, so only the neighbours of a place can overlap it
    starts: list[int] = []
    for cand in sorted(candidates, key=rank):
        i = bisect.bisect_right(starts, cand.start)
        if i > 0 and kept[i - 1].end > cand.start:
            continue
        if i < len(kept) and kept[i].start < cand.end:
            continue
        kept.insert(i, cand)
        starts.insert(i, cand.start)
    learned: dict[tuple[str, int, int], Entity] = {}
    for c in candidates:
        if c.extractor == "crf" and (c.role or c.group):
            learned.setdefault((c.entity, c.start, c.end), c)
    return [_with_learned_role(k, learned) for k in kept]


def _with_learned_role(kept: Entity, learned: Mapping[tuple[str, int, int], Entity]) -> Entity:
    """A pattern hit takes the role and group the CRF learned for the same span and entity."""
    crf = learned.get((kept.entity, kept.start, kept.end))
    if crf is None or kept.role is not None or kept.group is not None:
        return kept
    return replace(kept, role=crf.role, group=crf.group)


def _vocabulary(
    data: TrainingData, extra: Mapping[str, set[str]]
) -> tuple[Patterns, dict[str, list[str]]]:
    """The patterns, and every value of each entity (what the CRF's training copies put in)."""
    groups = _synonym_groups(data.synonyms)
    annotated = _annotated(data.examples)
    synonym_forms = {n: _grouped(forms, groups) for n, forms in annotated.items()}
    slot_forms = {n: vs | _grouped(vs, groups) for n, vs in extra.items()}
    known = {n: _trusted(n, forms, data.examples) for n, forms in synonym_forms.items()}
    for name, forms in slot_forms.items():
        known[name] = known.get(name, set()) | forms
    patterns = Patterns(
        regexes={
            name: tuple(re.compile(p, re.IGNORECASE) for p in ps)
            for name, ps in data.regexes.items()
        },
        lookups={n: _lookup_pattern(v) for n, v in data.lookups.items() if v},
        known={n: _lookup_pattern(v) for n, v in known.items() if v},
        seen={n: _lookup_pattern(f | synonym_forms[n]) for n, f in annotated.items()},
    )
    values: dict[str, set[str]] = {n: set(v) for n, v in data.lookups.items()}
    for source in (annotated, synonym_forms, slot_forms):
        for name, forms in source.items():
            values.setdefault(name, set()).update(forms)
    return patterns, {n: sorted(v) for n, v in values.items()}


def _annotated(examples: Iterable[Example]) -> dict[str, set[str]]:
    """Per annotated entity, its surface forms and the values written for them."""
    forms: dict[str, set[str]] = {}
    for ex in examples:
        for ent in ex.entities:
            found = forms.setdefault(ent.entity, set())
            found.add(ex.text[ent.start : ent.end])
            if isinstance(ent.value, str):
                found.add(ent.value)
    return forms


def _synonym_groups(synonyms: Mapping[str, str]) -> dict[str, set[str]]:
    """Lower-cased canonical value -> the value and all its synonyms."""
    groups: dict[str, set[str]] = {}
    for surface, canonical in synonyms.items():
        groups.setdefault(canonical.lower(), {canonical}).add(surface)
    return groups


def _grouped(forms: set[str], groups: Mapping[str, set[str]]) -> set[str]:
    """The synonym groups that share a form with ``forms`` (the forms themselves not added)."""
    lowered = {f.lower() for f in forms}
    out: set[str] = set()
    for group in groups.values():
        if any(g.lower() in lowered for g in group):
            out |= group
    return out


def _trusted(name: str, forms: set[str], examples: Iterable[Example]) -> set[str]:
    """The forms the examples do not show unannotated more often than annotated as ``name``."""
    if not forms:
        return set()
    pattern = _lookup_pattern(forms)
    inside: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    for ex in examples:
        spans = [(e.start, e.end) for e in ex.entities if e.entity == name]
        for m in pattern.finditer(ex.text):
            covered = any(s <= m.start() and m.end() <= e for s, e in spans)
            (inside if covered else outside)[m.group(0).lower()] += 1
    return {f for f in forms if outside[f.lower()] <= inside[f.lower()]}


def _lookup_pattern(values: Iterable[str]) -> re.Pattern[str]:
    ordered = sorted(set(values), key=lambda v: (-len(v), v))
    alternatives = "|".join(re.escape(v) for v in ordered)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _match(name: str, m: re.Match[str], extractor: str) -> Entity:
    return Entity(entity=name, value=m.group(0), start=m.start(), end=m.end(), extractor=extractor)
