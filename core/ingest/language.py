"""Which language a library's first documents are in, so a library made by an ingest gets its keyword analyzer.

py3langid (a numpy-only fork of langid.py, its model inside the package) is deterministic, offline and fast; see
the commit that brought it for the alternatives weighed. It is asked only about the languages the engine has an
analyzer for (core.storage.analyzers), so a guess never lands on a language no analyzer knows; it must be sure
(DETECT_MIN_PROBABILITY) on enough text (DETECT_MIN_CHARS), else the library keeps no language and the engine's
default analyzer, as before languages existed. English found is not recorded as the library's language either: the
engine's default analyzer is already English wherever the engine has it, so such a library is made exactly as before.
That detection ran is recorded though (DETECTED_SETTING), English and unsure included, so it runs once per library:
the language could not always be read back from the first index (an engine without BM25 records no analyzer)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from core.storage.analyzers import LANGUAGES, Language, language_of_code

DETECT_MIN_CHARS = 100  # shorter samples are too often guessed wrong
DETECT_MAX_CHARS = 20_000  # enough text to be sure; more only costs time
DETECT_MIN_PROBABILITY = 0.9
# The library setting saying detection ran on its first documents: the code found ("en" too), "" when unsure.
DETECTED_SETTING = "detected_language"

_lock = threading.Lock()
_identifier = None


def _model():
    """One identifier per process, restricted to the languages with an analyzer (py3langid's own languages may
    be set only on an identifier of one's own)."""
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)
            identifier.set_languages([lang.code for lang in LANGUAGES])
            _identifier = identifier
        return _identifier


def sample(texts: Iterable[str]) -> str:
    """The first DETECT_MAX_CHARS characters of `texts`, joined."""
    taken, size = [], 0
    for text in texts:
        taken.append(text[: DETECT_MAX_CHARS - size])
        size += len(taken[-1])
        if size >= DETECT_MAX_CHARS:
            break
    return "\n".join(taken)


@dataclass(frozen=True)
class Detection:
    """What py3langid made of enough text."""

    found: Language | None  # the language it is sure of; None: unsure

    @property
    def library_language(self) -> Language | None:
        """The language to record for a library an ingest makes: the one found, unless it is English or unsure
        (None: the engine's default analyzer, English where it has one)."""
        return None if self.found is None or self.found.code == "en" else self.found


def detection(texts: Iterable[str]) -> Detection | None:
    """What py3langid makes of `texts`; None when they are too short to tell (DETECT_MIN_CHARS): nothing was decided,
    so a library's next ingest asks again."""
    text = sample(texts)
    if len(text.strip()) < DETECT_MIN_CHARS:
        return None
    code, probability = _model().classify(text)
    return Detection(language_of_code(code) if probability >= DETECT_MIN_PROBABILITY else None)
