"""The Streamlit pages through AppTest: main paths and empty states, real bundled models, real Milvus Lite."""

from __future__ import annotations

import html
import re

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.agreement import agreement_matrix, document_ranking
from core.config import load_settings
from core.documents import read_path
from core.ingest import default_chunking
from core.models import load_embedder
from core.search import search
from pages import shared
from tests.apptest_helpers import (
    APP,
    COMPARE,
    COMPARE_SUBMIT,
    HOME,
    LIBRARY,
    LIBRARY_PICKER,
    MODEL_PICKER,
    RUN_TIMEOUT,
    SEARCH,
    SEARCH_SUBMIT,
    by_label,
    create_library,
    hit_headers,
    index_texts,
    join_all_jobs,
    labels,
    new_app,
    no_exception,
    open_page,
    pick_model,
    values,
    wait_for_job,
)
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL, SEED_DOCS, lay_out_hub_cache

SEED = {f"doc{i}.txt": text for i, text in enumerate(SEED_DOCS)}
HOSTILE = "<script>alert(1)</script> **bold** about Alan Turing born in London"
FOOD = "Bake the bread with flour, then serve it with cheese and soup from the kitchen."


@pytest.fixture
def store(isolated_env):
    """Overrides conftest's: the store the pages use (st.cache_resource) on this test's tmp database, closed after.

    Tests pre-populate it through core; AppTest runs the script in this process and gets this very instance."""
    st.cache_resource.clear()  # a store, job runner or listing left by another test points at its tmp dir
    st.cache_data.clear()
    store = shared.store()
    assert store.uri == str(isolated_env / "test.db")
    yield store
    join_all_jobs()
    store.close()
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def at(store, monkeypatch):
    app = new_app(monkeypatch)
    app.run()
    no_exception(app)
    return app


# --- Home ------------------------------------------------------------------------------------------


def test_home_with_an_empty_database_shows_the_title_metrics_and_where_to_start(at):
    assert [t.value for t in at.main.title] == [":material/science: Potion Search"]
    metrics = {m.label: m.value for m in at.main.metric}
    assert metrics == {"Libraries": "0", "Indexed chunks": "0", "Bundled models": "2"}
    assert any(v.startswith("No library yet") for v in values(at.main.info))


def test_home_counts_libraries_and_chunks_across_models(store, tmp_path, monkeypatch):
    index_texts(store, tmp_path / "a", "Alpha", BUNDLED_SMALL, SEED)
    index_texts(store, tmp_path / "a", "Alpha", BUNDLED_LARGE, SEED)
    index_texts(store, tmp_path / "b", "Beta", BUNDLED_SMALL, {"food.txt": FOOD})
    at = new_app(monkeypatch).run()
    no_exception(at)
    metrics = {m.label: m.value for m in at.main.metric}
    assert metrics == {"Libraries": "2", "Indexed chunks": "7", "Bundled models": "2"}
    assert not any(v.startswith("No library yet") for v in values(at.main.info))


# --- Sidebar ---------------------------------------------------------------------------------------


def test_model_picker_lists_bundled_and_catalog_models_and_shows_the_chosen_models_card(at):
    picker = at.sidebar.selectbox(key=MODEL_PICKER)
    assert picker.value == BUNDLED_LARGE  # POTION_DEFAULT_MODEL's default
    assert picker.options[:2] == ["minilm-static-256 · 256d · bundled", "minilm-static-64 · 64d · bundled"]
    assert "potion-base-8M · 256d · download" in picker.options
    assert "potion-retrieval-32M · 512d · download" in picker.options
    assert picker.options[-2:] == ["Other hub id…", "Local directory…"]
    assert {m.label: m.value for m in at.sidebar.metric}["Dimensions"] == "256"

    pick_model(at, BUNDLED_SMALL)
    assert {m.label: m.value for m in at.sidebar.metric} == {"Dimensions": "64", "Parameters": "1.9M"}
    assert any("bundled · `minilm-static-64` · available offline" in c for c in values(at.sidebar.caption))
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


def test_a_new_library_is_selected_and_the_choices_survive_page_switches(at):
    assert [s.key for s in at.sidebar.selectbox] == [MODEL_PICKER]  # no library yet: no library picker
    pick_model(at, BUNDLED_SMALL)
    create_library(at, "  Field notes ")
    assert at.sidebar.selectbox(key=LIBRARY_PICKER).value == "Field notes"  # trimmed and selected
    assert at.session_state[shared.LIBRARY_KEY] == "Field notes"

    open_page(at, LIBRARY)
    assert [t.value for t in at.main.title] == [":material/library_books: Field notes"]
    assert at.sidebar.selectbox(key=LIBRARY_PICKER).value == "Field notes"
    assert at.sidebar.selectbox(key=MODEL_PICKER).value == BUNDLED_SMALL

    create_library(at, "Recipes")
    assert at.sidebar.selectbox(key=LIBRARY_PICKER).options == ["Field notes", "Recipes"]
    assert [t.value for t in at.main.title] == [":material/library_books: Recipes"]

    open_page(at, SEARCH)
    assert at.session_state[shared.LIBRARY_KEY] == "Recipes"
    assert any("**Recipes** has no documents indexed with **minilm-static-64**" in v for v in values(at.main.info))
    at.sidebar.selectbox(key=LIBRARY_PICKER).set_value("Field notes").run()
    open_page(at, HOME)
    assert at.sidebar.selectbox(key=LIBRARY_PICKER).value == "Field notes"
    assert at.sidebar.selectbox(key=MODEL_PICKER).value == BUNDLED_SMALL


def test_libraries_in_the_database_are_listed_and_the_first_is_selected(store, tmp_path, monkeypatch):
    index_texts(store, tmp_path / "b", "Beta", BUNDLED_SMALL, {"food.txt": FOOD})
    index_texts(store, tmp_path / "a", "Alpha", BUNDLED_SMALL, {"food.txt": FOOD})
    at = new_app(monkeypatch).run()
    picker = at.sidebar.selectbox(key=LIBRARY_PICKER)
    assert picker.options == ["Alpha", "Beta"] and picker.value == "Alpha"
    assert not at.sidebar.expander[0].proto.expanded  # libraries exist: the "New library" form is folded


def test_a_library_made_in_the_sidebar_survives_a_reload_and_a_restart(at, store, monkeypatch):
    create_library(at, "Kept")
    reloaded = new_app(monkeypatch).run()  # a browser reload is a new session
    assert reloaded.sidebar.selectbox(key=LIBRARY_PICKER).options == ["Kept"]
    store.close()
    st.cache_resource.clear()  # a restart: the store is opened again from the database
    restarted = new_app(monkeypatch).run()
    assert restarted.sidebar.selectbox(key=LIBRARY_PICKER).options == ["Kept"]
    shared.store().close()


def test_a_database_error_in_a_page_is_one_line_not_a_traceback(store, tmp_path, monkeypatch):
    from core.errors import StoreError

    index_texts(store, tmp_path / "d", "Lib", BUNDLED_SMALL, SEED)

    def broken(*args, **kwargs):
        raise StoreError("The database could not list documents: boom. Try again.")

    monkeypatch.setattr(store, "documents", broken)
    at = new_app(monkeypatch).run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, SEARCH)
    assert not at.exception
    assert values(at.main.error) == ["The database could not list documents: boom. Try again."]


# --- Library ---------------------------------------------------------------------------------------


def test_library_page_without_a_library_points_to_the_sidebar(at):
    open_page(at, LIBRARY)
    assert values(at.main.info) == [
        "No library yet: create one in the sidebar (**Library → New library**), then add documents."
    ]
    assert not at.main.title and not at.main.button


def test_loading_the_samples_indexes_them_in_the_background_and_shows_the_outcome(at, store, tmp_path, monkeypatch):
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
    state = wait_for_job(shared.jobs(), "index|Demo")
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
            "vectors": "768 B",
            "chunking": "{size} {unit}, overlap {overlap}".format(**default_chunking().as_dict()),
        }
    ]
    assert list(documents["document"]) == names
    assert not any(b.label == "Load sample documents" for b in at.main.button)  # no longer empty
    assert store.stats("Demo", BUNDLED_SMALL).chunks == 3

    by_label(at.main.button, "Dismiss").click().run()
    assert not at.main.success and len(at.main.dataframe) == 2  # the outcome is gone, the stats stay
    assert shared.jobs().get("index|Demo") is None


def test_a_failed_indexing_job_says_why_and_can_be_dismissed(at, store, tmp_path, monkeypatch):
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "doc0.txt").write_text(SEED_DOCS[0], encoding="utf-8")
    monkeypatch.setenv("POTION_SAMPLES_DIR", str(samples))
    pick_model(at, "potion-base-32M")  # not cached, and the hub is off
    create_library(at, "Demo")
    open_page(at, LIBRARY)
    by_label(at.main.button, "Load sample documents").click().run()
    assert wait_for_job(shared.jobs(), "index|Demo").status == "failed"
    at.run()
    no_exception(at)

    (error,) = values(at.main.error)
    assert (
        error.startswith("Indexing stopped: minishlab/potion-base-32M is not in the local cache") and "\n" not in error
    )
    assert not at.main.success and not at.main.dataframe
    assert not by_label(at.main.button, "Load sample documents").disabled  # free to try again with another model
    by_label(at.main.button, "Dismiss").click().run()
    assert not at.main.error and shared.jobs().get("index|Demo") is None
    assert [(lib.name, lib.collections) for lib in store.libraries()] == [("Demo", [])]  # made, still empty


def test_uploads_are_indexed_with_a_per_file_account(store, tmp_path, monkeypatch):
    index_texts(store, tmp_path / "seed", "Papers", BUNDLED_SMALL, {"doc0.txt": SEED_DOCS[0]})
    at = new_app(monkeypatch).run()
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
    assert wait_for_job(shared.jobs(), "index|Papers").status == "done"
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
    assert [d.name for d in store.documents("Papers", BUNDLED_SMALL)] == ["doc0.txt", "turing.md"]


def test_deleting_a_document_removes_it_from_every_index_and_the_list(store, tmp_path, monkeypatch):
    for model in (BUNDLED_SMALL, BUNDLED_LARGE):
        index_texts(store, tmp_path / "seed", "Papers", model, SEED)
    at = new_app(monkeypatch).run()
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
        assert [d.name for d in store.documents("Papers", model)] == ["doc0.txt", "doc2.txt"]


def test_dropping_a_library_needs_its_name_typed(store, tmp_path, monkeypatch):
    index_texts(store, tmp_path / "seed", "Papers", BUNDLED_LARGE, SEED)
    index_texts(store, tmp_path / "seed", "Keep", BUNDLED_LARGE, {"food.txt": FOOD})
    at = new_app(monkeypatch).run()
    at.sidebar.selectbox(key=LIBRARY_PICKER).set_value("Papers").run()
    open_page(at, LIBRARY)
    assert by_label(at.main.button, "Drop library").disabled

    at.main.text_input(key="drop-confirm").input("papers").run()  # close is not enough
    assert by_label(at.main.button, "Drop library").disabled
    assert {lib.name for lib in store.libraries()} == {"Keep", "Papers"}

    at.main.text_input(key="drop-confirm").input("Papers").run()
    drop = by_label(at.main.button, "Drop library")
    assert not drop.disabled
    drop.click().run()
    no_exception(at)

    assert [lib.name for lib in store.libraries()] == ["Keep"]
    assert at.sidebar.selectbox(key=LIBRARY_PICKER).options == ["Keep"]
    assert at.sidebar.selectbox(key=LIBRARY_PICKER).value == "Keep"
    assert [t.value for t in at.main.title] == [":material/library_books: Keep"]


# --- Search ----------------------------------------------------------------------------------------


def test_search_without_a_library_points_to_the_sidebar(at):
    open_page(at, SEARCH)
    assert any(v.startswith("No library yet") for v in values(at.main.info))
    assert not at.main.text_input


def test_search_in_a_library_not_indexed_with_the_current_model_says_so(store, tmp_path, monkeypatch):
    index_texts(store, tmp_path / "seed", "Papers", BUNDLED_SMALL, SEED)
    at = new_app(monkeypatch).run()  # the default model is the 256-dim one
    open_page(at, SEARCH)
    assert values(at.main.info) == [
        "**Papers** has no documents indexed with **minilm-static-256** yet: add some on the Library page."
    ]
    (link,) = at.main.get("page_link")
    assert link.label == "Go to Library" and link.proto.page.endswith("library")
    assert not at.main.text_input

    pick_model(at, BUNDLED_SMALL)
    assert not at.main.info and [t.label for t in at.main.text_input] == ["Query"]


@pytest.mark.parametrize(("model", "dim", "top_k"), [(BUNDLED_LARGE, 256, 3), (BUNDLED_SMALL, 64, 2)])
def test_search_shows_top_k_hits_with_scores_dims_highlights_and_downloads(
    store, tmp_path, monkeypatch, model, dim, top_k
):
    docs = {**SEED, "turing.txt": HOSTILE, "food.txt": FOOD}
    index_texts(store, tmp_path / "docs", "Papers", model, docs)
    at = new_app(monkeypatch).run()
    pick_model(at, model)
    open_page(at, SEARCH)
    assert [t.value for t in at.main.title] == [":material/search: Search"]
    assert not hit_headers(at) and not at.main.download_button  # nothing before a query

    query = "Where was Alan Turing born?"
    at.main.text_input(key="search_query").input(query)
    at.main.slider(key="search_top_k").set_value(top_k)
    at.main.button(key=SEARCH_SUBMIT).click().run()
    no_exception(at)

    expected = search(query, "Papers", load_embedder(model), store, top_k)
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


def test_a_search_can_be_limited_to_one_document(store, tmp_path, monkeypatch):
    index_texts(store, tmp_path / "docs", "Papers", BUNDLED_SMALL, {**SEED, "food.txt": FOOD})
    at = new_app(monkeypatch).run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, SEARCH)
    assert at.main.selectbox(key="search_doc").options == ["doc0.txt", "doc1.txt", "doc2.txt", "food.txt"]
    at.main.text_input(key="search_query").input("Alan Turing")
    at.main.selectbox(key="search_doc").set_value("food.txt")
    at.main.button(key=SEARCH_SUBMIT).click().run()
    no_exception(at)
    assert values(at.main.text) == ["food.txt"]  # the only chunk of that document, however weak a match


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


def test_compare_two_indexed_models_side_by_side_with_their_agreement(store, tmp_path, monkeypatch):
    docs = {**SEED, "turing.txt": HOSTILE, "food.txt": FOOD}
    for model in (BUNDLED_LARGE, BUNDLED_SMALL):
        index_texts(store, tmp_path / "docs", "Papers", model, docs)
    at = new_app(monkeypatch).run()
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
        expected = search(query, "Papers", load_embedder(model), store, top_k)
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


def test_compare_indexes_a_missing_model_from_the_store_in_the_background(store, tmp_path, monkeypatch):
    index_texts(store, tmp_path / "docs", "Papers", BUNDLED_LARGE, SEED)
    at = new_app(monkeypatch).run()
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
    state = wait_for_job(shared.jobs(), f"compare|Papers|{BUNDLED_SMALL}")
    assert state.status == "done", state.error
    assert state.result.count("indexed") == 3
    at.run()
    no_exception(at)

    large, small = (c for c in at.main.columns if c.subheader)
    assert not small.info and not small.button
    assert len(small.markdown) == 3 and set(values(small.text)[::2]) == set(SEED)
    assert store.stats("Papers", BUNDLED_SMALL).documents == 3
    assert len(agreement_rows(at)) == 1  # both rank now: one pair in the agreement table


def test_compare_needs_two_models(store, tmp_path, monkeypatch):
    index_texts(store, tmp_path / "docs", "Papers", BUNDLED_LARGE, SEED)
    at = new_app(monkeypatch).run()
    open_page(at, COMPARE)
    at.main.multiselect(key="compare_models").set_value([BUNDLED_LARGE]).run()
    no_exception(at)
    assert values(at.main.info) == ["Pick at least two models to compare."]
    assert not [c for c in at.main.columns if c.subheader]


# --- Known page bugs ---------------------------------------------------------------------------------


def test_every_run_goes_through_app_py_even_in_streamlits_legacy_pages_mode(store):
    # AppTest re-enters the legacy pages/ mode on every run, as a fresh server does on a deep link.
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT).run()
    assert at.sidebar.selectbox(key=MODEL_PICKER)
    at.run()  # the second run of a session, as after any click
    assert at.sidebar.selectbox(key=MODEL_PICKER).value == BUNDLED_LARGE


def test_a_default_model_given_as_a_local_directory_is_the_starting_model(store, monkeypatch, tiny_model_dir):
    monkeypatch.setenv("POTION_DEFAULT_MODEL", str(tiny_model_dir))
    at = new_app(monkeypatch).run()
    no_exception(at)
    assert at.session_state[shared.MODEL_KEY] == str(tiny_model_dir)


def test_a_model_loaded_from_the_hub_keeps_its_card_on_the_next_rerun(store, monkeypatch, tiny_model_dir):
    at = new_app(monkeypatch).run()
    pick_model(at, "potion-base-2M")
    assert labels(at.sidebar.button) == ["Load model", "Create"]
    lay_out_hub_cache(load_settings().hub_cache, "minishlab/potion-base-2M", tiny_model_dir)  # as the download
    by_label(at.sidebar.button, "Load model").click().run()
    assert {m.label: m.value for m in at.sidebar.metric}["Dimensions"] == "8"  # loaded from the cache just filled
    at.run()  # any later click anywhere
    assert {m.label: m.value for m in at.sidebar.metric}.get("Dimensions") == "8"
    assert "Load model" not in labels(at.sidebar.button)
