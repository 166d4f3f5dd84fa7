"""Judging on the Search page and the Judgments page, driven with AppTest."""

from __future__ import annotations

from core.evaluate.judgment_files import qrels_tsv
from core.evaluate.judgments import judge
from core.service.runs import list_runs
from tests.apptest_helpers import (
    SEARCH,
    SEARCH_SUBMIT,
    new_app,
    no_exception,
    open_page,
    pick_model,
)
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL, index_texts

JUDGMENTS = "pages/judgments.py"
DOCS = {
    "turing.txt": "Alan Turing was born in Maida Vale, London, and raised in southern England.",
    "ai.txt": "Artificial intelligence was founded as an academic discipline in 1956.",
    "bread.txt": "Bake the bread with flour and water, then let the dough rest.",
}


def test_marking_hits_on_the_search_page_keeps_the_verdicts_in_the_library(app_store, tmp_path, monkeypatch):
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, DOCS)
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, SEARCH)
    at.main.text_input(key="search_query").input("Where was Alan Turing born?")
    at.main.slider(key="search_top_k").set_value(3)
    at.main.button(key=SEARCH_SUBMIT).click().run()
    no_exception(at)
    shown = [t.value for t in at.main.text]  # hit documents, in rank order
    at.main.button(key="judge-yes-1").click().run()
    at.main.button(key="judge-no-2").click().run()
    no_exception(at)
    verdicts = {j.document: j.relevance for j in app_store.judgments.list("Papers")}
    assert verdicts == {shown[0]: 1, shown[1]: 0}
    assert all(
        j.query == "Where was Alan Turing born?" and j.model == BUNDLED_SMALL
        for j in app_store.judgments.list("Papers")
    )
    assert any("You judged this document relevant" in c.value for c in at.main.caption)
    fresh = new_app().run()  # a new session: the verdicts come from the database
    pick_model(fresh, BUNDLED_SMALL)
    open_page(fresh, JUDGMENTS)
    table = fresh.main.dataframe[0]
    assert sorted(table.value["document"]) == sorted(shown[:2])


def test_the_judgments_page_edits_exports_evaluates_and_sweeps(app_store, tmp_path, monkeypatch):
    for model in (BUNDLED_SMALL, BUNDLED_LARGE):
        index_texts(app_store, tmp_path / model, "Papers", model, DOCS)
    judge(app_store, "Papers", "Where was Alan Turing born?", "turing.txt", 1)
    judge(app_store, "Papers", "Where was Alan Turing born?", "bread.txt", 1)  # a mistake, fixed below
    judge(app_store, "Papers", "how to bake bread", "bread.txt", 1)
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, JUDGMENTS)
    no_exception(at)
    assert any("3** judgments over **2** queries" in m.value for m in at.main.markdown)
    downloads = {b.label for b in at.main.get("download_button")}
    assert downloads == {"Download qrels.tsv", "Download queries.jsonl", "Download judgments.jsonl"}
    assert qrels_tsv(app_store.judgments.list("Papers")).text.count("\n") == 4

    at.main.button(key="FormSubmitter:judgments-evaluate-Evaluate").click().run()
    no_exception(at)
    table = next(t.value for t in at.main.table if "nDCG@10" in t.value.columns)  # the report's labels
    first, second = sorted([BUNDLED_SMALL, BUNDLED_LARGE])  # the page lists a library's models by name
    assert list(table["model"]) == [first, first, second, second] and list(table["mode"]) == ["dense", "keyword"] * 2
    assert any("fewer" in w.value or "Only 2 judged queries" in w.value for w in at.main.warning)
    runs = at.session_state["judgments_report"].results
    dense = {r.model: r.metrics["ndcg@10"].mean for r in runs if r.mode == "dense"}
    assert at.session_state["cost_quality"]["Papers"] == dense  # the Costs page's quality column for this library
    saved = list_runs(app_store, library="Papers")  # the evaluation was kept as four runs, and the page says so
    assert sorted((s.model, s.mode) for s in saved) == sorted((r.model, str(r.mode)) for r in runs)
    assert any(c.value.startswith("Saved as runs ") for c in at.main.caption)

    at.main.button(key="FormSubmitter:judgments-sweep-Sweep the weight").click().run()
    no_exception(at)
    assert any("Best weight for" in s.value for s in at.main.success)
    assert at.main.get("vega_lite_chart")


def test_search_opens_weighted_hybrid_at_the_librarys_default(app_store, tmp_path, monkeypatch):
    from core.evaluate.judgments import HybridSweep, WeightPoint, adopt_hybrid_default
    from core.evaluate.stats import Interval

    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, DOCS)
    judge(app_store, "Papers", "bread", "bread.txt", 1)
    sweep = HybridSweep(BUNDLED_SMALL, [WeightPoint(0.3, Interval(0.9, 0.8, 1.0))], 1)
    adopt_hybrid_default(app_store, "Papers", sweep)
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, SEARCH)
    at.main.radio(key="search_mode").set_value("hybrid").run()
    no_exception(at)
    assert at.main.radio(key="search_fusion").value == "weighted"
    assert at.main.slider(key="search_weight").value == 0.3
    assert any("This library's default is 0.3" in c.value for c in at.main.caption)
    assert not at.main.warning  # no Streamlit warning about a widget default set twice


def test_judgments_import_into_an_empty_library_and_a_bad_file_is_refused(app_store, tmp_path, monkeypatch):
    from core.evaluate.judgment_files import judgments_jsonl
    from core.storage.memory import MemoryStore

    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, DOCS)
    elsewhere = MemoryStore()  # judged in another database, with a name qrels.tsv cannot carry
    elsewhere.catalog.create("Old")
    judge(elsewhere, "Old", "Where was Alan Turing born?", "turing.txt", 1)
    judge(elsewhere, "Old", "Where was Alan Turing born?", "tab\tname.txt", 0)
    exported = judgments_jsonl(elsewhere.judgments.list("Old")).encode()

    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, JUDGMENTS)
    uploader = at.main.get("file_uploader")[0]
    uploader.set_value([("broken.jsonl", b"not json\n", "application/json")])
    at.run()
    at.main.button(key="judgments_import").click().run()
    no_exception(at)
    assert [e.value for e in at.main.error] == [
        "broken.jsonl line 1 is not JSON (Expecting value: line 1 column 1 (char 0)): export judgments again from "
        "Potion Search."
    ]
    assert app_store.judgments.list("Papers") == []

    at.main.get("file_uploader")[0].set_value([("judgments.jsonl", exported, "application/json")])
    at.run()
    at.main.button(key="judgments_import").click().run()
    no_exception(at)
    assert [s.value for s in at.main.success] == ["Imported: 2 added, 0 replaced, 0 already here."]
    assert sorted(j.document for j in app_store.judgments.list("Papers")) == ["tab\tname.txt", "turing.txt"]
    at.run()  # the page now lists them, and warns that qrels.tsv leaves the tab name out
    assert sorted(at.main.dataframe[0].value["document"]) == ["tab\tname.txt", "turing.txt"]
    assert any("leaves out 1 document(s)" in w.value and "tab\\\\tname.txt" in w.value for w in at.main.warning)
