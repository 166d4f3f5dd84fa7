"""The Evaluate page, driven with AppTest on a tiny BEIR folder: a background run with two bundled models in two
modes, its tables against core's evaluate_collection, the disagreement table, a query's hits, the exports."""

from __future__ import annotations

import json
import threading

import pytest
from streamlit.testing.v1 import AppTest

from core.embed.loading import load_embedder
from core.evaluate.datasets import EvaluationError
from core.evaluate.runs import WHOLE_DOCUMENTS, evaluate_collection, evaluation_library
from core.search.query import search_many
from core.service.runs import list_runs
from core.types import SearchMode
from pages import shared
from tests.apptest_helpers import (
    ROOT,
    arrow_frame,
    by_label,
    join_all_jobs,
    new_app,
    no_exception,
    open_page,
)
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL
from tests.test_cli_evaluate import write_tiny_collection

PAGE = ROOT / "pages" / "evaluate.py"
MODES = [SearchMode.DENSE, SearchMode.KEYWORD]
LABELS = ["nDCG@10", "Recall@10", "Recall@100", "MRR@10", "MAP@100"]


def open_evaluate(monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The page in the app; it needs no sidebar choice."""
    at = new_app().run()
    open_page(at, PAGE)
    return at


def fill_in(at: AppTest, folder: str) -> None:
    at.main.radio(key="eval_source").set_value("A folder on this machine").run()
    at.main.text_input(key="eval_folder").input(folder)
    at.main.multiselect(key="eval_models").set_value([BUNDLED_SMALL, BUNDLED_LARGE])
    at.main.multiselect(key="eval_modes").set_value([str(m) for m in MODES])
    at.main.radio(key="eval_chunking").set_value("whole").run()
    no_exception(at)


def frames(at: AppTest) -> list:
    return [d.value for d in at.main.dataframe]


def test_a_run_shows_core_results_comparisons_disagreements_hits_and_exports(app_store, tmp_path, monkeypatch):
    folder = write_tiny_collection(tmp_path / "tiny")
    at = open_evaluate(monkeypatch)
    fill_in(at, str(folder))
    assert by_label(at.main.selectbox, "Baseline").value == f"{BUNDLED_SMALL} · dense"  # the first row by default
    by_label(at.main.button, "Evaluate").click().run()
    no_exception(at)
    join_all_jobs()  # the page may already have taken the outcome and forgotten the job: join, then look
    at.run()
    no_exception(at)
    assert not at.main.error, [e.value for e in at.main.error]
    library = evaluation_library("tiny", WHOLE_DOCUMENTS)
    assert all(app_store.catalog.find(library, m) is not None for m in (BUNDLED_SMALL, BUNDLED_LARGE))
    saved = list_runs(app_store, dataset="tiny")  # every run of the evaluation, kept, and the page says so
    asked = [(m, str(mode)) for m in (BUNDLED_SMALL, BUNDLED_LARGE) for mode in MODES]
    assert sorted((s.model, s.mode) for s in saved) == sorted(asked)
    (note,) = [c.value for c in at.main.caption if c.value.startswith("Saved as runs ")]
    assert all(s.name in note for s in saved)

    expected = evaluate_collection(
        folder, {m: load_embedder(m) for m in (BUNDLED_SMALL, BUNDLED_LARGE)}, MODES, app_store, WHOLE_DOCUMENTS
    )
    results, comparisons, disagreement, *hits = frames(at)
    assert list(results["model"]) == [r.model for r in expected.results]
    assert list(results["mode"]) == [str(r.mode) for r in expected.results]
    for shown, run in zip(results.to_dict("records"), expected.results):
        for label, measure in zip(LABELS, ("ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100")):
            i = run.metrics[measure]
            assert shown[label] == f"{i.mean:.4f} [{i.low:.3f}, {i.high:.3f}]"

    # Three other runs against the baseline, five measures each, with core's differences and p-values.
    assert len(comparisons) == 3 * 5 == len(expected.comparisons)
    for shown, c in zip(comparisons.to_dict("records"), expected.comparisons):
        assert (shown["model"], shown["mode"]) == (c.other[0], str(c.other[1]))
        assert shown["diff"] == pytest.approx(c.difference.diff, abs=1e-4)
        assert shown["p-value"] == pytest.approx(c.difference.p_value, abs=1e-4)
    assert any(f"Against {BUNDLED_SMALL} · dense" in h.value for h in at.main.subheader)
    notes = " ".join(c.value for c in at.main.caption)
    assert "scored by their best chunk" in notes and "95% bootstrap over queries" in notes

    # Every judged query is listed with its text, most disagreement first.
    assert sorted(disagreement["query_id"]) == ["q1", "q2", "q3", "q4"]
    assert list(disagreement["spread"]) == sorted(disagreement["spread"], reverse=True)
    assert dict(zip(disagreement["query_id"], disagreement["query"]))["q4"] == "alan turing research"

    # One hits table per run, for the query picked: the run's own search on the eval library.
    at.main.selectbox(key="eval_query").set_value("q2").run()
    no_exception(at)
    hits = frames(at)[3:]
    assert len(hits) == 4
    dense_large = search_many(
        ["turing london england"], library, load_embedder(BUNDLED_LARGE), app_store, 5, mode=SearchMode.DENSE
    )[0]
    assert list(hits[2]["document"]) == [h.document for h in dense_large.hits]
    assert dict(zip(hits[2]["document"], hits[2]["relevance"]))["d2"] == 1

    charts = at.main.get("vega_lite_chart")
    assert len(charts) == 2  # means with intervals; per-query differences
    diffs = arrow_frame(charts[1].proto.data.data)  # Streamlit sends top-level data as Arrow
    base = expected.results[0].per_query["ndcg@10"]
    want = {
        (f"{r.model} · {r.mode}", q): r.per_query["ndcg@10"][q] - base[q] for r in expected.results[1:] for q in base
    }
    assert dict(zip(zip(diffs["run"], diffs["query_id"]), diffs["diff"])) == pytest.approx(want)
    means = arrow_frame(charts[0].proto.data.data)
    assert len(means) == 4 * 5 and (means["low"] <= means["mean"]).all() and (means["mean"] <= means["high"]).all()

    downloads = at.main.get("download_button")
    assert [d.proto.label for d in downloads] == ["Report (JSON)", "Results (CSV)", "Per-query scores (CSV)"]
    assert all("single quote" in json.dumps(d.proto.help) for d in downloads[1:])


def test_a_folder_without_a_collection_is_one_line_error(app_store, tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    at = open_evaluate(monkeypatch)
    fill_in(at, str(tmp_path / "empty"))
    by_label(at.main.button, "Evaluate").click().run()
    no_exception(at)
    (error,) = at.main.error
    assert "has no corpus.jsonl, queries.jsonl, qrels.tsv" in error.value
    assert shared.jobs().active() == []


def test_a_run_that_fails_says_why_in_one_line(app_store, tmp_path, monkeypatch):
    folder = write_tiny_collection(tmp_path / "broken")
    (folder / "queries.jsonl").write_text("not json\n")
    at = open_evaluate(monkeypatch)
    fill_in(at, str(folder))
    by_label(at.main.button, "Evaluate").click().run()
    join_all_jobs()
    for _ in range(2):  # the message stays on later reruns, not just the one that took the outcome
        at.run()
        no_exception(at)
        (error,) = at.main.error
        assert error.value.startswith("Evaluation stopped:") and "line 1 is not valid JSON" in error.value
    assert not at.main.dataframe  # no results from an earlier run of this session to mistake for this one


def test_a_running_evaluation_shows_its_progress_and_locks_the_controls(app_store, tmp_path, monkeypatch):
    folder = write_tiny_collection(tmp_path / "tiny")
    reported, release = threading.Event(), threading.Event()

    def held(folder, models, modes, app_store, chunking, baseline, progress, settings=None, actor=None, weights=()):
        progress(f"{BUNDLED_SMALL} dense: search", 3, 4)
        reported.set()
        release.wait(timeout=60)  # the test lets go at once after looking; never waited out when things work
        raise EvaluationError("stopped by the test")

    monkeypatch.setattr("core.evaluate.report.run_evaluation", held)
    at = open_evaluate(monkeypatch)
    fill_in(at, str(folder))
    by_label(at.main.button, "Evaluate").click().run()
    try:
        assert reported.wait(timeout=60)
        at.run()  # a rerun in the middle: the job and its progress are still there
        no_exception(at)
        (bar,) = at.main.get("progress")
        assert "search: 3/4" in bar.proto.text
        assert by_label(at.main.button, "Evaluate").disabled
    finally:
        release.set()
        join_all_jobs()
    at.run()
    assert "stopped by the test" in at.main.error[0].value


def test_weighted_hybrids_are_evaluated_at_each_dense_share_picked_and_kept_as_runs(app_store, tmp_path, monkeypatch):
    folder = write_tiny_collection(tmp_path / "tiny")
    at = open_evaluate(monkeypatch)
    at.main.radio(key="eval_source").set_value("A folder on this machine").run()
    at.main.text_input(key="eval_folder").input(str(folder))
    at.main.multiselect(key="eval_models").set_value([BUNDLED_SMALL])
    at.main.multiselect(key="eval_modes").set_value([])  # the weighted hybrids alone
    at.main.multiselect(key="eval_weights").set_value([0.2, 0.8])
    at.main.radio(key="eval_chunking").set_value("whole").run()
    no_exception(at)
    runs = [f"{BUNDLED_SMALL} · hybrid w=0.2", f"{BUNDLED_SMALL} · hybrid w=0.8"]
    assert by_label(at.main.selectbox, "Baseline").options == runs
    by_label(at.main.button, "Evaluate").click().run()
    join_all_jobs()
    at.run()
    no_exception(at)
    assert not at.main.error, [e.value for e in at.main.error]
    assert list(frames(at)[0]["mode"]) == ["hybrid w=0.2", "hybrid w=0.8"]
    saved = list_runs(app_store, dataset="tiny")
    assert sorted((s.mode, s.fusion, s.weight) for s in saved) == [
        ("hybrid", "weighted", 0.2),
        ("hybrid", "weighted", 0.8),
    ]


def test_the_settings_are_still_there_after_a_look_at_the_runs_page(app_store, tmp_path, monkeypatch):
    """An analyst evaluates, looks at the Runs page, and comes back to change one setting: the rest is kept."""
    at = open_evaluate(monkeypatch)
    fill_in(at, str(tmp_path / "tiny"))
    at.main.multiselect(key="eval_weights").set_value([0.3]).run()
    open_page(at, "pages/runs.py")
    open_page(at, PAGE)
    assert at.main.radio(key="eval_source").value == "A folder on this machine"
    assert at.main.text_input(key="eval_folder").value == str(tmp_path / "tiny")
    assert at.main.multiselect(key="eval_models").value == [BUNDLED_SMALL, BUNDLED_LARGE]
    assert at.main.multiselect(key="eval_modes").value == [str(m) for m in MODES]
    assert at.main.multiselect(key="eval_weights").value == [0.3]
    assert at.main.radio(key="eval_chunking").value == "whole"
