"""The app's side of a library's language: the Library page shows and changes it, New library takes one, the model
card says which languages a model reads, and Search warns when the two disagree."""

from __future__ import annotations

import pytest

from core.search.query import search
from core.service.jobs import library_job_key
from core.service.libraries import create_library as create_in_core
from core.storage.analyzers import language_of
from core.types import SearchMode
from tests.apptest_helpers import (
    LIBRARY,
    LIBRARY_PICKER,
    SEARCH,
    by_label,
    new_app,
    no_exception,
    open_page,
    pick_model,
    values,
    wait_for_job,
)
from tests.conftest import BUNDLED_SMALL, index_texts

PT_DOC = "Os pesquisadores transformam documentos em vetores."


@pytest.fixture
def at(app_store):
    app = new_app().run()
    no_exception(app)
    pick_model(app, BUNDLED_SMALL)
    return app


def _open(at, library: str, page: str) -> None:
    at.sidebar.selectbox(key=LIBRARY_PICKER).set_value(library).run()
    no_exception(at)
    open_page(at, page)


def test_the_library_page_changes_the_language_as_a_job_and_keyword_search_follows(at, app_store, tmp_path):
    from pages import shared

    index_texts(app_store, tmp_path / "d", "Docs", BUNDLED_SMALL, {"vetores.txt": PT_DOC})
    at.run()
    _open(at, "Docs", LIBRARY)
    assert any(c.startswith("Language: English · keyword analyzer: english") for c in values(at.main.caption))
    by_label(at.main.selectbox, "Language").set_value(language_of("pt")).run()
    by_label(at.main.button, "Change language").click().run()
    no_exception(at)
    state = wait_for_job(shared.jobs(), library_job_key("Docs"))
    assert state.error is None, state.error
    at.run()
    no_exception(at)
    assert any("is in Portuguese now" in s for s in values(at.main.success))
    assert any(c.startswith("Language: Portuguese · keyword analyzer: portuguese") for c in values(at.main.caption))
    hits = search("transformar", "Docs", BUNDLED_SMALL, app_store, mode=SearchMode.KEYWORD).hits
    assert [h.document for h in hits] == ["vetores.txt"]


def test_a_new_library_takes_a_language_from_the_sidebar(at, app_store):
    at.sidebar.text_input(key="new_library_name").input("Biblioteca")
    at.sidebar.selectbox(key="new_library_language").set_value(language_of("es"))
    at.sidebar.button(key="FormSubmitter:new-library-Create").click().run()
    no_exception(at)
    assert app_store.catalog.language("Biblioteca") == "es"


def test_the_model_card_says_a_bundled_model_reads_english_only(at):
    assert "Languages: English only." in values(at.sidebar.caption)


def test_search_warns_when_the_librarys_language_and_the_models_disagree(at, app_store, tmp_path):
    create_in_core(app_store, "Pesquisa", language=language_of("pt"))
    index_texts(app_store, tmp_path / "d", "Pesquisa", BUNDLED_SMALL, {"vetores.txt": PT_DOC})
    english = {"a.txt": "Researchers turn documents into vectors."}
    index_texts(app_store, tmp_path / "e", "English", BUNDLED_SMALL, english)
    at.run()
    _open(at, "Pesquisa", SEARCH)
    warnings = [w for w in values(at.main.warning) if "trained on English only" in w]
    assert len(warnings) == 1 and "Portuguese" in warnings[0]
    _open(at, "English", SEARCH)
    assert not [w for w in values(at.main.warning) if "trained on English only" in w]
