"""The cost panel: each indexed model's size, storage, encode rate and query latency, measured once per index state."""

from __future__ import annotations

import json
import statistics
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

import core.insight.costs
from core.embed.loading import load_embedder
from core.errors import ModelUnavailableError
from core.ingest.index_time import index_time
from core.insight.costs import (
    CostAxis,
    CostCache,
    ModelCost,
    cost_chart,
    first_sentence,
    measure_costs,
    quality_from_report,
    sample_texts,
)
from pages import shared
from tests.apptest_helpers import (
    JOB_TIMEOUT,
    arrow_frame,
    costs_table,
    new_app,
    no_exception,
    open_page,
    wait_for_job,
)
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL, SEED_DOCS, index_texts

COSTS = "pages/costs.py"
DOCS = {f"doc{i}.txt": text for i, text in enumerate(SEED_DOCS)} | {
    "food.txt": "Bake the bread with flour. Then serve it with cheese and soup from the kitchen."
}


def _index_both(store, tmp_path: Path, library: str = "Papers") -> None:
    for model in (BUNDLED_SMALL, BUNDLED_LARGE):
        index_texts(store, tmp_path / model, library, model, DOCS)


class SearchSpy:
    """core.search.query.search as the cost module calls it, keeping each result it returned."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.results: dict[str, list] = {}
        real = core.insight.costs.search

        def spy(query, library, embedder, store, *args, **kwargs):
            result = real(query, library, embedder, store, *args, **kwargs)
            self.results.setdefault(embedder.info.name, []).append(result)
            return result

        monkeypatch.setattr(core.insight.costs, "search", spy)


def test_each_models_costs_are_its_own_numbers_measured_on_the_library(store, tmp_path, monkeypatch):
    _index_both(store, tmp_path)
    searches = SearchSpy(monkeypatch)
    seen: list[tuple[str, int, int]] = []
    report = measure_costs(store, "Papers", CostCache(), load_embedder, lambda *p: seen.append(p))
    assert report.measured == 2 and not report.skipped
    assert [c.model for c in report.costs] == [BUNDLED_LARGE, BUNDLED_SMALL]
    for cost in report.costs:
        info = load_embedder(cost.model).info
        chunks = store.index("Papers", cost.model).count()
        assert (cost.dim, cost.params, cost.file_size_bytes) == (info.dim, info.params, info.file_size_bytes)
        assert cost.params > 0 and cost.file_size_bytes > 0
        assert cost.chunks == chunks == len(store.index("Papers", cost.model).chunk_rows())
        assert cost.bytes_per_vector == {BUNDLED_SMALL: 256, BUNDLED_LARGE: 1024}[cost.model]  # dim * float32
        assert cost.index_bytes == chunks * cost.dim * 4 == store.index("Papers", cost.model).stats().vector_bytes
        assert cost.encoded_chunks == chunks  # a library smaller than the sample is encoded whole
        assert cost.encode_seconds > 0 and cost.encode_rate == pytest.approx(chunks / cost.encode_seconds)
        # One warm-up search (an engine may load the index on the first), then one timed search per query.
        (warm_up, *timed) = searches.results[cost.model]
        assert len(timed) == len(cost.query_ms) == chunks  # fewer chunks than SAMPLE_QUERIES: one query each
        assert cost.query_ms == tuple(r.encode_ms + r.search_ms for r in timed)
        assert all(ms > 0 for ms in cost.query_ms)
        assert cost.query_p50_ms == pytest.approx(statistics.median(cost.query_ms)) and cost.query_p50_ms > 0
        # Index time is what ingest recorded when it wrote these chunks, not measured again here.
        recorded = index_time(store, "Papers", cost.model)
        assert (cost.index_seconds, cost.index_chunks) == (recorded.seconds, recorded.chunks)
        assert cost.index_chunks == chunks and cost.index_rate == pytest.approx(chunks / cost.index_seconds)
        assert cost.dtype == info.dtype
        assert (f"encoding chunks with {cost.model}", chunks, chunks) in seen
        assert (f"querying with {cost.model}", chunks, chunks) in seen


def test_a_kept_measurement_is_not_taken_again_until_the_index_changes(store, tmp_path, monkeypatch):
    _index_both(store, tmp_path)
    measured: list[str] = []
    real = core.insight.costs.measure_model

    def counting(store, library, embedder, *args, **kwargs):
        measured.append(embedder.info.name)
        return real(store, library, embedder, *args, **kwargs)

    monkeypatch.setattr(core.insight.costs, "measure_model", counting)
    cache = CostCache()
    first = measure_costs(store, "Papers", cache, load_embedder)
    again = measure_costs(store, "Papers", cache, load_embedder)
    assert sorted(measured) == [BUNDLED_LARGE, BUNDLED_SMALL] and again.measured == 0
    assert again.costs == first.costs
    index_texts(store, tmp_path / "more", "Papers", BUNDLED_SMALL, {"more.txt": "Turing was born in London."})
    third = measure_costs(store, "Papers", cache, load_embedder)
    assert measured[2:] == [BUNDLED_SMALL] and third.measured == 1  # only the index that grew
    small = next(c for c in third.costs if c.model == BUNDLED_SMALL)
    assert small.chunks == store.index("Papers", BUNDLED_SMALL).count() == first.costs[1].chunks + 1


def test_a_model_that_cannot_be_loaded_is_skipped_with_the_reason(store, tmp_path):
    _index_both(store, tmp_path)

    def load(name: str):
        if name == BUNDLED_SMALL:
            raise ModelUnavailableError(f"{name} is not in the local cache.")
        return load_embedder(name)

    cache = CostCache()
    report = measure_costs(store, "Papers", cache, load)
    assert [c.model for c in report.costs] == [BUNDLED_LARGE]
    assert [(s.model, s.reason) for s in report.skipped] == [
        (BUNDLED_SMALL, f"{BUNDLED_SMALL} is not in the local cache.")
    ]
    assert measure_costs(store, "Papers", cache, load_embedder).measured == 1  # the skipped one is tried again


def test_samples_are_seeded_and_bounded_and_queries_are_first_sentences():
    texts = [f"Chunk {i} says something. And more." for i in range(5_000)]
    picked = sample_texts(texts, 2_000)
    assert len(picked) == 2_000 == len(set(picked)) and picked == sample_texts(texts, 2_000)
    assert picked != sample_texts(texts, 2_000, seed=1)
    assert sample_texts(texts[:3], 2_000) == texts[:3]
    assert first_sentence("  Where was\nTuring born?  He was born in London.") == "Where was Turing born?"
    assert first_sentence("no end " * 100) == ("no end " * 100).strip()[: core.insight.costs.QUERY_CHARS]


def test_rates_and_latency_are_the_arithmetic_of_the_measured_counts():
    cost = ModelCost("m", 64, 1_000, 2_048, 10, 500, 0.25, (3.0, 1.0, 2.0, 10.0))
    assert cost.bytes_per_vector == 256 and cost.index_bytes == 2_560
    assert cost.encode_rate == 2_000.0  # 500 chunks / 0.25 s
    assert cost.query_p50_ms == 2.5


def test_the_chart_puts_quality_on_y_only_where_every_model_has_it():
    a = ModelCost("a", 64, 1, 2 * 1024**2, 10, 10, 0.5, (4.0,))
    b = ModelCost("b", 256, 1, 8 * 1024**2, 10, 10, 1.0, (6.0,))
    rated = cost_chart([a, b], CostAxis.BYTES_PER_VECTOR, {"a": 0.3, "b": 0.45})
    assert rated.y_title == "Quality (nDCG@10)" and rated.x_title == str(CostAxis.BYTES_PER_VECTOR)
    assert [(p.model, p.x, p.y) for p in rated.points] == [("a", 256.0, 0.3), ("b", 1024.0, 0.45)]
    partial = cost_chart([a, b], CostAxis.MODEL_SIZE, {"a": 0.3})
    assert partial.y_title == "Encode rate (chunks/s)"
    assert [(p.x, p.y) for p in partial.points] == [(2.0, 20.0), (8.0, 10.0)]
    assert [p.x for p in cost_chart([a, b], CostAxis.QUERY_P50).points] == [4.0, 6.0]


def test_quality_is_read_from_an_evaluation_reports_dense_runs():
    def run(model, mode, ndcg):
        return SimpleNamespace(model=model, mode=mode, metrics={"ndcg@10": SimpleNamespace(mean=ndcg)})

    report = SimpleNamespace(results=[run("a", "dense", 0.4), run("a", "keyword", 0.6), run("b", "dense", 0.5)])
    assert quality_from_report(report) == {"a": 0.4, "b": 0.5}


# --- the page -----------------------------------------------------------------------------------------------


def _points(at) -> list[dict]:
    (chart,) = at.main.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["circle", "text"]  # points, each labelled
    assert spec["layer"][1]["encoding"]["text"]["field"] == "model"
    # Streamlit sends the chart's data beside the spec, as Arrow.
    return arrow_frame(chart.proto.data.data).to_dict("records")


def test_an_empty_library_says_what_to_do(app_store, monkeypatch):
    at = new_app().run()
    open_page(at, COSTS)
    assert any("has no documents yet" in i.value for i in at.main.info)
    assert not at.main.button and not at.main.dataframe


def test_two_models_are_measured_in_the_background_then_shown_in_one_table_and_a_chart(
    app_store, tmp_path, monkeypatch
):
    _index_both(app_store, tmp_path)
    at = new_app().run()
    open_page(at, COSTS)
    (only,) = at.main.dataframe  # the vector index table: no costs before they are measured
    assert "vector index" in only.value.columns
    release, reached = threading.Event(), threading.Event()
    real = core.insight.costs.measure_model

    def held(store, library, embedder, *args, progress=None, **kwargs):
        progress(f"encoding chunks with {embedder.info.name}", 0, 4)
        reached.set()
        assert release.wait(JOB_TIMEOUT)  # the test looks at the page while the job runs
        return real(store, library, embedder, *args, progress=progress, **kwargs)

    monkeypatch.setattr(core.insight.costs, "measure_model", held)
    measure = at.main.button(key="costs_measure")
    assert measure.label == "Measure 2 models"
    measure.click().run()
    no_exception(at)
    assert reached.wait(JOB_TIMEOUT)  # the job has reported its stage: a run now shows it, however loaded CI is
    at.run()
    (bar,) = at.main.get("progress")
    assert f"encoding chunks with {BUNDLED_LARGE}: 0/4" in bar.proto.text
    release.set()
    runner = shared.jobs()
    job = wait_for_job(runner, "costs|Papers")
    assert job.error is None and job.result.measured == 2
    assert runner.get("library|Papers") is None  # measuring only reads: the library's write key stays free
    at.run()
    no_exception(at)
    rows = costs_table(at)
    assert [r["model"] for r in rows] == [BUNDLED_LARGE, BUNDLED_SMALL]
    for row, cost in zip(rows, job.result.costs, strict=True):
        info = load_embedder(row["model"]).info
        assert (row["dims"], row["parameters"]) == (info.dim, info.params)
        assert row["bytes / vector"] == info.dim * 4
        assert row["chunks"] == app_store.index("Papers", row["model"]).count()
        assert row["index vectors (bytes)"] == row["chunks"] * info.dim * 4
        assert row["encode rate (chunks/s)"] == round(cost.encode_rate, 1) and row["encode rate (chunks/s)"] > 0
        assert row["query p50 (ms)"] == round(cost.query_p50_ms, 2) and row["query p50 (ms)"] > 0
        assert row["weights"] == info.dtype and row["nDCG@10"] == "—"
        assert (row["kind"], row["source"]) == (
            "static",
            "bundled",
        )  # a transformer's row says so (tests/test_adapt.py)
        assert row["index time"] == f"{cost.index_seconds:.1f} s"  # recorded when the chunks were indexed
        assert row["index rate (chunks/s)"] == round(cost.index_rate, 1) > 0
    points = _points(at)
    assert [(p["model"], p["y"]) for p in points] == [(c.model, c.encode_rate) for c in job.result.costs]
    assert [p["x"] for p in points] == [c.query_p50_ms for c in job.result.costs]
    assert not [b for b in at.main.button if b.key == "costs_measure"]  # everything is measured: nothing to start

    # A rerun, a bytes-per-vector axis and an evaluation's quality: the same measurements, no new job.
    at.session_state["cost_quality"] = {"Papers": {BUNDLED_SMALL: 0.31, BUNDLED_LARGE: 0.44}}
    at.main.selectbox(key="costs_axis").set_value(str(CostAxis.BYTES_PER_VECTOR)).run()
    no_exception(at)
    assert runner.get("costs|Papers").id == job.id
    assert [r["nDCG@10"] for r in costs_table(at)] == ["0.440", "0.310"]
    assert [(p["x"], p["y"]) for p in _points(at)] == [(1024.0, 0.44), (256.0, 0.31)]
