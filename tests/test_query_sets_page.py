"""The Query sets page, driven with AppTest: make a set, run it over two columns, judge hits by the keyed panel and
by a hit's own button into the library's judgments; a reader runs sets but sees no making or judging controls."""

from __future__ import annotations

from core.evaluate.query_sets import typed_queries
from core.service.query_sets import create_query_set
from tests.apptest_helpers import join_all_jobs, new_app, no_exception, open_page, pick_model
from tests.conftest import BUNDLED_SMALL, index_texts

PAGE = "pages/query_sets.py"
RUN = "FormSubmitter:qsets-run-Run"
DOCS = {
    "turing.txt": "Alan Turing was born in Maida Vale, London, and raised in southern England.",
    "ai.txt": "Artificial intelligence was founded as an academic discipline in 1956.",
    "bread.txt": "Bake the bread with flour and water, then let the dough rest.",
}
QUERIES = ["Where was Alan Turing born?", "how to bake bread"]


def run_set(at) -> None:
    """Submit the run form with its default columns and show the outcome once the job ends."""
    at.main.slider(key="qsets_top_k").set_value(2)
    at.main.button(key=RUN).click().run()
    no_exception(at)
    # The page collects a finished job on its own rerun, which can come before this line: so the thread is joined
    # and the page read, rather than the runner asked (the results' summary below shows the run happened).
    join_all_jobs()
    at.run()
    no_exception(at)


def summary(at) -> str:
    return next(c.value for c in at.main.caption if "still unjudged" in c.value)


def test_make_a_set_run_it_over_two_columns_and_judge_hits_into_the_library(app_store, tmp_path):
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, DOCS)
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, PAGE)
    at.main.text_input(key="qsets_new_name").input("Mine")
    at.main.text_area(key="qsets_new_typed").input("\n".join(QUERIES) + "\n")
    at.main.button(key="qsets_make").click().run()
    no_exception(at)
    assert app_store.query_sets.get("Papers", "Mine").texts == QUERIES
    assert any("Made 'Mine': 2 queries" in s.value for s in at.main.success)

    columns = at.main.multiselect(key="qsets_columns").value
    assert columns == [f"{BUNDLED_SMALL} dense", f"{BUNDLED_SMALL} keyword"]  # two columns offered by default
    run_set(at)
    assert "**" in summary(at)
    before = int(summary(at).split("**")[1])
    assert before > 0

    relevant = at.main.button(key="qsets-next-1")
    assert relevant.proto.shortcut and at.main.button(key="qsets-next-0").proto.shortcut  # keyed, as Quepid's view
    first = next(c.value for c in at.main.caption if " · chunk " in c.value and "shown by" in c.value)
    relevant.click().run()
    no_exception(at)
    judged = {(j.query, j.document): j.relevance for j in app_store.judgments.list("Papers")}
    assert judged == {(QUERIES[0], first.split(" · chunk ")[0].replace("\\", "")): 1}
    assert int(summary(at).split("**")[1]) == before - 1

    # A hit's own button, in the second query's keyword column, at rank 1: not relevant.
    at.main.button(key=f"qsets-1-{BUNDLED_SMALL} keyword-1-0").click().run()
    no_exception(at)
    assert (QUERIES[1], "bread.txt") in {(j.query, j.document) for j in app_store.judgments.list("Papers")}
    assert {j.relevance for j in app_store.judgments.list("Papers") if j.query == QUERIES[1]} == {0}
    assert int(summary(at).split("**")[1]) == before - 2


def test_a_reader_runs_a_set_but_sees_no_making_deleting_or_judging_controls(app_store, tmp_path, monkeypatch):
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, DOCS)
    create_query_set(app_store, "Papers", "Mine", typed_queries("\n".join(QUERIES)), "typed")
    monkeypatch.setenv("POTION_READ_ONLY", "1")  # the frame reads the settings on every run
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, PAGE)
    run_set(at)
    assert int(summary(at).split("**")[1]) > 0  # running a set is reading
    keys = [b.key or "" for b in at.main.button]
    assert "qsets_make" not in keys and "qsets_delete" not in keys
    assert not [k for k in keys if k.startswith("qsets-")], keys  # no verdict button anywhere
    notes = [c.value for c in at.main.caption if "POTION_READ_ONLY" in c.value]
    assert any(n.startswith(":material/lock: Making and deleting query sets: off") for n in notes), notes
    assert any(n.startswith(":material/lock: Judging hits: off") for n in notes), notes
