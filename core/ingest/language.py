"""Which language a library's first documents are in, so a library made by an ingest gets its keyword analyzer.

py3langid (a numpy-only fork of langid.py, its model inside the package) is deterministic, offline and fast; see
the commit that brought it for the alternatives weighed. It is asked only about the languages the engine has an
analyzer for (core.storage.analyzers), so a guess never lands on a language no analyzer knows; it must be sure
(DETECT_MIN_PROBABILITY) on enough text (DETECT_MIN_CHARS), else the library keeps no language and the engine's
default analyzer, as before languages existed. English found is not recorded either: the engine's default analyzer
is already English wherever the engine has it, so such a library is made exactly as before."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from core.storage.analyzers import LANGUAGES, Language, language_of_code

DETECT_MIN_CHARS = 100  # shorter samples are too often guessed wrong
DETECT_MAX_CHARS = 20_000  # enough text to be sure; more only costs time
DETECT_MIN_PROBABILITY = 0.9

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


def detect_language(texts: Iterable[str]) -> Language | None:
    """The language of `texts` when py3langid is sure of it on enough text; None otherwise (the caller decides what
    English means, see new_library_language)."""
    text = sample(texts)
    if len(text.strip()) < DETECT_MIN_CHARS:
        return None
    code, probability = _model().classify(text)
    return language_of_code(code) if probability >= DETECT_MIN_PROBABILITY else None


def new_library_language(texts: Iterable[str]) -> Language | None:
    """The language to record for a library an ingest makes from `texts`: the one detected, unless it is English
    or unsure (None: the engine's default analyzer, English where it has one)."""
    found = detect_language(texts)
    return None if found is None or found.code == "en" else found
