"""Language detection at ingest: it runs once per library, English and unsure included, and never overrides a language
chosen for the library."""

from __future__ import annotations

import pytest

import core.ingest.language as detection
from core.service.libraries import create_library
from core.storage.analyzers import language_of
from core.storage.base import LANGUAGE_SETTING
from tests.conftest import BUNDLED_SMALL, index_texts

ENGLISH = (
    "Researchers turn documents into vectors so that a search finds the passages closest to the question, even when "
    "the words are not the same. The library keeps the texts and their vectors together."
)
MORE_ENGLISH = (
    "A second batch of English documents arrives a week later: the library was already read once, so its language "
    "is known and nothing needs to be guessed again from these pages."
)
PORTUGUESE = (
    "Os pesquisadores transformam documentos em vetores para que a busca encontre os trechos mais próximos da "
    "pergunta, mesmo quando as palavras não são as mesmas. A biblioteca guarda os textos e os seus vetores."
)


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the language identifier is asked about from now on (it still answers as itself)."""
    texts: list[str] = []
    identifier = detection._model()

    class Counting:
        def classify(self, text: str):
            texts.append(text)
            return identifier.classify(text)

    monkeypatch.setattr(detection, "_model", Counting)
    return texts


def _second_ingest_asks_nothing(store, tmp_path, asked: list[str]) -> None:
    index_texts(store, tmp_path / "first", "lib", BUNDLED_SMALL, {"first.txt": ENGLISH})
    assert len(asked) == 1  # the first documents were read for their language
    language_before = store.catalog.language("lib")
    index_texts(store, tmp_path / "second", "lib", BUNDLED_SMALL, {"second.txt": MORE_ENGLISH})
    assert len(asked) == 1
    # English is still not recorded as the library's language: it lists and analyses as it did before detection ran.
    assert LANGUAGE_SETTING not in store.catalog.settings("lib")
    assert store.catalog.language("lib") == language_before
    assert store.catalog.find("lib", BUNDLED_SMALL).language == ""


def test_a_second_ingest_into_an_english_library_does_not_detect_again(any_store, tmp_path, asked):
    _second_ingest_asks_nothing(any_store, tmp_path, asked)


@pytest.fixture
def no_bm25(store):
    """Milvus Lite taken for a Milvus 2.3, which has no BM25: an index records no analyzer, so no language either."""
    from core.storage.profile import profile_of_server

    store.profile = profile_of_server("v2.3.5")
    return store


def test_an_english_library_is_detected_once_where_its_index_records_no_analyzer(no_bm25, tmp_path, asked):
    _second_ingest_asks_nothing(no_bm25, tmp_path, asked)
    assert no_bm25.catalog.find("lib", BUNDLED_SMALL).analyzer == ""


def test_too_little_text_decides_nothing_and_a_later_ingest_detects(no_bm25, tmp_path, asked):
    index_texts(no_bm25, tmp_path / "short", "lib", BUNDLED_SMALL, {"short.txt": "Os pesquisadores"})
    assert asked == [] and no_bm25.catalog.language("lib") == ""  # too short to ask about
    index_texts(no_bm25, tmp_path / "long", "lib", BUNDLED_SMALL, {"long.txt": PORTUGUESE})
    assert len(asked) == 1 and no_bm25.catalog.language("lib") == "pt"


@pytest.mark.parametrize("chosen", ["en", "none", "es"])
def test_a_language_chosen_for_the_library_is_never_overridden_by_detection(any_store, tmp_path, asked, chosen):
    create_library(any_store, "lib", language=language_of(chosen))
    index_texts(any_store, tmp_path / "d", "lib", BUNDLED_SMALL, {"busca.txt": PORTUGUESE})
    assert asked == []
    assert any_store.catalog.language("lib") == chosen
    assert any_store.catalog.find("lib", BUNDLED_SMALL).language == chosen
