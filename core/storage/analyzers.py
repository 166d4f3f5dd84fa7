"""A library's language and the keyword analyzer it maps to, written once for the engine and for Python.

The engine builds BM25 from `analyzer_params` in the schema (core.storage.schema.chunk_schema); core.storage.bm25
reproduces the same analyzer in Python for the in-memory reference store and the keyword explanations. Both ask
this module, so the terms a chunk is indexed under and the terms an explanation highlights are the same.

Measured on Milvus Lite 2.5.1 through MilvusClient (tests/test_language.py asks the engine for each language):
- English stays the engine's built-in "english" analyzer (Porter2 stems, its own stop words), exactly as every
  library made before languages existed, so their BM25 scores do not change.
- Every language Milvus' `stemmer` filter has gets the standard tokenizer, lowercase, our stop words where we keep a
  list (Portuguese, Spanish, French, German, Italian, Dutch; given to the engine as a list, so Python removes
  exactly the same words) and the language's Snowball stemmer. Accents are
  kept: Snowball's stemmers are written for accented text (Portuguese "ções", German "ä"), and folding them first
  would break their suffix rules. The engine's own `_xx_` stop lists are not used: Lite 2.5.1 cannot say what they
  hold (its `run_analyzer` is unimplemented), so the Python side could not follow them.
- Arabic and Tamil get the plain analyzer although the engine lists stemmers for them: on Lite 2.5.1 an insert
  into a collection with the Arabic stemmer kills the engine, and its Tamil stemmer joined none of the inflected
  forms tried (both measured). Python's tokenizer also cuts words of scripts with combining vowel signs (Tamil,
  Hindi) at those signs where the engine keeps them whole, so explanations in those scripts are approximate.
- Dutch: the engine's stemmer is Snowball's original Dutch (Porter's), which snowballstemmer 3 keeps as
  "dutch_porter" beside its new "dutch"; Python uses that one. Swedish: snowballstemmer 3 also strips "-et"
  ("huset" to "hus"), the engine's older Swedish does not, so an explanation may highlight such a word the engine
  did not match; every other form tried agrees (tests/test_language.py).
- Chinese uses the engine's `jieba` tokenizer (jieba-rs, search mode, HMM on); Python follows it with rjieba, the
  binding of the same jieba-rs and its dictionary.
- Any other language gets the plain "standard" analyzer (words, lower case), the same as "none".
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from core.errors import UnknownLanguageError

ENGLISH_ANALYZER, PLAIN_ANALYZER, JIEBA_ANALYZER = "english", "standard", "chinese"

# Short lists of function words (articles, prepositions and their contractions, conjunctions, pronouns), written
# here and handed to the engine as they are: BM25's idf already gives words found in most chunks little weight,
# so a list need only remove the commonest.
# fmt: off
_STOP = {
    "pt": "a o as os um uma uns umas de do da dos das em no na nos nas ao aos à às por pelo pela pelos pelas para "
          "com sem e ou mas que se não é são foi como mais seu sua seus suas ele ela eles elas isso este esta",
    "es": "el la los las un una unos unas de del al a en y o u e pero que se no es son fue como más por para con "
          "sin su sus lo le les este esta ese esa ya muy",
    "fr": "le la les l un une des de du d au aux à en et ou mais que qu qui ne pas se s est sont été pour par "
          "avec sans dans sur ce cette ces son sa ses il elle ils elles on y",
    "de": "der die das den dem des ein eine einer eines einem einen und oder aber in im an am auf aus bei mit "
          "nach von vom zu zum zur für ist sind war wird werden nicht sich es er sie wir auch als wie dass",
    "it": "il lo la i gli le un uno una di del della dei delle da dal in nel nella a al alla e o ma che non è "
          "sono per con su tra fra si come anche",
    "nl": "de het een en of maar in op aan van voor met bij uit naar om te is zijn was wordt niet dat die dit "
          "er ook als",
}
# fmt: on


@dataclass(frozen=True)
class Language:
    """A language a library can be in: its ISO 639-1 code, its English name, and how keyword search analyses it."""

    code: str  # ISO 639-1; "none" for no language (the plain analyzer)
    name: str  # English, lower case; for a stemmed language also Snowball's and Milvus' name of its stemmer
    native: str = ""  # the name in the language itself, also accepted as input
    stemmed: bool = False  # Milvus' stemmer filter and Snowball have a stemmer for it
    stop_words: frozenset[str] = field(default_factory=frozenset)
    snowball: str = ""  # snowballstemmer's name of the engine's algorithm, where it is not `name`

    @property
    def stemmer(self) -> str:
        """The snowballstemmer algorithm that stems as the engine does."""
        return self.snowball or self.name

    @property
    def label(self) -> str:
        return "none (plain)" if self is NONE else self.name.capitalize()

    @property
    def analyzer(self) -> str:
        """The name of the analyzer, as CollectionMeta.analyzer records it."""
        if self.code == "en":
            return ENGLISH_ANALYZER
        if self.code == "zh":
            return JIEBA_ANALYZER
        return self.name if self.stemmed else PLAIN_ANALYZER


def _stemmed(code: str, name: str, native: str = "", snowball: str = "") -> Language:
    return Language(code, name, native, True, frozenset(_STOP.get(code, "").split()), snowball)


NONE = Language("none", "none")
LANGUAGES: tuple[Language, ...] = (
    Language("en", "english", "english", stemmed=True),  # Milvus' built-in english analyzer, see `analyzer`
    _stemmed("da", "danish", "dansk"),
    _stemmed("nl", "dutch", "nederlands", snowball="dutch_porter"),
    _stemmed("fi", "finnish", "suomi"),
    _stemmed("fr", "french", "français"),
    _stemmed("de", "german", "deutsch"),
    _stemmed("el", "greek", "ελληνικά"),
    _stemmed("hu", "hungarian", "magyar"),
    _stemmed("it", "italian", "italiano"),
    _stemmed("no", "norwegian", "norsk"),
    _stemmed("pt", "portuguese", "português"),
    _stemmed("ro", "romanian", "română"),
    _stemmed("ru", "russian", "русский"),
    _stemmed("es", "spanish", "español"),
    _stemmed("sv", "swedish", "svenska"),
    _stemmed("tr", "turkish", "türkçe"),
    Language("zh", "chinese", "中文"),
    # The plain analyzer, named so a library says what it is in: no stemmer in the engine, or none that works there.
    Language("ar", "arabic", "العربية"),
    Language("ta", "tamil", "தமிழ்"),
    Language("ca", "catalan", "català"),
    Language("cs", "czech", "čeština"),
    Language("pl", "polish", "polski"),
    Language("uk", "ukrainian", "українська"),
    Language("ja", "japanese", "日本語"),
    Language("ko", "korean", "한국어"),
    Language("hi", "hindi", "हिन्दी"),
    Language("id", "indonesian", "bahasa indonesia"),
    Language("vi", "vietnamese", "tiếng việt"),
    Language("he", "hebrew", "עברית"),
    Language("fa", "persian", "فارسی"),
)
_BY_CODE = {lang.code: lang for lang in LANGUAGES}
_BY_ANALYZER = {lang.analyzer: lang for lang in LANGUAGES if lang.analyzer != PLAIN_ANALYZER}
_PLAIN_WORDS = ("none", "plain", "standard")


def _key(text: str) -> str:
    """Input as it is looked up: lower case, no accents, no spaces around ("Português " is "portugues")."""
    folded = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in folded if not unicodedata.combining(c))


_BY_KEY = {_key(word): lang for lang in LANGUAGES for word in (lang.code, lang.name, lang.native) if word}


def language_of(text: str | None) -> Language:
    """The language named by an ISO 639-1 code ("pt"), its English name ("portuguese") or its own ("Português");
    "none" is no language (the plain analyzer). Raises UnknownLanguageError listing the choices."""
    key = _key(text or "")
    if key in _PLAIN_WORDS:
        return NONE
    found = _BY_KEY.get(key) or _BY_KEY.get(key.split("-")[0].split("_")[0])  # "pt-BR", "pt_PT"
    if found is None:
        raise UnknownLanguageError(
            f"No language '{text}': choose one of {', '.join(f'{lang.name} ({lang.code})' for lang in LANGUAGES)}, "
            "or none."
        )
    return found


def language_of_code(code: str) -> Language | None:
    """The language recorded under a code; None for "" (none chosen); an unknown code (a newer version's) is plain."""
    return _BY_CODE.get(code, NONE) if code else None


def language_of_analyzer(analyzer: str) -> Language | None:
    """The language an index's analyzer was made for: "english" is English, "standard" none; None for an index
    without keyword search (analyzer "")."""
    return _BY_ANALYZER.get(analyzer, NONE) if analyzer else None


def analyzer_params(analyzer: str) -> dict:
    """The engine's `analyzer_params` for the analyzer named `analyzer` (Language.analyzer)."""
    if analyzer == JIEBA_ANALYZER:
        return {"tokenizer": "jieba", "filter": ["lowercase"]}  # Latin words inside Chinese text, as elsewhere
    language = _BY_ANALYZER.get(analyzer)
    if language is None or analyzer == ENGLISH_ANALYZER:
        return {"type": analyzer}
    filters: list = ["lowercase"]
    if language.stop_words:  # before the stemmer: the words are listed as written
        filters.append({"type": "stop", "stop_words": sorted(language.stop_words)})
    filters.append({"type": "stemmer", "language": language.name})
    return {"tokenizer": "standard", "filter": filters}


def stemmed_language(analyzer: str) -> Language | None:
    """The language whose stop words and Snowball stemmer the analyzer applies; None for english's built-in analyzer
    (core.storage.bm25 keeps its own rules), jieba and the plain analyzer."""
    language = _BY_ANALYZER.get(analyzer)
    return language if language is not None and language.stemmed and analyzer != ENGLISH_ANALYZER else None
