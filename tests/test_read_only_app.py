"""POTION_READ_ONLY in the app, driven with AppTest: every writing control a writer sees is hidden from a reader,
with a line saying why, while search, compare and evaluation of indexed collections still work; what a reader
cannot see, core refuses anyway (tests/test_read_only.py)."""

from __future__ import annotations

from dataclasses import asdict

import pytest
from streamlit.testing.v1 import AppTest

from core.evaluate.judgments import judge
from core.service.runs import list_runs
from tests.apptest_helpers import (
    COMPARE,
    LIBRARY,
    SEARCH,
    SEARCH_SUBMIT,
    by_label,
    join_all_jobs,
    new_app,
    no_exception,
    open_page,
    pick_model,
)
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL, index_texts
from tests.test_adapt_page import make_here
from tests.test_cli_evaluate import write_tiny_collection
from tests.test_saved_runs import made_run

JUDGMENTS, EVALUATE, ADAPT = "pages/judgments.py", "pages/evaluate.py", "pages/adapt.py"
RUNS = "pages/runs.py"
DOCS = {
    "turing.txt": "Alan Turing was born in Maida Vale, London, and raised in southern England.",
    "ai.txt": "Artificial intelligence was founded as an academic discipline in 1956.",
    "bread.txt": "Bake the bread with flour and water, then let the dough rest.",
}
QUERY = "Where was Alan Turing born?"
# Every writing control of the app, by what it does; each must show for a writer and hide from a reader.
WRITING_CONTROLS = {
    "create a library",
    "upload files",
    "index files",
    "delete a document",
    "drop the library",
    "judge a hit",
    "import judgments",
    "edit or delete judgments",
    "set the hybrid default",
    "index a model for Compare",
    "upload a collection to evaluate",
    "make a model",
    "compare a made model",
    "delete a saved run",
}


@pytest.fixture
def papers(app_store, tmp_path, monkeypatch):
    """A library indexed with the small model and judged, a saved run, a made model beside it, and the adapt extra
    'installed' (the form shows; nothing is made here)."""
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, DOCS)
    judge(app_store, "Papers", QUERY, "turing.txt", 1)
    run = made_run("trial", {"q1": 1.0})
    app_store.runs.put(run.id, asdict(run.summary), run.as_dict())  # as saving does: the audit log stays empty
    make_here("mine", like=BUNDLED_SMALL)
    monkeypatch.setattr("core.adapt.extra.extra_installed", lambda: True)
    return app_store


def seen_controls(at: AppTest) -> tuple[set[str], list[str]]:
    """Visit every page as a user would and list the writing controls it offers, and the read-only notes shown."""
    seen, notes = set(), []

    def note() -> None:
        notes.extend(c.value for c in [*at.main.caption, *at.sidebar.caption] if "POTION_READ_ONLY" in c.value)

    if any(t.key == "new_library_name" for t in at.sidebar.text_input):
        seen.add("create a library")
    pick_model(at, BUNDLED_SMALL)
    open_page(at, LIBRARY)
    note()
    seen |= {"upload files"} if at.main.get("file_uploader") else set()
    seen |= {"index files"} if any(b.label.startswith("Index ") for b in at.main.button) else set()
    seen |= {"delete a document"} if any(b.label == "Delete" for b in at.main.button) else set()
    seen |= {"drop the library"} if any(b.label == "Drop library" for b in at.main.button) else set()

    open_page(at, SEARCH)
    at.main.text_input(key="search_query").input(QUERY)
    at.main.button(key=SEARCH_SUBMIT).click().run()
    no_exception(at)
    assert at.main.text[0].value == "turing.txt"  # searching works either way
    seen |= {"judge a hit"} if any((b.key or "").startswith("judge-") for b in at.main.button) else set()

    open_page(at, JUDGMENTS)
    note()
    seen |= {"import judgments"} if at.main.get("file_uploader") else set()
    seen |= {"edit or delete judgments"} if any(b.key == "judgments_save" for b in at.main.button) else set()
    at.main.button(key="FormSubmitter:judgments-sweep-Sweep the weight").click().run()
    no_exception(at)
    assert any("Best weight for" in s.value for s in at.main.success)  # tuning is reading: it works either way
    seen |= {"set the hybrid default"} if any(b.key == "judgments_adopt" for b in at.main.button) else set()

    open_page(at, COMPARE)
    at.main.multiselect(key="compare_models").set_value([BUNDLED_SMALL, BUNDLED_LARGE]).run()
    no_exception(at)
    note()
    seen |= {"index a model for Compare"} if any(b.key == f"index-{BUNDLED_LARGE}" for b in at.main.button) else set()

    open_page(at, EVALUATE)
    note()
    if "Upload three files" in at.main.radio(key="eval_source").options:
        seen.add("upload a collection to evaluate")

    open_page(at, ADAPT)
    note()
    seen |= {"make a model"} if any(b.key == "FormSubmitter:adapt-Make the model" for b in at.main.button) else set()
    seen |= {"compare a made model"} if any(b.key == "adapt_compare" for b in at.main.button) else set()

    open_page(at, RUNS)
    note()
    seen |= {"delete a saved run"} if any(b.key == "runs_delete" for b in at.main.button) else set()
    return seen, notes


def test_a_writer_sees_every_writing_control_and_a_reader_none_with_a_line_saying_why(papers, monkeypatch):
    writer, writer_notes = seen_controls(new_app().run())
    assert writer == WRITING_CONTROLS and not writer_notes
    monkeypatch.setenv("POTION_READ_ONLY", "1")  # the frame reads the settings on every run
    at = new_app().run()
    reader, notes = seen_controls(at)
    assert reader == set(), f"a reader was offered: {sorted(reader)}"
    assert len(notes) >= 5 and all(n.count(". ") == 0 for n in notes)  # one sentence per hidden section
    assert any("New libraries: off" in c.value for c in at.sidebar.caption)
    # Nothing a reader did changed the database: the verdict kept, no default, no index for the large model.
    assert [(j.document, j.relevance) for j in papers.judgments.list("Papers")] == [("turing.txt", 1)]
    assert papers.catalog.models("Papers") == [BUNDLED_SMALL] and papers.audit.list() == []


def test_a_reader_evaluates_an_indexed_collection_and_is_told_in_one_sentence_why_not_another(
    app_store, tmp_path, monkeypatch
):
    indexed, fresh = write_tiny_collection(tmp_path / "indexed"), write_tiny_collection(tmp_path / "fresh")
    at = new_app().run()
    open_page(at, EVALUATE)

    def evaluate(folder) -> None:
        at.main.radio(key="eval_source").set_value("A folder on this machine").run()
        at.main.text_input(key="eval_folder").input(str(folder))
        at.main.multiselect(key="eval_models").set_value([BUNDLED_SMALL]).run()
        by_label(at.main.button, "Evaluate").click().run()
        no_exception(at)
        join_all_jobs()  # a refused run may have ended, and been shown, within the click's own rerun
        at.run()
        no_exception(at)

    evaluate(indexed)  # indexed while writing is allowed
    (saved,) = list_runs(app_store)  # and saved as a run
    assert any(c.value.startswith(f"Saved as run {saved.name}") for c in at.main.caption)
    monkeypatch.setenv("POTION_READ_ONLY", "1")
    at.run()
    evaluate(indexed)
    assert at.main.dataframe and not at.main.error  # the results of a collection indexed already
    (note,) = [i.value for i in at.main.info if "saved" in i.value]  # but kept nowhere, in one line saying why
    assert note.startswith("Not saved as a run: Cannot save the runs") and "POTION_READ_ONLY" in note
    assert list_runs(app_store) == [saved]
    evaluate(fresh)
    (error,) = [e.value for e in at.main.error]
    assert error.startswith("Evaluation stopped: Cannot index") and "POTION_READ_ONLY" in error
    assert error.count(". ") == 0
    assert not [lib for lib in app_store.catalog.names() if "fresh" in lib]
