"""Make your own potion in the app, and "compare at once" in core and the CLI, in the main suite (no torch).

The fitting is replaced by a fake adapt_library where the page calls it; a model "made here" is a bundled model's
folder copied under POTION_ADAPTED_DIR with a CARD.json, which is all a made model is to the rest of the app.
The real thing, tiny teacher and all, is in tests/test_adapt.py (marker adapt)."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from pathlib import Path

import pytest

from core.adapt.card import CARD_FILE
from core.adapt.options import AdaptResult, AdaptStage
from core.cli import EXIT_ERROR, EXIT_OK, main
from core.config import load_settings
from core.embed.catalog import bundled_model
from core.embed.loading import load_embedder
from core.errors import AdaptCancelledError, AdaptError
from core.evaluate.judgments import JudgmentError, evaluate_judgments, judge
from core.evaluate.metrics import interval_text
from core.evaluate.results import EvaluationReport, RunKey, RunResult
from core.evaluate.runs import compare_runs, evaluate_collection, evaluation_library
from core.evaluate.stats import Interval, paired_difference
from core.ingest.pipeline import default_chunking
from core.service.adapted import BM25, compare_made, default_base, verdict_table
from core.service.jobs import library_job_key
from core.types import SearchMode
from pages import shared
from tests.apptest_helpers import (
    JOB_TIMEOUT,
    MODEL_PICKER,
    ROOT,
    by_label,
    costs_table,
    new_app,
    no_exception,
    open_page,
    wait_for_job,
)
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL, SEED_DOCS, index_texts
from tests.test_cli_evaluate import write_tiny_collection

PAGE = ROOT / "pages" / "adapt.py"
COSTS = ROOT / "pages" / "costs.py"
LIBRARY = "Papers"
MADE = "mine"
SEED = {f"doc{i}.txt": text for i, text in enumerate(SEED_DOCS)}
JUDGED = [
    ("When was artificial intelligence founded", "doc0.txt"),
    ("Where was Alan Turing born?", "doc2.txt"),
    ("who did research in AI first", "doc1.txt"),
    ("academic discipline of 1956", "doc0.txt"),
]
CARD = {
    "kind": "adapted",
    "dim": 64,
    "dims": 64,
    "library": LIBRARY,
    "chunks": 3,
    "teacher": {"name": "all-MiniLM-L6-v2", "fingerprint": "0123abcd", "max_tokens": 256},
    "epochs": {"max": 30, "run": 7, "best": 5, "patience": 2},
    "seeds": {"sample": 0, "torch": 0, "split": 0},
    "stage_seconds": {"distil": 20.0, "teacher": 240.0, "fit": 84.0},
    "seconds": 344.0,
    "versions": {"torch": "2.13.0", "model2vec": "0.7.0"},
}


def make_here(name: str = MADE, like: str = BUNDLED_SMALL, card: dict | None = None) -> Path:
    """A model made here, as the adapt pipeline leaves it: a model folder with an adapted CARD.json."""
    settings = load_settings()
    folder = settings.adapted_dir / name
    shutil.copytree(bundled_model(like, settings.models_dir).path, folder)
    (folder / CARD_FILE).write_text(json.dumps(card or CARD), encoding="utf-8")
    return folder


def indexed_library(store, tmp_path: Path, judged: bool = True) -> None:
    index_texts(store, tmp_path / "docs", LIBRARY, BUNDLED_LARGE, SEED)
    for query, document in JUDGED if judged else ():
        judge(store, LIBRARY, query, document, 1)


def open_adapt(at_library: str = LIBRARY):
    at = new_app().run()
    no_exception(at)
    at.sidebar.selectbox(key="library_choice").set_value(at_library).run()
    open_page(at, PAGE)
    return at


# --- Making a model --------------------------------------------------------------------------------


def test_without_the_extra_the_page_says_in_one_sentence_what_to_install_and_compare_still_works(
    app_store, tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "torch", None)  # as when torch is not installed, whatever this venv holds
    indexed_library(app_store, tmp_path)
    make_here()
    at = open_adapt()
    (sentence,) = [i.value for i in at.main.info]
    assert "pip install -r requirements-adapt.txt" in sentence and sentence.count(". ") == 0
    assert not [b for b in at.main.button if b.label == "Make the model"]
    assert by_label(at.main.button, f"Compare {MADE} with {BUNDLED_LARGE} and BM25")  # needs no torch


class FakeAdapt:
    """adapt_library as the page calls it: reports stages, waits for the test, then makes a model or stops if
    cancelled (as the real one does at its next batch)."""

    def __init__(self) -> None:
        self.reached, self.release = threading.Event(), threading.Event()
        self.calls: list[dict] = []

    def __call__(self, store, library, name, options, model=None, release_store=False, settings=None, actor=None):
        self.calls.append({"library": library, "name": name, "base": model, "release_store": release_store})
        options.progress(AdaptStage.DISTIL, 5, 5)
        options.progress(AdaptStage.TARGETS, 1, 1)
        options.progress(AdaptStage.TEACHER, 3, 10)
        self.reached.set()
        assert self.release.wait(JOB_TIMEOUT)
        if options.cancelled():
            raise AdaptCancelledError("Adapting was cancelled while the teacher embedded the library's text.")
        folder = make_here(name, card=CARD | {"dims": options.dims, "epochs": CARD["epochs"] | {"max": options.epochs}})
        return AdaptResult(name, folder, options.dims, 12.0, {}, 3, 40, 3, 2, 0.1, "teacher", "0123abcd")


@pytest.fixture
def fake_adapt(monkeypatch):
    fake = FakeAdapt()
    monkeypatch.setattr("core.adapt.extra.extra_installed", lambda: True)
    monkeypatch.setattr("core.adapt.library.adapt_library", fake)
    yield fake
    fake.release.set()


def start_making(at, name: str = MADE) -> None:
    at.main.selectbox(key="adapt_base").set_value(BUNDLED_LARGE)
    at.main.text_input(key="adapt_name").input(name)
    at.main.number_input(key="adapt_dims").set_value(64)
    at.main.number_input(key="adapt_epochs").set_value(5)
    at.main.button(key="FormSubmitter:adapt-Make the model").click().run()
    no_exception(at)


def test_making_runs_in_the_background_with_stages_and_time_left_and_cancel_leaves_no_model(
    app_store, tmp_path, fake_adapt
):
    indexed_library(app_store, tmp_path)
    at = open_adapt()
    start_making(at)
    assert fake_adapt.reached.wait(JOB_TIMEOUT)
    at.run()  # a rerun in the middle: the job and its progress are still there
    no_exception(at)
    (bar,) = at.main.get("progress")
    assert f"Making {MADE} from {LIBRARY}" in bar.proto.text and "teacher: 3/10" in bar.proto.text
    assert "left in this stage" in bar.proto.text
    assert any("✓ distil → ✓ targets → **teacher** → fit" in c.value for c in at.main.caption)
    assert at.main.button(key="FormSubmitter:adapt-Make the model").disabled
    assert fake_adapt.calls == [{"library": LIBRARY, "name": MADE, "base": BUNDLED_LARGE, "release_store": False}]

    open_page(at, COSTS)  # a page switch and back loses nothing
    open_page(at, PAGE)
    at.main.button(key="adapt_cancel").click().run()
    no_exception(at)
    assert at.main.button(key="adapt_cancel").disabled  # "Stopping…" until the work reaches its next check
    fake_adapt.release.set()
    job = wait_for_job(shared.jobs(), "adapt")
    assert job.status == "failed" and job.cancel_requested
    at.run()
    no_exception(at)
    assert any("cancelled" in i.value and "No model was made" in i.value for i in at.main.info)
    assert not (load_settings().adapted_dir / MADE).exists()
    assert not at.main.error


def test_a_made_model_is_announced_then_in_the_sidebar_as_made_here_with_its_card(app_store, tmp_path, fake_adapt):
    indexed_library(app_store, tmp_path)
    at = open_adapt()
    start_making(at)
    fake_adapt.release.set()
    assert wait_for_job(shared.jobs(), "adapt").status == "done"
    at.run()
    no_exception(at)
    (success,) = at.main.success
    assert success.value.startswith(f"Made {MADE} (64 dims) from 3 chunks") and "made here" in success.value
    assert at.main.selectbox(key="adapt_compare_model").value == MADE  # ready to compare at once

    picker = at.sidebar.selectbox(key=MODEL_PICKER)
    assert f"{MADE} · 64d · made here" in picker.options
    picker.set_value(MADE).run()
    no_exception(at)
    (card,) = [e for e in at.sidebar.expander if e.label == f"Made here from '{LIBRARY}'"]
    text = " ".join(c.value for c in card.caption)
    for fact in ("all-MiniLM-L6-v2 (fingerprint 0123abcd)", f"{LIBRARY} · 3 chunks", "sample 0", "torch 2.13.0"):
        assert fact in text
    assert "**dims** 64" in text and "**epochs** best 5 of 7 run (at most 5)" in text
    by_label(at.main.button, "Dismiss").click().run()
    assert not at.main.success


# --- Compare at once -------------------------------------------------------------------------------


def rows_of(at) -> list[dict]:
    (frame,) = [d.value for d in at.main.dataframe]
    return frame.to_dict("records")


def test_compare_at_once_indexes_the_library_and_shows_one_table_from_a_real_evaluation(app_store, tmp_path):
    indexed_library(app_store, tmp_path)
    make_here()
    at = open_adapt()
    assert at.main.radio(key="adapt_compare_source").value == "judgments"
    by_label(at.main.button, f"Compare {MADE} with {BUNDLED_LARGE} and BM25").click().run()
    no_exception(at)
    assert wait_for_job(shared.jobs(), library_job_key(LIBRARY)).status == "done"
    at.run()
    no_exception(at)
    assert app_store.catalog.find(LIBRARY, MADE) is not None  # indexed from the stored chunks
    assert app_store.index(LIBRARY, MADE).count_documents() == len(SEED)

    # The numbers are an evaluation of the real indexes: the same as the Judgments page's evaluation gives.
    embedders = {MADE: load_embedder(MADE), BUNDLED_LARGE: load_embedder(BUNDLED_LARGE)}
    modes = [SearchMode.DENSE, SearchMode.HYBRID, SearchMode.KEYWORD]
    expected = {(r.model, r.mode): r for r in evaluate_judgments(app_store, LIBRARY, embedders, modes).results}
    rows = rows_of(at)
    assert [r["run"] for r in rows] == [
        f"{MADE} (made here) · dense",
        f"{MADE} (made here) · hybrid",
        f"{BUNDLED_LARGE} · dense",
        f"{BUNDLED_LARGE} · hybrid",
        BM25,
    ]
    keys = [(MADE, "dense"), (MADE, "hybrid"), (BUNDLED_LARGE, "dense"), (BUNDLED_LARGE, "hybrid")]
    for row, key in zip(rows, keys + [(BUNDLED_LARGE, "keyword")], strict=True):
        i = expected[key].metrics["ndcg@10"]
        assert row["nDCG@10"] == interval_text(i.mean, i.low, i.high)
    made_scores = list(expected[(MADE, "dense")].per_query["ndcg@10"].values())
    for row, key in zip(rows[1:], keys[1:] + [(BUNDLED_LARGE, "keyword")], strict=True):
        other = list(expected[key].per_query["ndcg@10"].values())
        assert float(row["made here minus it (nDCG@10)"]) == pytest.approx(
            paired_difference(other, made_scores).diff, abs=1e-4
        )
    assert rows[0]["better (nDCG@10)"] == "(the model made here)"
    downloads = at.main.get("download_button")
    assert [d.proto.label for d in downloads] == ["Report (JSON)", "Results (CSV)", "Per-query scores (CSV)"]
    dense = {model: expected[(model, SearchMode.DENSE)].metrics["ndcg@10"].mean for model in embedders}
    assert at.session_state["cost_quality"][LIBRARY] == pytest.approx(dense)  # the Costs page's quality column
    at.run()  # the outcome stays on later reruns
    assert len(rows_of(at)) == 5


def test_the_verdict_names_a_winner_only_where_the_paired_interval_leaves_out_zero():
    def run(model: str, mode: SearchMode, scores: list[float]) -> RunResult:
        per_query = {m: {f"q{i}": s for i, s in enumerate(scores)} for m in ("ndcg@10", "recall@100")}
        metrics = {m: Interval(sum(scores) / len(scores), min(scores), max(scores)) for m in per_query}
        return RunResult(model, mode, "", "lib", metrics, per_query, {}, 0.1)

    made = run(MADE, SearchMode.DENSE, [0.9, 0.8, 0.9, 0.7, 0.8, 0.9])
    worse = run("base", SearchMode.DENSE, [0.5, 0.4, 0.6, 0.3, 0.5, 0.4])  # lower on every query
    better = run("base", SearchMode.KEYWORD, [1.0, 1.0, 1.0, 0.9, 1.0, 1.0])  # higher on every query
    mixed = run("base", SearchMode.HYBRID, [1.0, 0.6, 1.0, 0.5, 1.0, 0.6])  # up and down
    results = [made, worse, better, mixed]
    comparisons = compare_runs(results, RunKey(MADE, SearchMode.DENSE))
    table = verdict_table(EvaluationReport("lib", 6, "", results, comparisons, []))
    verdicts = [row[1] for row in table.rows]
    assert verdicts == [
        "(the model made here)",
        f"{MADE} dense, by 0.383",
        "BM25, by 0.150",
        "no clear difference",
    ]
    assert table.rows[1][4] == "+0.3833"  # the made model minus the other run


def test_compare_on_a_labelled_collection_evaluates_both_models_there_as_evaluate_does(app_store, tmp_path):
    indexed_library(app_store, tmp_path, judged=False)
    make_here()
    folder = write_tiny_collection(tmp_path / "tiny")
    found = compare_made(app_store, LIBRARY, MADE, BUNDLED_LARGE, folder)
    report = found.report
    assert report.dataset == "tiny" and report.queries == 4
    assert report.indexing[0].library == LIBRARY and report.indexing[0].model == MADE
    assert app_store.catalog.find(evaluation_library("tiny", default_chunking()), MADE) is not None
    assert [(r.model, str(r.mode)) for r in report.results] == [
        (MADE, "dense"),
        (MADE, "hybrid"),
        (BUNDLED_LARGE, "dense"),
        (BUNDLED_LARGE, "hybrid"),
        (BUNDLED_LARGE, "keyword"),
    ]
    embedders = {MADE: load_embedder(MADE), BUNDLED_LARGE: load_embedder(BUNDLED_LARGE)}
    modes = [SearchMode.DENSE, SearchMode.HYBRID, SearchMode.KEYWORD]
    expected = evaluate_collection(folder, embedders, modes, app_store, default_chunking())
    means = {(r.model, r.mode): r.metrics["ndcg@10"].mean for r in expected.results}
    assert [r.metrics["ndcg@10"].mean for r in report.results] == [means[(r.model, r.mode)] for r in report.results]
    assert {c.baseline for c in report.comparisons} == {RunKey(MADE, SearchMode.DENSE)}
    assert set(found.queries) == {"q1", "q2", "q3", "q4"}


def test_compare_refuses_a_model_as_its_own_base_and_a_library_without_judgments(app_store, tmp_path):
    indexed_library(app_store, tmp_path, judged=False)
    make_here()
    with pytest.raises(AdaptError, match="its own base"):
        compare_made(app_store, LIBRARY, MADE, MADE)
    with pytest.raises(JudgmentError, match="mark some hits"):
        compare_made(app_store, LIBRARY, MADE, BUNDLED_LARGE)
    assert app_store.catalog.find(LIBRARY, MADE) is None  # refused before anything was indexed


def test_the_command_compares_a_made_model_with_the_librarys_only_other_index(app_store, tmp_path, capsys):
    indexed_library(app_store, tmp_path)
    make_here()
    assert default_base(app_store, LIBRARY, MADE, load_settings()) == BUNDLED_LARGE
    app_store.close()  # the command opens the database itself
    assert main(["compare-made", "--library", LIBRARY, "--model", MADE, "--quiet"]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith(f"{LIBRARY} (judgments): {len(JUDGED)} judged queries")
    assert f"{MADE} (made here) · dense" in out and "\nBM25 " in out and "made here minus it (nDCG@10)" in out
    assert main(["compare-made", "--library", LIBRARY, "--model", MADE, "--quiet", "--json"]) == EXIT_OK
    payload = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["mode"]) for r in payload["results"]][-1] == (BUNDLED_LARGE, "keyword")
    assert payload["comparisons"][0]["baseline"]["model"] == MADE
    assert main(["compare-made", "--library", LIBRARY, "--model", MADE, "--base", "nope"]) == EXIT_ERROR


def test_a_made_model_shows_on_the_costs_page_as_made_here(app_store, tmp_path):
    indexed_library(app_store, tmp_path, judged=False)
    make_here()
    index_texts(app_store, tmp_path / "docs", LIBRARY, MADE, SEED)
    at = new_app().run()
    at.sidebar.selectbox(key="library_choice").set_value(LIBRARY).run()
    open_page(at, COSTS)
    at.main.button(key="costs_measure").click().run()
    assert wait_for_job(shared.jobs(), f"costs|{LIBRARY}").status == "done"
    at.run()
    no_exception(at)
    sources = {row["model"]: row["source"] for row in costs_table(at)}
    assert sources == {BUNDLED_LARGE: "bundled", MADE: "made here"}
