"""The Streamlit pages through AppTest: main paths and empty states, real bundled models, real Milvus Lite."""

from __future__ import annotations

import html
import re
import threading

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.config import load_settings
from core.embed.loading import load_embedder
from core.ingest.pipeline import default_chunking
from core.read.documents import read_path
from core.search.agreement import agreement_matrix, document_ranking
from core.search.query import search
from core.service.jobs import library_job_key
from pages import shared
from tests.apptest_helpers import (
    APP,
    COMPARE,
    COMPARE_SUBMIT,
    HOME,
    JOB_TIMEOUT,
    LIBRARY,
    LIBRARY_PICKER,
    MODEL_PICKER,
    RUN_TIMEOUT,
    SEARCH,
    SEARCH_SUBMIT,
    by_label,
    create_library,
    hit_headers,
    join_all_jobs,
    labels,
    new_app,
    no_exception,
    open_page,
    pick_model,
    restart,
    values,
    wait_for_job,
)
from tests.conftest import (
    BUNDLED_COUNT,
    BUNDLED_DEFAULT,
    BUNDLED_LARGE,
    BUNDLED_SMALL,
    SEED_DOCS,
    index_texts,
    lay_out_hub_cache,
)

SEED = {f"doc{i}.txt": text for i, text in enumerate(SEED_DOCS)}
HOSTILE = "<script>alert(1)</script> **bold** about Alan Turing born in London"
FOOD = "Bake the bread with flour, then serve it with cheese and soup from the kitchen."


@pytest.fixture
def at(app_store, monkeypatch):
    app = new_app()
    app.run()
    no_exception(app)
    return app


# --- Home ------------------------------------------------------------------------------------------


def test_home_with_an_empty_database_shows_the_title_metrics_and_where_to_start(at):
    assert [t.value for t in at.main.title] == [":material/science: Potion Search"]
    metrics = {m.label: m.value for m in at.main.metric}
    assert metrics == {
        "Libraries": "1",
        "Indexed chunks": "0",
        "Bundled models": str(BUNDLED_COUNT),
    }  # the default library
    assert values(at.main.info) == [
        "**My library** is empty: upload documents or load the samples on the Library page."
    ]


def test_home_counts_libraries_and_chunks_across_models(app_store, tmp_path, monkeypatch):
    index_texts(app_store, tmp_path / "a", "Alpha", BUNDLED_SMALL, SEED)
    index_texts(app_store, tmp_path / "a", "Alpha", BUNDLED_LARGE, SEED)
    index_texts(app_store, tmp_path / "b", "Beta", BUNDLED_SMALL, {"food.txt": FOOD})
    at = new_app().run()
    no_exception(at)
    metrics = {m.label: m.value for m in at.main.metric}
    assert metrics == {"Libraries": "2", "Indexed chunks": "7", "Bundled models": str(BUNDLED_COUNT)}
    assert not any(v.startswith("No library yet") for v in values(at.main.info))


# --- First visit -----------------------------------------------------------------------------------


def test_a_first_visit_uploads_into_the_default_library_with_nothing_to_create(at, app_store, monkeypatch):
    assert at.sidebar.selectbox(key=LIBRARY_PICKER).value == "My library"
    assert app_store.catalog.names() == ["My library"]  # in the registry, not only in the session
    (link,) = at.main.get("page_link")  # Home → Library in one click
    assert link.label == "Add documents to My library" and link.proto.page.endswith("library")

    open_page(at, LIBRARY)
    assert [t.value for t in at.main.title] == [":material/library_books: My library"]
    (uploader,) = at.main.get("file_uploader")
    assert not uploader.proto.disabled
    uploader.set_value([("turing.md", f"# Turing\n\n{SEED_DOCS[2]}".encode(), "text/markdown")])
    at.run()
    by_label(at.main.button, "Index 1 file(s)").click().run()
    no_exception(at)
    assert wait_for_job(shared.jobs(), library_job_key("My library")).status == "done"
    assert [d.name for d in app_store.index("My library", BUNDLED_DEFAULT).documents()] == ["turing.md"]

    again = restart()  # the default library persists, documents and all, and is not made twice
    try:
        assert again.sidebar.selectbox(key=LIBRARY_PICKER).options == ["My library"]
        assert {m.label: m.value for m in again.main.metric}["Indexed chunks"] == "1"
    finally:
        shared.store(load_settings()).close()


def test_the_default_library_is_named_by_its_setting(app_store, monkeypatch):
    monkeypatch.setenv("POTION_DEFAULT_LIBRARY", "Inbox")
    at = new_app().run()
    no_exception(at)
    assert at.sidebar.selectbox(key=LIBRARY_PICKER).value == "Inbox"
    assert app_store.catalog.names() == ["Inbox"]


def test_libraries_created_and_dropped_in_the_ui_persist_across_restarts(at, app_store, tmp_path, monkeypatch):
    create_library(at, "Empty one")
    create_library(at, "Full one")
    index_texts(app_store, tmp_path / "docs", "Full one", BUNDLED_SMALL, SEED)
    at = restart()
    try:
        assert at.sidebar.selectbox(key=LIBRARY_PICKER).options == ["Empty one", "Full one", "My library"]
        for name in ("Empty one", "Full one"):  # an empty library and one with documents, both from the UI
            at.sidebar.selectbox(key=LIBRARY_PICKER).set_value(name).run()
            open_page(at, LIBRARY)
            assert [t.value for t in at.main.title] == [f":material/library_books: {name}"]
            at.main.text_input(key="drop-confirm").input(name).run()
            by_label(at.main.button, "Drop library").click().run()
            no_exception(at)
            assert name not in at.sidebar.selectbox(key=LIBRARY_PICKER).options
        at = restart()
        assert at.sidebar.selectbox(key=LIBRARY_PICKER).options == ["My library"]
        assert (
            shared.store(load_settings()).libraries()[0].name == "My library"
            and len(shared.store(load_settings()).libraries()) == 1
        )
    finally:
        shared.store(load_settings()).close()


# --- Sidebar ---------------------------------------------------------------------------------------


def test_model_picker_lists_bundled_and_catalog_models_and_shows_the_chosen_models_card(at):
    picker = at.sidebar.selectbox(key=MODEL_PICKER)
    assert picker.value == BUNDLED_DEFAULT  # POTION_DEFAULT_MODEL's default
    assert picker.options[:3] == [
        "minilm-static-256 · 256d · bundled",
        "minilm-static-64 · 64d · bundled",
        "minilm-wordnet-256 · 256d · bundled",
    ]
    assert "potion-base-8M · 256d · download" in picker.options
    assert "potion-retrieval-32M · 512d · download" in picker.options
    assert picker.options[-2:] == ["Other hub id…", "Local directory…"]
    assert {m.label: m.value for m in at.sidebar.metric}["Dimensions"] == "256"

    pick_model(at, BUNDLED_SMALL)
    assert {m.label: m.value for m in at.sidebar.metric} == {"Dimensions": "64", "Parameters": "1.9M"}
    assert any("bundled · minilm-static-64 · available offline" in c for c in values(at.sidebar.caption))
    assert at.session_state[shared.MODEL_KEY] == BUNDLED_SMALL


def test_other_hub_id_asks_for_the_id(at):
    assert labels(at.sidebar.text_input) == ["Name"]  # only the new-library form
    pick_model(at, "Other hub id…")
    assert labels(at.sidebar.text_input) == ["Hub id", "Name"]
    assert not at.sidebar.metric  # nothing typed yet: no card, no model
    assert at.session_state[shared.MODEL_KEY] is None


def test_an_uncached_hub_model_needs_the_hub_and_fails_offline_with_one_line(at):
    pick_model(at, "potion-base-32M")
    assert values(at.sidebar.caption) == [
        "minishlab/potion-base-32M is not cached yet: loading it needs the Hugging Face hub."
    ]
    assert not at.sidebar.error and not at.sidebar.metric  # nothing is loaded before the click

    by_label(at.sidebar.button, "Load model").click().run()
    no_exception(at)
    errors = values(at.sidebar.error)
    assert len(errors) == 1 and "\n" not in errors[0]
    assert errors[0].startswith("minishlab/potion-base-32M is not in the local cache and HF_HUB_OFFLINE is set")
    assert not at.sidebar.metric


def spy_on_downloads(monkeypatch: pytest.MonkeyPatch, then=None) -> list[str]:
    """Record every hub download; fail it, or hand it to `then` (repo id -> folder) to stand in for the hub."""
    from core.embed import loading as models

    calls: list[str] = []

    def download(repo_id: str, settings: object = None):
        calls.append(repo_id)
        if then is None:
            raise AssertionError(f"{repo_id} was downloaded without the Load button")
        return then(repo_id)

    monkeypatch.setattr(models, "_download_hub_snapshot", download)
    return calls


def test_only_the_load_button_downloads_a_model(app_store, tmp_path, monkeypatch, tiny_model_dir):
    from core.embed.loading import clear_model_cache

    monkeypatch.delenv("HF_HUB_OFFLINE")  # the network is allowed: nothing but the click may use it
    cache = load_settings().hub_cache
    downloads = spy_on_downloads(monkeypatch, then=lambda repo: lay_out_hub_cache(cache, repo, tiny_model_dir))
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_LARGE, SEED)
    at = new_app().run()
    pick_model(at, "potion-base-2M")
    for page in (HOME, LIBRARY, COMPARE, SEARCH):  # page bodies never fetch it
        open_page(at, page)
    assert downloads == []
    assert any("potion-base-2M is not downloaded yet: load it from the sidebar" in v for v in values(at.main.info))

    try:
        by_label(at.sidebar.button, "Load model").click().run()
        no_exception(at)
        assert downloads == ["minishlab/potion-base-2M"]
        assert {m.label: m.value for m in at.sidebar.metric}["Dimensions"] == "8"
    finally:
        clear_model_cache()


def test_a_new_library_is_selected_and_the_choices_survive_page_switches(at):
    assert at.sidebar.selectbox(key=LIBRARY_PICKER).options == ["My library"]
    pick_model(at, BUNDLED_SMALL)
    create_library(at, "  Field notes ")
    assert at.sidebar.selectbox(key=LIBRARY_PICKER).value == "Field notes"  # trimmed and selected
    assert at.session_state[shared.LIBRARY_KEY] == "Field notes"

    open_page(at, LIBRARY)
    assert [t.value for t in at.main.title] == [":material/library_books: Field notes"]
    assert at.sidebar.selectbox(key=LIBRARY_PICKER).value == "Field notes"
    assert at.sidebar.selectbox(key=MODEL_PICKER).value == BUNDLED_SMALL

    create_library(at, "Recipes")
    assert at.sidebar.selectbox(key=LIBRARY_PICKER).options == ["Field notes", "My library", "Recipes"]
    assert [t.value for t in at.main.title] == [":material/library_books: Recipes"]

    open_page(at, SEARCH)
    assert at.session_state[shared.LIBRARY_KEY] == "Recipes"
    assert any("**Recipes** has no documents indexed with **minilm-static-64**" in v for v in values(at.main.info))
    at.sidebar.selectbox(key=LIBRARY_PICKER).set_value("Field notes").run()
    open_page(at, HOME)
    assert at.sidebar.selectbox(key=LIBRARY_PICKER).value == "Field notes"
    assert at.sidebar.selectbox(key=MODEL_PICKER).value == BUNDLED_SMALL


def test_libraries_in_the_database_are_listed_and_the_first_is_selected(app_store, tmp_path, monkeypatch):
    index_texts(app_store, tmp_path / "b", "Beta", BUNDLED_SMALL, {"food.txt": FOOD})
    index_texts(app_store, tmp_path / "a", "Alpha", BUNDLED_SMALL, {"food.txt": FOOD})
    at = new_app().run()
    picker = at.sidebar.selectbox(key=LIBRARY_PICKER)
    assert picker.options == ["Alpha", "Beta"] and picker.value == "Alpha"
    assert not at.sidebar.expander[0].proto.expanded  # libraries exist: the "New library" form is folded


def test_a_library_made_in_the_sidebar_survives_a_reload_and_a_restart(at, app_store, monkeypatch):
    create_library(at, "Kept")
    reloaded = new_app().run()  # a browser reload is a new session
    assert reloaded.sidebar.selectbox(key=LIBRARY_PICKER).options == ["Kept", "My library"]
    app_store.close()
    st.cache_resource.clear()  # a restart: the store is opened again from the database
    restarted = new_app().run()
    assert restarted.sidebar.selectbox(key=LIBRARY_PICKER).options == ["Kept", "My library"]
    shared.store(load_settings()).close()


def test_a_database_error_in_a_page_is_one_line_not_a_traceback(app_store, tmp_path, monkeypatch):
    from core.errors import StoreError

    index_texts(app_store, tmp_path / "d", "Lib", BUNDLED_SMALL, SEED)

    def broken(*args, **kwargs):
        raise StoreError("The database could not list documents: boom. Try again.")

    from core.storage.milvus_index import MilvusIndex

    monkeypatch.setattr(MilvusIndex, "documents", broken)
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, SEARCH)
    assert not at.exception
    assert values(at.main.error) == ["The database could not list documents: boom. Try again."]


# --- Library ---------------------------------------------------------------------------------------


def test_loading_the_samples_indexes_them_in_the_background_and_shows_the_outcome(at, app_store, tmp_path, monkeypatch):
    samples = tmp_path / "samples"
    samples.mkdir()
    for name, text in SEED.items():
        (samples / name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("POTION_SAMPLES_DIR", str(samples))
    pick_model(at, BUNDLED_SMALL)
    create_library(at, "Demo")
    open_page(at, LIBRARY)
    assert values(at.main.info) == [
        "This library is empty: upload documents below, or load the sample set to start a demo in seconds."
    ]
    assert not at.main.dataframe

    by_label(at.main.button, "Load sample documents").click().run()
    no_exception(at)
    state = wait_for_job(shared.jobs(), library_job_key("Demo"))
    assert state.status == "done", state.error
    at.run()
    no_exception(at)

    names = [d.name for d in read_path(samples).documents]  # the names core gives files read from a folder
    assert len(names) == 3 and all(n.endswith(f) for n, f in zip(names, SEED))
    (success,) = values(at.main.success)
    assert success.startswith("Indexed in ") and "3 chunks added" in success and "1 failed" not in success, success
    assert not at.main.warning and not at.main.table  # nothing failed: no failure table
    outcome, indexes, documents = (df.value for df in at.main.dataframe)
    assert outcome.to_dict("records") == [
        {"model": BUNDLED_SMALL, "document": name, "status": "indexed", "chunks": 1, "message": ""} for name in names
    ]
    assert indexes[["model", "dims", "documents", "chunks", "vectors", "chunking"]].to_dict("records") == [
        {
            "model": BUNDLED_SMALL,
            "dims": 64,
            "documents": 3,
            "chunks": 3,
            "vectors": "768 bytes",
            "chunking": "{size} {unit}, overlap {overlap}".format(**default_chunking().as_dict()),
        }
    ]
    assert list(documents["document"]) == names
    assert not any(b.label == "Load sample documents" for b in at.main.button)  # no longer empty
    assert app_store.index("Demo", BUNDLED_SMALL).stats().chunks == 3

    by_label(at.main.button, "Dismiss").click().run()
    assert not at.main.success and len(at.main.dataframe) == 2  # the outcome is gone, the stats stay
    assert shared.jobs().get(library_job_key("Demo")) is None


def test_a_failed_indexing_job_says_why_and_can_be_dismissed(at, app_store, tmp_path, monkeypatch):
    downloads = spy_on_downloads(monkeypatch)
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "doc0.txt").write_text(SEED_DOCS[0], encoding="utf-8")
    monkeypatch.setenv("POTION_SAMPLES_DIR", str(samples))
    pick_model(at, "potion-base-32M")  # not cached: a background job must not fetch it
    create_library(at, "Demo")
    open_page(at, LIBRARY)
    by_label(at.main.button, "Load sample documents").click().run()
    assert wait_for_job(shared.jobs(), library_job_key("Demo")).status == "failed"
    at.run()
    no_exception(at)

    (error,) = values(at.main.error)
    assert error == (
        "Indexing stopped: minishlab/potion-base-32M is not downloaded yet: load it from the sidebar "
        "(needs the Hugging Face hub) or pick a bundled model."
    )
    assert downloads == []  # only the sidebar's Load button downloads
    assert not at.main.success and not at.main.dataframe
    assert not by_label(at.main.button, "Load sample documents").disabled  # free to try again with another model
    by_label(at.main.button, "Dismiss").click().run()
    assert not at.main.error and shared.jobs().get(library_job_key("Demo")) is None
    assert [(lib.name, lib.collections) for lib in app_store.libraries()] == [("Demo", []), ("My library", [])]


def test_uploads_are_indexed_with_a_per_file_account(app_store, tmp_path, monkeypatch):
    index_texts(app_store, tmp_path / "seed", "Papers", BUNDLED_SMALL, {"doc0.txt": SEED_DOCS[0]})
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, LIBRARY)
    assert by_label(at.main.button, "Index 0 file(s)").disabled
    assert at.main.multiselect[0].value == [BUNDLED_SMALL]

    at.main.get("file_uploader")[0].set_value(
        [
            ("doc0.txt", SEED_DOCS[0].encode(), "text/plain"),  # the same content as indexed: left as it is
            ("turing.md", f"# Turing\n\n{SEED_DOCS[2]}".encode(), "text/markdown"),
            ("broken.pdf", b"%PDF-1.4 this is not a pdf", "application/pdf"),
        ]
    )
    at.run()
    button = by_label(at.main.button, "Index 3 file(s)")
    assert not button.disabled
    button.click().run()
    no_exception(at)
    assert wait_for_job(shared.jobs(), library_job_key("Papers")).status == "done"
    at.run()
    no_exception(at)

    rows = {r["document"]: r for r in at.main.dataframe[0].value.to_dict("records")}
    assert rows.keys() == {"doc0.txt", "turing.md", "broken.pdf"}
    assert (rows["doc0.txt"]["status"], rows["doc0.txt"]["chunks"]) == ("already present", 1)
    assert (rows["turing.md"]["status"], rows["turing.md"]["chunks"]) == ("indexed", 1)
    assert rows["broken.pdf"]["status"] == "failed" and "broken.pdf" in rows["broken.pdf"]["message"]
    (warning,) = values(at.main.warning)  # a warning, not a success, when a file failed
    assert re.search(r"\b1 failed", warning) and re.search(r"\b1 chunks? added", warning), warning
    assert not at.main.success
    (failures,) = at.main.table  # every failure with its whole message
    assert failures.value.to_dict("records") == [{"document": "broken.pdf", "message": rows["broken.pdf"]["message"]}]
    assert by_label(at.main.button, "Index 0 file(s)").disabled  # the upload box is emptied after indexing
    assert at.main.dataframe[1].value[["documents", "chunks"]].to_dict("records") == [{"documents": 2, "chunks": 2}]
    assert [d.name for d in app_store.index("Papers", BUNDLED_SMALL).documents()] == ["doc0.txt", "turing.md"]


def test_deleting_a_document_removes_it_from_every_index_and_the_list(app_store, tmp_path, monkeypatch):
    for model in (BUNDLED_SMALL, BUNDLED_LARGE):
        index_texts(app_store, tmp_path / "seed", "Papers", model, SEED)
    at = new_app().run()
    open_page(at, LIBRARY)
    delete = by_label(at.main.button, "Delete")
    assert delete.disabled  # nothing picked yet
    assert list(at.main.dataframe[1].value["document"]) == list(SEED)

    by_label(at.main.selectbox, "Delete a document").set_value("doc1.txt").run()
    by_label(at.main.button, "Delete").click().run()
    no_exception(at)

    assert values(at.toast) == ["Deleted doc1.txt from every index of Papers."]
    assert list(at.main.dataframe[1].value["document"]) == ["doc0.txt", "doc2.txt"]
    assert at.main.dataframe[0].value[["model", "documents"]].to_dict("records") == [
        {"model": BUNDLED_LARGE, "documents": 2},
        {"model": BUNDLED_SMALL, "documents": 2},
    ]
    for model in (BUNDLED_SMALL, BUNDLED_LARGE):
        assert [d.name for d in app_store.index("Papers", model).documents()] == ["doc0.txt", "doc2.txt"]


def test_dropping_a_library_needs_its_name_typed(app_store, tmp_path, monkeypatch):
    index_texts(app_store, tmp_path / "seed", "Papers", BUNDLED_LARGE, SEED)
    index_texts(app_store, tmp_path / "seed", "Keep", BUNDLED_LARGE, {"food.txt": FOOD})
    at = new_app().run()
    at.sidebar.selectbox(key=LIBRARY_PICKER).set_value("Papers").run()
    open_page(at, LIBRARY)
    assert by_label(at.main.button, "Drop library").disabled

    at.main.text_input(key="drop-confirm").input("papers").run()  # close is not enough
    assert by_label(at.main.button, "Drop library").disabled
    assert {lib.name for lib in app_store.libraries()} == {"Keep", "Papers"}

    at.main.text_input(key="drop-confirm").input("Papers").run()
    drop = by_label(at.main.button, "Drop library")
    assert not drop.disabled
    drop.click().run()
    no_exception(at)

    assert [lib.name for lib in app_store.libraries()] == ["Keep"]
    assert at.sidebar.selectbox(key=LIBRARY_PICKER).options == ["Keep"]
    assert at.sidebar.selectbox(key=LIBRARY_PICKER).value == "Keep"
    assert [t.value for t in at.main.title] == [":material/library_books: Keep"]


# --- Search ----------------------------------------------------------------------------------------


def test_search_in_the_empty_default_library_points_to_the_library_page(at):
    open_page(at, SEARCH)
    assert values(at.main.info) == [
        f"**My library** has no documents indexed with **{BUNDLED_DEFAULT}** yet: add some on the Library page."
    ]
    assert not at.main.text_input


def test_search_in_a_library_not_indexed_with_the_current_model_says_so(app_store, tmp_path, monkeypatch):
    index_texts(app_store, tmp_path / "seed", "Papers", BUNDLED_SMALL, SEED)
    at = new_app().run()  # the default model is the 256-dim one
    open_page(at, SEARCH)
    assert values(at.main.info) == [
        f"**Papers** has no documents indexed with **{BUNDLED_DEFAULT}** yet: add some on the Library page."
    ]
    (link,) = at.main.get("page_link")
    assert link.label == "Go to Library" and link.proto.page.endswith("library")
    assert not at.main.text_input

    pick_model(at, BUNDLED_SMALL)
    assert not at.main.info and [t.label for t in at.main.text_input] == ["Query"]


@pytest.mark.parametrize(("model", "dim", "top_k"), [(BUNDLED_LARGE, 256, 3), (BUNDLED_SMALL, 64, 2)])
def test_search_shows_top_k_hits_with_scores_dims_highlights_and_downloads(
    app_store, tmp_path, monkeypatch, model, dim, top_k
):
    docs = {**SEED, "turing.txt": HOSTILE, "food.txt": FOOD}
    index_texts(app_store, tmp_path / "docs", "Papers", model, docs)
    at = new_app().run()
    pick_model(at, model)
    open_page(at, SEARCH)
    assert [t.value for t in at.main.title] == [":material/search: Search"]
    assert not hit_headers(at) and not at.main.download_button  # nothing before a query

    query = "Where was Alan Turing born?"
    at.main.text_input(key="search_query").input(query)
    at.main.slider(key="search_top_k").set_value(top_k)
    at.main.button(key=SEARCH_SUBMIT).click().run()
    no_exception(at)

    expected = search(query, "Papers", load_embedder(model), app_store, top_k)
    headers = hit_headers(at)
    assert len(headers) == top_k == len(expected.hits)
    for header, hit in zip(headers, expected.hits):
        assert header == f"**#{hit.rank}** · score **{hit.score:.3f}** · chunk {hit.chunk}"
    assert values(at.main.text) == [hit.document for hit in expected.hits]
    assert "turing.txt" in values(at.main.text)
    metrics = {m.label: m.value for m in at.main.metric}
    assert (metrics["Query vector"], metrics["Document vectors"]) == (f"{dim} dims", f"{dim} dims")
    assert re.fullmatch(r"[\d.]+ ms", metrics["Encode"]) and re.fullmatch(r"[\d.]+ ms", metrics["Search"])

    chunks = values(at.main.html)
    assert len(chunks) == top_k
    assert all("<mark" in chunk for chunk in chunks)
    hostile = chunks[values(at.main.text).index("turing.txt")]
    assert "<script>" not in hostile and "<strong>" not in hostile
    inner = re.fullmatch(r'<div class="chunk-text"[^>]*>(.*)</div>', hostile, re.S).group(1)
    assert re.sub(r"</?mark[^>]*>", "", inner) == html.escape(HOSTILE)  # every character escaped, none dropped
    assert "&lt;" in inner and "**bold**" in inner  # markup and markdown shown literally
    assert re.search(r"<mark[^>]*>Turing</mark>", inner)
    assert any(c.startswith("Why it matched — words adding most to the score:") for c in values(at.main.caption))

    assert labels(at.main.download_button) == ["Download hits (CSV)", "Download hits (JSON)"]


def test_a_submitted_query_is_searched_and_explained_once_not_on_every_rerun(app_store, tmp_path, monkeypatch):
    import core.search.answer

    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, SEED)
    calls = {"search": 0, "explain": 0}
    real_search, real_explain = core.search.answer.search, core.search.answer.explain_matches

    def counted(name, real):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(core.search.answer, "search", counted("search", real_search))
    monkeypatch.setattr(core.search.answer, "explain_matches", counted("explain", real_explain))
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, SEARCH)
    at.main.text_input(key="search_query").input("Alan Turing")
    at.main.button(key=SEARCH_SUBMIT).click().run()
    no_exception(at)
    shown = hit_headers(at)
    assert shown and calls == {"search": 1, "explain": 1}
    at.run()  # any rerun: a download click, a sidebar widget
    at.run()
    assert hit_headers(at) == shown and calls == {"search": 1, "explain": 1}
    at.main.slider(key="search_top_k").set_value(2)
    at.main.button(key=SEARCH_SUBMIT).click().run()  # a new submission searches again
    assert len(hit_headers(at)) == 2 and calls == {"search": 2, "explain": 2}


def test_a_search_can_be_limited_to_one_document(app_store, tmp_path, monkeypatch):
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, {**SEED, "food.txt": FOOD})
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, SEARCH)
    assert at.main.selectbox(key="search_doc").options == ["doc0.txt", "doc1.txt", "doc2.txt", "food.txt"]
    at.main.text_input(key="search_query").input("Alan Turing")
    at.main.selectbox(key="search_doc").set_value("food.txt")
    at.main.button(key=SEARCH_SUBMIT).click().run()
    no_exception(at)
    assert values(at.main.text) == ["food.txt"]  # the only chunk of that document, however weak a match


MODES_DOCS = {
    **SEED,
    "turing.txt": HOSTILE,
    "food.txt": FOOD,
    "bread.txt": "Bread rises when yeast ferments the flour; the oven bakes the loaf.",
}


def search_in_mode(at, query: str, top_k: int, mode: str, fusion: str | None = None, weight: float | None = None):
    """Pick the mode (and fusion, weight) on the Search page, then submit the query."""
    at.main.radio(key="search_mode").set_value(mode).run()
    if fusion is not None:
        at.main.radio(key="search_fusion").set_value(fusion).run()
    if weight is not None:
        at.main.slider(key="search_weight").set_value(weight).run()
    at.main.text_input(key="search_query").input(query)
    at.main.slider(key="search_top_k").set_value(top_k)
    at.main.button(key=SEARCH_SUBMIT).click().run()
    no_exception(at)


@pytest.mark.parametrize(
    ("mode", "fusion", "weight"),
    [("dense", None, None), ("keyword", None, None), ("hybrid", "rrf", None), ("hybrid", "weighted", 0.3)],
)
def test_search_in_each_mode_shows_the_modes_hits_with_their_component_scores(
    app_store, tmp_path, monkeypatch, mode, fusion, weight
):
    from core.types import Fusion, HybridParams, SearchMode

    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, MODES_DOCS)
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, SEARCH)
    assert at.main.radio(key="search_mode").value == "dense"
    assert not at.main.get("radio")[1:] and not [s for s in at.main.slider if s.key == "search_weight"]
    query, top_k = "bread flour from the kitchen", 3
    search_in_mode(at, query, top_k, mode, fusion, weight)

    params = HybridParams(Fusion(fusion), weight if weight is not None else 0.5) if fusion else None
    expected = search(
        query, "Papers", load_embedder(BUNDLED_SMALL), app_store, top_k, mode=SearchMode(mode), params=params
    )
    assert expected.hits
    digits = 4 if fusion == "rrf" else 3
    assert hit_headers(at) == [
        f"**#{h.rank}** · score **{h.score:.{digits}f}** · chunk {h.chunk}" for h in expected.hits
    ]
    assert values(at.main.text) == [h.document for h in expected.hits]

    def shown(value):
        return "—" if value is None else f"{value:.3f}"

    components = [c for c in values(at.main.caption) if c.startswith("cosine ")]
    assert components == [f"cosine {shown(h.dense_score)} · BM25 {shown(h.keyword_score)}" for h in expected.hits]
    if mode == "dense":
        assert all(h.keyword_score is None for h in expected.hits) and all(c.endswith("BM25 —") for c in components)
    if mode == "keyword":
        assert all(c.startswith("cosine —") for c in components)
    if mode == "hybrid":  # the dense ranking reaches every chunk of this small library, BM25 those with a query word
        assert not any(c.startswith("cosine —") for c in components)
        assert {h.keyword_score is None for h in expected.hits} == {True, False}
        assert {c.endswith("BM25 —") for c in components} == {True, False}
    bm25_note = any(c.startswith("Keyword shares are computed from the chunk's text") for c in values(at.main.caption))
    assert bm25_note == (mode != "dense")
    assert labels(at.main.download_button) == ["Download hits (CSV)", "Download hits (JSON)"]


def test_hybrid_weighted_with_weight_one_ranks_like_dense(app_store, tmp_path, monkeypatch):
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, MODES_DOCS)
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, SEARCH)
    query, top_k = "Where was Alan Turing born?", 4
    search_in_mode(at, query, top_k, "hybrid", "weighted", 1.0)
    hybrid_docs = values(at.main.text)
    dense = search(query, "Papers", load_embedder(BUNDLED_SMALL), app_store, top_k)
    assert hybrid_docs == [h.document for h in dense.hits]
    # and the weight matters: all keyword, the ranking is BM25's
    search_in_mode(at, query, top_k, "hybrid", "weighted", 0.0)
    from core.types import SearchMode

    keyword = search(query, "Papers", load_embedder(BUNDLED_SMALL), app_store, top_k, mode=SearchMode.KEYWORD)
    assert values(at.main.text)[: len(keyword.hits)] == [h.document for h in keyword.hits]


def test_changing_mode_fusion_or_weight_searches_again_and_reruns_do_not(app_store, tmp_path, monkeypatch):
    import core.search.answer

    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, MODES_DOCS)
    calls = []
    real_search = core.search.answer.search

    def counted(*args, **kwargs):
        calls.append((kwargs.get("mode"), kwargs.get("params")))
        return real_search(*args, **kwargs)

    monkeypatch.setattr(core.search.answer, "search", counted)
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, SEARCH)
    search_in_mode(at, "bread flour", 3, "keyword")
    assert len(calls) == 1
    at.run()
    assert len(calls) == 1  # kept
    at.main.radio(key="search_mode").set_value("hybrid").run()
    assert len(calls) == 2 and calls[-1][0] == "hybrid" and calls[-1][1].fusion == "rrf"
    at.main.radio(key="search_fusion").set_value("weighted").run()
    assert len(calls) == 3 and calls[-1][1].fusion == "weighted" and calls[-1][1].weight == 0.5
    at.main.slider(key="search_weight").set_value(0.8).run()
    assert len(calls) == 4 and calls[-1][1].weight == 0.8
    at.run()
    assert len(calls) == 4


def test_the_csv_download_carries_the_mode_and_both_component_scores(app_store, tmp_path, monkeypatch):
    import csv
    import io

    import core.search.export

    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, MODES_DOCS)
    offered: list[bytes] = []
    real = core.search.export.hits_to_csv

    def recorded(*args, **kwargs):
        offered.append(real(*args, **kwargs))
        return offered[-1]

    monkeypatch.setattr(core.search.export, "hits_to_csv", recorded)
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, SEARCH)
    search_in_mode(at, "bread flour from the kitchen", 4, "hybrid", "rrf")
    rows = list(csv.DictReader(io.StringIO(offered[-1].decode("utf-8"), newline="")))
    assert len(rows) == len(hit_headers(at)) == 4
    assert {r["mode"] for r in rows} == {"hybrid"}
    assert all(float(r["dense_score"]) > 0 for r in rows)
    assert {r["keyword_score"] == "" for r in rows} == {True, False}  # a missing component is an empty cell


def test_bm25_statistics_are_counted_once_per_library_and_again_when_its_documents_change(
    app_store, tmp_path, monkeypatch
):
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, MODES_DOCS)
    reads = []
    from core.storage.milvus_index import MilvusIndex

    real = MilvusIndex.chunk_rows

    def counted(index):
        reads.append((index.library, index.model_name))
        return real(index)

    monkeypatch.setattr(MilvusIndex, "chunk_rows", counted)
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, SEARCH)
    search_in_mode(at, "bread flour", 3, "keyword")
    search_in_mode(at, "yeast in the kitchen", 3, "hybrid", "rrf")
    assert reads == [("Papers", BUNDLED_SMALL)]
    (first,) = [t.value for t in at.main.dataframe if "query term" in t.value.columns][:1]
    assert first.set_index("query term").loc["yeast", "chunks with it"] == 1

    index_texts(app_store, tmp_path / "more", "Papers", BUNDLED_SMALL, {"yeast.txt": "Fresh yeast keeps a week."})
    search_in_mode(at, "yeast in the kitchen", 3, "keyword")
    assert len(reads) == 2  # a new document: counted again
    tables = [t.value.set_index("query term") for t in at.main.dataframe if "query term" in t.value.columns]
    assert {t.loc["yeast", "chunks with it"] for t in tables} == {2}


def test_why_a_keyword_hit_matched_lists_each_query_terms_share(app_store, tmp_path, monkeypatch):
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, MODES_DOCS)
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, SEARCH)
    search_in_mode(at, "baking bread with yeast", 2, "keyword")
    tables = [t.value for t in at.main.dataframe if "query term" in t.value.columns]
    assert len(tables) == len(hit_headers(at)) == 2
    for table in tables:
        # "with" is an English stop word; the rest are stemmed as the engine's "english" analyzer stems them
        assert list(table["query term"]) == ["bake", "bread", "yeast"]
        assert list(table["query words"]) == ["baking", "bread", "yeast"]
    top = tables[0].set_index("query term")
    assert top.loc["yeast", "in chunk"] == 1 and top.loc["bread", "in chunk"] == 1
    assert top.loc["yeast", "BM25 part"] > 0 and top.loc["bread", "BM25 part"] > 0
    shares = [c for c in values(at.main.caption) if c.startswith("Why it matched — query terms' shares")]
    assert len(shares) == 2 and "yeast" in shares[0] and "bread" in shares[0]
    coverage = [t.value for t in at.main.dataframe if "unknown to the model" in t.value.columns]
    assert len(coverage) == 2 and list(coverage[0]["text"]) == ["query", "chunk"]


# --- Compare ---------------------------------------------------------------------------------------


def agreement_rows(at) -> list[dict]:
    """The agreement table's rows, whether the page shows it with st.table or st.dataframe."""
    tables = [*at.main.table, *at.main.dataframe]
    assert len(tables) <= 1, "one agreement table at most"
    return tables[0].value.to_dict("records") if tables else []


def test_compare_without_documents_says_what_to_do(at):
    create_library(at, "Empty")
    open_page(at, COMPARE)
    assert values(at.main.info) == [
        "**Empty** has no documents yet: add some on the Library page, then compare models here."
    ]
    assert not at.main.multiselect


def test_compare_two_indexed_models_side_by_side_with_their_agreement(app_store, tmp_path, monkeypatch):
    docs = {**SEED, "turing.txt": HOSTILE, "food.txt": FOOD}
    for model in (BUNDLED_LARGE, BUNDLED_SMALL):
        index_texts(app_store, tmp_path / "docs", "Papers", model, docs)
    at = new_app().run()
    open_page(at, COMPARE)
    picker = at.main.multiselect(key="compare_models")
    assert picker.value == [BUNDLED_LARGE, BUNDLED_SMALL]  # the library's indexed models by default

    query, top_k = "When was artificial intelligence founded", 3
    at.main.text_input(key="compare_query").input(query)
    at.main.slider(key="compare_top_k").set_value(top_k)
    at.main.button(key=COMPARE_SUBMIT).click().run()
    no_exception(at)

    columns = [c for c in at.main.columns if c.subheader]
    assert [c.subheader[0].value for c in columns] == [BUNDLED_LARGE, BUNDLED_SMALL]
    rankings = {}
    for column, (model, dim) in zip(columns, [(BUNDLED_LARGE, 256), (BUNDLED_SMALL, 64)]):
        expected = search(query, "Papers", load_embedder(model), app_store, top_k)
        assert len(column.markdown) == top_k
        assert [m.value for m in column.markdown] == [
            f"**#{h.rank}** · {h.score:.3f} · chunk {h.chunk}" for h in expected.hits
        ]
        assert values(column.text)[::2] == [h.document for h in expected.hits]
        assert f"query {dim}d · docs {dim}d" in values(column.caption)[1]
        rankings[model] = document_ranking(expected.hits)

    (pair,) = agreement_matrix(rankings, top_k)
    assert [s.value for s in at.main.subheader][-1] == "Agreement"
    (row,) = agreement_rows(at)
    assert list(row) == ["models", f"top-{top_k} overlap", "rank-biased overlap"]
    assert row["models"] == f"{BUNDLED_LARGE} ↔ {BUNDLED_SMALL}" == f"{pair.model_a} ↔ {pair.model_b}"
    assert float(row[f"top-{top_k} overlap"]) == pytest.approx(pair.overlap, abs=0.005)
    assert float(row["rank-biased overlap"]) == pytest.approx(pair.rbo, abs=0.005)
    assert 0 < pair.overlap <= 1 and 0 < pair.rbo <= 1


def test_compare_with_the_bm25_baseline_column_ranks_it_by_keywords_and_agrees_over_all_columns(
    app_store, tmp_path, monkeypatch
):
    from core.types import SearchMode

    for model in (BUNDLED_LARGE, BUNDLED_SMALL):
        index_texts(app_store, tmp_path / "docs", "Papers", model, MODES_DOCS)
    at = new_app().run()
    open_page(at, COMPARE)
    at.main.checkbox(key="compare_bm25").check().run()
    query, top_k = "bread flour from the kitchen", 3
    at.main.text_input(key="compare_query").input(query)
    at.main.slider(key="compare_top_k").set_value(top_k)
    at.main.button(key=COMPARE_SUBMIT).click().run()
    no_exception(at)

    columns = [c for c in at.main.columns if c.subheader]
    assert [c.subheader[0].value for c in columns] == [BUNDLED_LARGE, BUNDLED_SMALL, "BM25"]
    keyword = search(query, "Papers", load_embedder(BUNDLED_SMALL), app_store, top_k, mode=SearchMode.KEYWORD)
    assert keyword.hits
    bm25 = columns[2]
    assert [m.value for m in bm25.markdown] == [
        f"**#{h.rank}** · {h.score:.3f} · chunk {h.chunk}" for h in keyword.hits
    ]
    assert values(bm25.text)[::2] == [h.document for h in keyword.hits]
    assert values(bm25.caption)[0].startswith("keyword baseline · english analyzer")
    dense = search(query, "Papers", load_embedder(BUNDLED_LARGE), app_store, top_k)
    assert [m.value for m in columns[0].markdown] == [
        f"**#{h.rank}** · {h.score:.3f} · chunk {h.chunk}" for h in dense.hits
    ]

    rows = agreement_rows(at)
    assert [r["models"] for r in rows] == [
        f"{BUNDLED_LARGE} ↔ {BUNDLED_SMALL}",
        f"{BUNDLED_LARGE} ↔ BM25",
        f"{BUNDLED_SMALL} ↔ BM25",
    ]
    expected = agreement_matrix(
        {BUNDLED_LARGE: document_ranking(dense.hits), "BM25": document_ranking(keyword.hits)}, top_k
    )
    assert float(rows[1][f"top-{top_k} overlap"]) == pytest.approx(expected[0].overlap, abs=0.005)
    assert float(rows[1]["rank-biased overlap"]) == pytest.approx(expected[0].rbo, abs=0.005)


def test_the_compare_mode_applies_to_every_model_column(app_store, tmp_path, monkeypatch):
    from core.types import Fusion, HybridParams, SearchMode

    for model in (BUNDLED_LARGE, BUNDLED_SMALL):
        index_texts(app_store, tmp_path / "docs", "Papers", model, MODES_DOCS)
    at = new_app().run()
    open_page(at, COMPARE)
    assert not [r for r in at.main.radio if r.key == "compare_fusion"]
    at.main.radio(key="compare_mode").set_value("hybrid").run()
    at.main.radio(key="compare_fusion").set_value("weighted").run()
    at.main.slider(key="compare_weight").set_value(0.25).run()
    query, top_k = "Where was Alan Turing born?", 3
    at.main.text_input(key="compare_query").input(query)
    at.main.slider(key="compare_top_k").set_value(top_k)
    at.main.button(key=COMPARE_SUBMIT).click().run()
    no_exception(at)
    columns = [c for c in at.main.columns if c.subheader]
    assert len(columns) == 2  # no baseline unless asked for
    params = HybridParams(Fusion.WEIGHTED, 0.25)
    for column, model in zip(columns, (BUNDLED_LARGE, BUNDLED_SMALL)):
        expected = search(
            query, "Papers", load_embedder(model), app_store, top_k, mode=SearchMode.HYBRID, params=params
        )
        assert [m.value for m in column.markdown] == [
            f"**#{h.rank}** · {h.score:.3f} · chunk {h.chunk}" for h in expected.hits
        ]
        assert [c for c in values(column.caption) if c.startswith("cosine ")] == [
            f"cosine {h.dense_score:.3f} · BM25 {'—' if h.keyword_score is None else f'{h.keyword_score:.3f}'}"
            for h in expected.hits
        ]


def test_compare_indexes_a_missing_model_from_the_store_in_the_background(app_store, tmp_path, monkeypatch):
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_LARGE, SEED)
    at = new_app().run()
    open_page(at, COMPARE)
    assert at.main.multiselect(key="compare_models").value == [BUNDLED_LARGE, BUNDLED_SMALL]
    at.main.text_input(key="compare_query").input("Where was Alan Turing born?")
    at.main.button(key=COMPARE_SUBMIT).click().run()
    no_exception(at)

    large, small = (c for c in at.main.columns if c.subheader)
    assert len(large.markdown) == 3 and not small.markdown
    assert values(small.info) == ["Not indexed for Papers yet."]
    assert not agreement_rows(at)  # one ranking only: no agreement yet

    by_label(small.button, "Index Papers with minilm-static-64").click().run()
    no_exception(at)
    state = wait_for_job(shared.jobs(), library_job_key("Papers"))
    assert state.status == "done", state.error
    assert state.result.count("indexed") == 3
    at.run()
    no_exception(at)

    large, small = (c for c in at.main.columns if c.subheader)
    assert not small.info and not small.button
    assert len(small.markdown) == 3 and set(values(small.text)[::2]) == set(SEED)
    assert app_store.index("Papers", BUNDLED_SMALL).stats().documents == 3
    assert len(agreement_rows(at)) == 1  # both rank now: one pair in the agreement table


def test_compare_needs_two_models(app_store, tmp_path, monkeypatch):
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_LARGE, SEED)
    at = new_app().run()
    open_page(at, COMPARE)
    at.main.multiselect(key="compare_models").set_value([BUNDLED_LARGE]).run()
    no_exception(at)
    assert values(at.main.info) == ["Pick at least two models to compare."]
    assert not [c for c in at.main.columns if c.subheader]


# --- Jobs across pages -----------------------------------------------------------------------------


@pytest.fixture
def blocked_jobs(monkeypatch):
    """Library indexing and Compare's re-indexing replaced by work that waits on `gate` once `started` is set."""
    import core.ingest.pipeline
    import core.ingest.reindex

    gate, started = threading.Event(), threading.Event()

    def blocked(*args, **kwargs):
        started.set()
        gate.wait(timeout=JOB_TIMEOUT)
        return []

    monkeypatch.setattr(core.ingest.pipeline, "ingest_with_models", blocked)  # the pages import them on every run
    monkeypatch.setattr(core.ingest.reindex, "index_like", blocked)
    yield gate, started
    gate.set()
    join_all_jobs()


def progress_texts(at) -> list[str]:
    return [p.proto.text for p in at.main.get("progress")]


def test_a_job_started_on_compare_is_shown_on_library_and_locks_its_changes(
    app_store, tmp_path, monkeypatch, blocked_jobs
):
    gate, started = blocked_jobs
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_LARGE, SEED)
    compare = new_app().run()
    open_page(compare, COMPARE)
    by_label(compare.main.button, "Index Papers with minilm-static-64").click().run()
    no_exception(compare)
    assert started.wait(timeout=JOB_TIMEOUT)

    library = new_app().run()  # another session, on the Library page
    open_page(library, LIBRARY)
    library.main.text_input(key="drop-confirm").input("Papers").run()
    (text,) = progress_texts(library)
    assert "Indexing Papers with minilm-static-64 (Compare)" in text
    assert by_label(library.main.button, "Drop library").disabled  # typed, but a job writes to the library
    assert library.main.get("file_uploader")[0].proto.disabled

    gate.set()
    assert wait_for_job(shared.jobs(), library_job_key("Papers")).status == "done"
    library.run()
    assert not progress_texts(library) and not by_label(library.main.button, "Drop library").disabled
    assert not library.main.get("file_uploader")[0].proto.disabled


def test_a_job_started_on_library_is_shown_on_compare_which_starts_none(app_store, tmp_path, monkeypatch, blocked_jobs):
    gate, started = blocked_jobs
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_LARGE, SEED)
    library = new_app().run()
    open_page(library, LIBRARY)
    library.main.get("file_uploader")[0].set_value([("food.txt", FOOD.encode(), "text/plain")])
    library.run()
    by_label(library.main.button, "Index 1 file(s)").click().run()
    no_exception(library)
    assert started.wait(timeout=JOB_TIMEOUT)
    job = shared.jobs().get(library_job_key("Papers"))

    compare = new_app().run()
    open_page(compare, COMPARE)
    (text,) = progress_texts(compare)
    assert f"Indexing 1 file(s) with {BUNDLED_DEFAULT}" in text
    assert by_label(compare.main.button, "Index Papers with minilm-static-64").disabled
    assert shared.jobs().get(library_job_key("Papers")).id == job.id  # still the one job


def test_a_drop_racing_a_job_is_refused_with_a_message(app_store, tmp_path, monkeypatch, blocked_jobs):
    gate, started = blocked_jobs
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_LARGE, SEED)
    at = new_app().run()
    open_page(at, LIBRARY)
    at.main.text_input(key="drop-confirm").input("Papers").run()
    runner = shared.jobs()
    runner.start(library_job_key("Papers"), "Indexing from elsewhere", lambda progress: gate.wait(JOB_TIMEOUT))
    # The page drew its buttons before the job started (as a second session would have): core must refuse.
    monkeypatch.setattr(runner, "busy", lambda key: None)
    by_label(at.main.button, "Drop library").click().run()
    no_exception(at)
    assert values(at.main.error) == [
        "Cannot drop library Papers: Indexing from elsewhere is still running; try again when it has finished."
    ]
    assert app_store.catalog.names() == ["Papers"] and app_store.index("Papers", BUNDLED_LARGE).stats().documents == 3


def test_a_rebuild_runs_as_a_background_job_with_progress_and_says_when_it_is_done(app_store, tmp_path, monkeypatch):
    from dataclasses import replace

    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_LARGE, SEED)
    gate, started, legacy = threading.Event(), threading.Event(), [True]
    from core.storage.milvus_index import MilvusIndex

    real_stats, real_rebuild = app_store.library_stats, MilvusIndex.rebuild

    def stats(library):  # the index as an older version made it: no keyword search until rebuilt
        found = real_stats(library)
        return [replace(c, meta=replace(c.meta, analyzer="")) for c in found] if legacy[0] else found

    def rebuild(index, progress=None):
        progress("rebuild", 1, 3)
        started.set()
        gate.wait(timeout=JOB_TIMEOUT)
        progress("rebuild", 3, 3)
        legacy[0] = False
        return real_rebuild(index, progress)

    monkeypatch.setattr(app_store, "library_stats", stats)
    monkeypatch.setattr(MilvusIndex, "rebuild", rebuild)
    at = new_app().run()
    open_page(at, LIBRARY)
    by_label(at.main.button, f"Rebuild {BUNDLED_LARGE} with keyword search").click().run()  # returns at once
    no_exception(at)
    assert started.wait(timeout=JOB_TIMEOUT)
    at.main.text_input(key="drop-confirm").input("Papers").run()
    (text,) = progress_texts(at)
    assert f"Rebuilding {BUNDLED_LARGE} in Papers with keyword search" in text and "rebuild: 1/3" in text
    assert by_label(at.main.button, "Drop library").disabled  # the rebuild holds the library like any job
    assert by_label(at.main.button, f"Rebuild {BUNDLED_LARGE} with keyword search").disabled

    gate.set()
    assert wait_for_job(shared.jobs(), library_job_key("Papers")).status == "done"
    at.run()
    no_exception(at)
    assert not progress_texts(at)
    (done,) = values(at.main.success)
    assert done.startswith(f"Rebuilt {BUNDLED_LARGE} in ") and "keyword search with the" in done
    assert f"Rebuild {BUNDLED_LARGE} with keyword search" not in labels(at.main.button)


def test_the_bm25_baseline_column_loads_no_model(app_store, tmp_path, monkeypatch, tiny_model_dir):
    index_texts(app_store, tmp_path / "docs", "Papers", str(tiny_model_dir), SEED)  # the only index: a model of its own
    loaded = []
    real = shared.load_embedder

    def spy(name, *args, **kwargs):
        loaded.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(shared, "load_embedder", spy)
    at = new_app().run()
    at.session_state["compare_models"] = [BUNDLED_LARGE, BUNDLED_SMALL]  # neither indexed: columns offer indexing
    open_page(at, COMPARE)
    at.main.checkbox(key="compare_bm25").check().run()
    at.main.text_input(key="compare_query").input("Where was Alan Turing born?")
    at.main.button(key=COMPARE_SUBMIT).click().run()
    no_exception(at)
    baseline = next(c for c in at.main.columns if [s.value for s in c.subheader] == ["BM25"])
    assert baseline.markdown and set(values(baseline.text)[::2]) <= set(SEED)
    assert str(tiny_model_dir) not in loaded  # its index was searched by keywords, its model never loaded


# --- Known page bugs ---------------------------------------------------------------------------------


def test_every_run_goes_through_app_py_even_in_streamlits_legacy_pages_mode(app_store):
    # Started from the repository, AppTest re-enters the legacy pages/ mode on every run, as a fresh server does
    # on its first request: a deep link then runs the page file alone, which sends itself through app.py.
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT).run()
    assert at.sidebar.selectbox(key=MODEL_PICKER)
    at.run()  # the second run of a session, as after any click
    assert at.sidebar.selectbox(key=MODEL_PICKER).value == BUNDLED_DEFAULT
    at.switch_page(SEARCH).run()  # a deep link to a page: Streamlit runs pages/search.py alone
    no_exception(at)
    assert at.sidebar.selectbox(key=MODEL_PICKER).value == BUNDLED_DEFAULT  # with the frame around it


def test_a_default_model_given_as_a_local_directory_is_the_starting_model(app_store, monkeypatch, tiny_model_dir):
    monkeypatch.setenv("POTION_DEFAULT_MODEL", str(tiny_model_dir))
    at = new_app().run()
    no_exception(at)
    assert at.session_state[shared.MODEL_KEY] == str(tiny_model_dir)


def test_a_model_loaded_from_the_hub_keeps_its_card_on_the_next_rerun(app_store, monkeypatch, tiny_model_dir):
    at = new_app().run()
    pick_model(at, "potion-base-2M")
    assert labels(at.sidebar.button) == ["Load model", "Create"]
    lay_out_hub_cache(load_settings().hub_cache, "minishlab/potion-base-2M", tiny_model_dir)  # as the download
    by_label(at.sidebar.button, "Load model").click().run()
    assert {m.label: m.value for m in at.sidebar.metric}["Dimensions"] == "8"  # loaded from the cache just filled
    at.run()  # any later click anywhere
    assert {m.label: m.value for m in at.sidebar.metric}.get("Dimensions") == "8"
    assert "Load model" not in labels(at.sidebar.button)
