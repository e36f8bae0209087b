"""Which language a message is written in: when the bot cannot understand it, and, for a bot
that answers in several languages (`lang:` variants), on every message.

Detected with lingua (its models ship in the wheel), among the languages customers most often
write to a European support desk in (and those the bot answers in). Short messages say too little
("ok", "hola", "danke" are guessed wrong as often as right), so a language is named only for a
message of at least MIN_WORDS words whose best language lingua rates at MIN_CONFIDENCE or more;
otherwise the answer is None (cannot tell). About 0.2 ms a message once the models are loaded.
The detector is built on first use, in lingua's low-accuracy mode (its models load in ~0.2 s).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import cache

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

__all__ = [
    "SORRY",
    "BotLanguage",
    "bot_language",
    "detect_language",
    "foreign_language",
    "message_language",
    "vocabulary_of",
]

LANGUAGES = (
    Language.ENGLISH,
    Language.GERMAN,
    Language.SPANISH,
    Language.FRENCH,
    Language.ITALIAN,
    Language.DUTCH,
    Language.PORTUGUESE,
    Language.POLISH,
    Language.TURKISH,
)
_CODES = frozenset(lang.iso_code_639_1.name.lower() for lang in LANGUAGES)
MIN_WORDS = 3
MIN_CONFIDENCE = 0.8
SAMPLE = 60  # training examples read to tell the bot's own language
FOREIGN_KNOWN_SHARE = 0.34  # at most this share of a foreign message's words are the bot's own
_WORD = re.compile(r"[^\W\d_]{2,}")
# values say nothing of a language: an email's or a link's parts, order numbers, amounts
_VALUE = re.compile(r"\S+@\S+|(?:https?://|www\.)\S+|\S*\d\S*")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The commonest short words of each language (articles, pronouns, question words, negation).
FUNCTION_WORDS = {
    "de": _words(
        "aber auf bitte danke das dem den der die du ein eine einen er für habe haben hat ich "
        "ihr ist kann kein keine können mein meine meinen mit möchte nicht noch oder schon "
        "sie sind und wann warum was wie wir wo wurde"
    ),
    "es": _words(
        "con cuándo cómo de del donde dónde el ella es está están gracias hola la las los mi "
        "mis muy mí necesito no para pero por puedo que quiero qué sí tú un una yo él"
    ),
    "fr": _words(
        "ai avec bonjour comment de des du elle est et il je la le les ma merci mes mon ne "
        "nous ou où pas pour pourquoi quand que qui sont suis sur tu un une veux voudrais "
        "vous"
    ),
    "it": _words(
        "che ciao come con del di dove gli grazie ho il io la le lei lo lui ma mia mio non "
        "per perché posso quando sono tu un una voglio vorrei è"
    ),
    "nl": _words(
        "bedankt de een en geen hallo heb het hij hoe ik is je jij kan met mijn niet of op "
        "van voor waar waarom wanneer wat wij wil zij zijn"
    ),
    "pt": _words(
        "as com como da de do ela ele está eu mas meu minha não o obrigado olá onde os para "
        "por porque posso preciso quando que quero tu um uma é"
    ),
    "pl": _words(
        "chcę co czy dlaczego do dobry dzień dziękuję gdzie ja jak jest kiedy mogę moja moje "
        "mój na nie on ona proszę się ty ze"
    ),
    "tr": _words(
        "ben benim bir biz bu değil ile istiyorum için merhaba mi mı nasıl ne neden nerede o "
        "sen siz teşekkürler var ve yok şu"
    ),
}

# Said when the customer writes in a language the bot does not serve, in that language; the
# conversation goes to a person, with the language in the handoff for the helpdesk to route it.
SORRY = {
    "de": "Entschuldigung, ich kann leider nur auf Englisch helfen. Ich verbinde Sie mit einem "
    "Kollegen, der Ihnen weiterhilft.",
    "es": "Lo siento, solo puedo ayudar en inglés. Le paso con un compañero que podrá ayudarle.",
    "fr": "Désolé, je ne peux aider qu'en anglais. Je vous mets en relation avec un collègue qui "
    "pourra vous aider.",
    "it": "Mi dispiace, posso aiutare solo in inglese. La metto in contatto con un collega che "
    "potrà aiutarla.",
    "nl": "Sorry, ik kan alleen in het Engels helpen. Ik verbind u door met een collega die u "
    "verder kan helpen.",
    "pt": "Desculpe, só consigo ajudar em inglês. Vou passá-lo a um colega que o poderá ajudar.",
    "pl": "Przepraszam, mogę pomóc tylko po angielsku. Przekazuję rozmowę koledze, który pomoże.",
    "tr": "Üzgünüm, yalnızca İngilizce yardımcı olabiliyorum. Sizi yardımcı olabilecek bir "
    "arkadaşıma aktarıyorum.",
}


def detect_language(text: str, *, also: frozenset[str] = frozenset()) -> str | None:
    """The ISO 639-1 code of the message's language, or None when it cannot tell.
    `also`: codes of languages to tell apart besides LANGUAGES."""
    if len(_WORD.findall(text)) < MIN_WORDS:
        return None
    best = _detector(also - _CODES).compute_language_confidence_values(text)[0]
    if best.value < MIN_CONFIDENCE:
        return None
    return best.language.iso_code_639_1.name.lower()


@cache
def _detector(also: frozenset[str] = frozenset()) -> LanguageDetector:
    # low-accuracy mode: trigram models only, loaded in ~0.2 s where the full ones take ~3 s;
    # on sentences it agrees with the full mode, and short messages are not named anyway
    more = (Language.from_iso_code_639_1(IsoCode639_1.from_str(code)) for code in sorted(also))
    builder = LanguageDetectorBuilder.from_languages(*LANGUAGES, *more)
    return builder.with_low_accuracy_mode().build()


def message_language(text: str, *, served: frozenset[str]) -> str | None:
    """The language of a customer's message, if it is one of `served` (ISO 639-1 codes) and the
    message shows it; None when it says nothing ("ok", "1234", an email, a product name) or is
    in another language, so that the conversation keeps the language it had."""
    plain = _VALUE.sub(" ", text)
    words = _WORD.findall(plain)
    if len(words) < MIN_WORDS:
        return None
    code = detect_language(plain, also=served)
    if code not in served:
        return None
    # as for foreign messages: product names read as any language, but lack its small words
    if code in FUNCTION_WORDS and not _has_small_words([w.lower() for w in words], code):
        return None
    return code


def bot_language(examples: Sequence[str]) -> str:
    """The language most of the bot's training examples are written in ("en" when unclear)."""
    step = max(1, len(examples) // SAMPLE)
    found = [detect_language(t) for t in list(examples)[::step][:SAMPLE]]
    counts = Counter(code for code in found if code)
    return counts.most_common(1)[0][0] if counts else "en"


def foreign_language(text: str, *, own: str, vocabulary: frozenset[str]) -> str | None:
    """The language of a message not in the bot's own, if it is one botsvc can say sorry in.

    Names, product words and typos make short messages look foreign to a detector ("Connect to
    agent" reads as French), so a message whose words are mostly the bot's own vocabulary (the
    words of its training examples) is never foreign."""
    code = detect_language(text)
    return None if code is None else _confirmed(text, code, own=own, vocabulary=vocabulary)


def _confirmed(text: str, code: str, *, own: str, vocabulary: frozenset[str]) -> str | None:
    if code == own or code not in SORRY:
        return None
    words = [w.lower() for w in _WORD.findall(text)]
    known = sum(w in vocabulary for w in words)
    if known > FOREIGN_KNOWN_SHARE * len(words):
        return None
    # ...and the language's own small words must be there: product names and other languages
    # written in Latin letters (Hinglish) look European to a detector but have none of them
    return code if _has_small_words(words, code) else None


def _has_small_words(words: Sequence[str], code: str) -> bool:
    small = sum(w in FUNCTION_WORDS[code] for w in words)
    return small >= (2 if len(words) >= 6 else 1)


def vocabulary_of(texts: Sequence[str]) -> frozenset[str]:
    """The words of the bot's training examples, lower-cased."""
    return frozenset(w.lower() for t in texts for w in _WORD.findall(t))


class BotLanguage:
    """The bot's own language and vocabulary, from its training examples: the vocabulary at
    once (a set of words), the language on the first message that may be foreign, so that
    loading lingua's models costs nothing at start-up."""

    def __init__(self, examples: Sequence[str]) -> None:
        self._examples = list(examples)
        self.vocabulary = vocabulary_of(self._examples)
        self._own: str | None = None

    @property
    def own(self) -> str:
        if self._own is None:
            self._own = bot_language(self._examples)
        return self._own

    def foreign(self, text: str) -> str | None:
        """The language of a message the bot did not understand, if not its own (see
        foreign_language)."""
        code = detect_language(text)
        if code is None:
            return None
        return _confirmed(text, code, own=self.own, vocabulary=self.vocabulary)
