"""Person names after "to", "for" or "from" ("send 50 to John Smith", "a table for Maria"), a
payee after a verb of paying ("send John 50") and a name given as a correction ("I meant Joe").

A heuristic, not a model (spaCy would cost seconds and hundreds of MB per process): one to three
capitalised words, after one of those words, ending the sentence or followed by punctuation or a
word such as "please", "at" or "tomorrow". The name is returned as written. Kept out: weekday,
month and holiday names, languages, common countries, plan and product words a shop's customers
write capitalised ("upgrade to Business", "from Windows to Mac"), pronouns, and messages written
in Title Case or capitals, where a capital says nothing. A city after "to" may still be read as a
person ("fly to Hamburg"); a bot's ``city`` lookup or CRF entity wins that span, as those outrank
built-ins.
"""

from __future__ import annotations

import re

Found = tuple[int, int, str]

_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
_WORD = rf"(?:Mc|Mac|O'|D')?[{_UPPER}][{_LOWER}]+(?:-[{_UPPER}][{_LOWER}]+)?"
_TITLE = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?"
_AFTER = (
    r"(?=\s*(?:$|[.,!?;:)]"
    r"|(?:please|thanks|thank|today|tomorrow|tonight|now|asap|at|on|by|and)\b))"
)
_NAME = re.compile(
    rf"\b(?i:to|for|from)\s+(?P<name>(?:{_TITLE}\s+)?{_WORD}(?:\s+{_WORD}){{0,2}}){_AFTER}"
)
# "send John 50", "pay Maria $20": a payee right after a verb of paying, before the amount
_PAYEE = re.compile(
    rf"\b(?i:send|pay|transfer|wire|give)\s+(?P<name>{_WORD}(?:\s+{_WORD})?)"
    r"(?=\s+(?:[$€£]\s?)?\d|\s+(?i:some|the|my|a|an)\b)"
)
# "I meant Joe", "sorry, I meant to say Joe": a name given as a correction
_MEANT = re.compile(
    rf"\b(?i:i meant(?: to say)?|i mean)\s+(?P<name>{_WORD}(?:\s+{_WORD})?){_AFTER}"
)
# Capitalised words after "to"/"for"/"from" that customers write and that name no one.
_NOT_NAME_WORDS = """
    monday tuesday wednesday thursday friday saturday sunday january february march april may
    june july august september october november december christmas xmas easter halloween
    thanksgiving new year god heaven english german french spanish italian dutch
    portuguese polish chinese japanese i me you him her us them it this that the my your our
    yes no ok okay hello hi hey thanks please sorry support customer service sales billing team
    help settings account home checkout cart order orders refund refunds delivery shipping
    returns premium pro plus business enterprise free basic standard gold silver platinum
    starter team windows mac macbook iphone ipad android linux chrome firefox safari edge web
    google apple amazon microsoft facebook instagram twitter whatsapp outlook gmail visa
    mastercard amex paypal klarna stripe dropbox slack zoom excel office street road avenue
    usa america canada mexico brazil uk england britain ireland europe germany france spain
    italy netherlands australia india china japan
"""
_NOT_NAMES = frozenset(_NOT_NAME_WORDS.split())
_WORDS = re.compile(r"[^\W\d_]{2,}")


def find_person_names(text: str) -> list[Found]:
    """Every plausible person name after "to", "for" or "from" in ``text``."""
    if _mostly_capitalised(text):
        return []
    found: list[Found] = []
    matches = sorted(
        (m for pattern in (_NAME, _PAYEE, _MEANT) for m in pattern.finditer(text)),
        key=lambda m: m.start("name"),
    )
    for m in matches:
        name = m.group("name")
        words = re.findall(r"[^\W\d_]+", name)
        if any(w.lower() in _NOT_NAMES for w in words):
            continue
        found.append((m.start("name"), m.end("name"), name))
    return found


def _mostly_capitalised(text: str) -> bool:
    """In "I Want To Go To Bed" or "SEND IT TO ME" a capital letter does not mark a name."""
    words = _WORDS.findall(text)
    capitalised = sum(1 for w in words if w[0].isupper())
    return len(words) >= 3 and capitalised > 0.6 * len(words)
