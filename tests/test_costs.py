"""The cost panel: each indexed model's size, storage, encode rate and query latency, measured once per index state."""

from __future__ import annotations

import json
import statistics
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

import core.insight.costs
from core.access import os_actor
from core.config import load_settings
from core.embed.loading import load_embedder
from core.errors import ModelUnavailableError
from core.ingest.index_time import index_time
from core.insight.costs import (
    ChartPoint,
    CostAxis,
    CostChart,
    CostRecord,
    ModelCost,
    cost_chart,
    cost_states,
    first_sentence,
    kept_cost,
    measure_costs,
    quality_from_report,
    sample_texts,
    setting_key,
)
from core.service.costs import measure_library_costs
from core.sizes import format_count
from pages import shared
from pages.cost_chart import LABEL_FONT_PX, cost_bars
from tests.apptest_helpers import (
    JOB_TIMEOUT,
    arrow_frame,
    costs_table,
    new_app,
    no_exception,
    open_page,
    restart,
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
    report = measure_costs(store, "Papers", load_embedder, lambda *p: seen.append(p))
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


def _counting_measurements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The models measure_model is called for, in order."""
    measured: list[str] = []
    real = core.insight.costs.measure_model

    def counting(store, library, embedder, *args, **kwargs):
        measured.append(embedder.info.name)
        return real(store, library, embedder, *args, **kwargs)

    monkeypatch.setattr(core.insight.costs, "measure_model", counting)
    return measured


def test_a_kept_measurement_is_not_taken_again_until_the_index_changes(store, tmp_path, monkeypatch):
    _index_both(store, tmp_path)
    measured = _counting_measurements(monkeypatch)
    first = measure_costs(store, "Papers", load_embedder)
    again = measure_costs(store, "Papers", load_embedder)
    assert sorted(measured) == [BUNDLED_LARGE, BUNDLED_SMALL] and again.measured == 0
    assert again.costs == first.costs and again.records == first.records
    index_texts(store, tmp_path / "more", "Papers", BUNDLED_SMALL, {"more.txt": "Turing was born in London."})
    third = measure_costs(store, "Papers", load_embedder)
    assert measured[2:] == [BUNDLED_SMALL] and third.measured == 1  # only the index that grew
    small = next(c for c in third.costs if c.model == BUNDLED_SMALL)
    assert small.chunks == store.index("Papers", BUNDLED_SMALL).count() == first.costs[1].chunks + 1


def test_each_measurement_is_kept_in_the_database_with_what_it_was_measured_on(store, tmp_path):
    _index_both(store, tmp_path)
    report = measure_costs(store, "Papers", load_embedder)
    store.close()  # a restart: nothing of the process that measured is left
    from core.storage.milvus import MilvusStore

    reopened = MilvusStore()
    try:
        for record in report.records:
            meta = reopened.catalog.find("Papers", record.cost.model)
            assert kept_cost(reopened, "Papers", record.cost.model) == record
            assert record.kept and record.fingerprint == meta.fingerprint
            assert record.chunks == reopened.index("Papers", record.cost.model).count()
        states = cost_states(reopened, "Papers", reopened.library_stats("Papers"))
        assert [(s.model, s.current, s.stale) for s in states] == [(BUNDLED_LARGE, True, ""), (BUNDLED_SMALL, True, "")]
    finally:
        reopened.close()


def test_measuring_again_replaces_the_kept_measurement(store, tmp_path, monkeypatch):
    _index_both(store, tmp_path)
    first = measure_costs(store, "Papers", load_embedder)
    real = core.insight.costs.measure_model

    def marked(*args, **kwargs):  # the second measurement, told apart from the first whatever the timings
        return replace(real(*args, **kwargs), query_ms=(42.0,))

    monkeypatch.setattr(core.insight.costs, "measure_model", marked)
    assert measure_costs(store, "Papers", load_embedder).measured == 0  # current: kept, not measured
    again = measure_costs(store, "Papers", load_embedder, again=True)
    assert again.measured == 2 and [r.cost.query_ms for r in again.records] == [(42.0,), (42.0,)]
    for before, after in zip(first.records, again.records, strict=True):
        assert after.measured_at >= before.measured_at
        assert kept_cost(store, "Papers", after.cost.model) == after  # one record per model: the new one


def test_a_measurement_is_stale_once_the_chunk_count_or_the_weights_change(store, tmp_path):
    index_texts(store, tmp_path / "docs", "Papers", BUNDLED_SMALL, DOCS)
    (record,) = measure_costs(store, "Papers", load_embedder).records
    index_texts(store, tmp_path / "more", "Papers", BUNDLED_SMALL, {"more.txt": "Turing was born in London."})
    (stats,) = store.library_stats("Papers")
    (state,) = cost_states(store, "Papers", [stats])
    assert state.record == record and not state.current  # shown, but not as current
    assert state.stale == f"measured at {record.chunks} chunks, the index now holds {record.chunks + 1} chunks"
    other_weights = replace(stats, meta=replace(stats.meta, fingerprint="0" * 16), chunks=record.chunks)
    assert record.stale(other_weights) == "the model's weights changed since"
    assert record.stale(replace(stats, chunks=record.chunks)) == ""
    # Counts in the reason keep every digit: 2,595 and 2,600 chunks both read "2.6k" as a magnitude.
    big = replace(record, chunks=2_595)
    assert big.stale(replace(stats, chunks=2_600)) == "measured at 2,595 chunks, the index now holds 2,600 chunks"


def test_a_kept_value_from_another_version_reads_as_not_measured(store, tmp_path):
    index_texts(store, tmp_path / "docs", "Papers", BUNDLED_SMALL, DOCS)
    for odd in ({"cost": {"model": BUNDLED_SMALL}}, {"recall": 0.9}, "7 ms", None):
        store.catalog.set_setting("Papers", setting_key(BUNDLED_SMALL), odd)
        assert kept_cost(store, "Papers", BUNDLED_SMALL) is None
        (state,) = cost_states(store, "Papers", store.library_stats("Papers"))
        assert state.record is None and not state.stale


def test_a_reader_measures_but_keeps_nothing_and_is_told_why(store, tmp_path):
    index_texts(store, tmp_path / "docs", "Papers", BUNDLED_SMALL, DOCS)
    reader = os_actor(replace(load_settings(), read_only=True))
    report = measure_library_costs(store, "Papers", load_embedder, actor=reader)
    assert report.measured == 1 and not report.records[0].kept
    assert "POTION_READ_ONLY" in report.not_kept and report.not_kept.startswith("Cannot keep cost measurements")
    assert kept_cost(store, "Papers", BUNDLED_SMALL) is None
    # What the reader measured is shown where it is newer than what is kept, and still says it was not kept.
    (state,) = cost_states(store, "Papers", store.library_stats("Papers"), report.records)
    assert state.current and state.record == report.records[0]
    writer = os_actor(load_settings())
    kept = measure_library_costs(store, "Papers", load_embedder, actor=writer)
    assert kept.not_kept == "" and kept.records[0].kept
    assert kept_cost(store, "Papers", BUNDLED_SMALL) == kept.records[0]


def test_a_model_that_cannot_be_loaded_is_skipped_with_the_reason(store, tmp_path):
    _index_both(store, tmp_path)

    def load(name: str):
        if name == BUNDLED_SMALL:
            raise ModelUnavailableError(f"{name} is not in the local cache.")
        return load_embedder(name)

    report = measure_costs(store, "Papers", load)
    assert [c.model for c in report.costs] == [BUNDLED_LARGE]
    assert [(s.model, s.reason) for s in report.skipped] == [
        (BUNDLED_SMALL, f"{BUNDLED_SMALL} is not in the local cache.")
    ]
    assert kept_cost(store, "Papers", BUNDLED_SMALL) is None  # nothing kept for what was not measured
    assert measure_costs(store, "Papers", load_embedder).measured == 1  # the skipped one is tried again


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


# --- the chart ----------------------------------------------------------------------------------------------

# A catalog id, a name cut at the right edge before ("minilm-static-25…") and capitals, the widest letters.
LONG_NAMES = ["minilm-static-256", "minishlab/potion-multilingual-128M", "MY-WIDE-MODEL@128D+INT8"]


def test_every_quantitative_axis_starts_at_zero_so_a_3_percent_difference_looks_like_3_percent():
    # The 2,595-chunk library's numbers: latency 1.590 vs 1.642 ms was drawn from 1.590, rate from 5,000.
    plotted = CostChart(
        str(CostAxis.QUERY_P50),
        "Encode rate (chunks/s)",
        [ChartPoint(BUNDLED_LARGE, 1.642, 5_150.0), ChartPoint(BUNDLED_SMALL, 1.590, 5_310.0)],
    )
    cost, benefit = (chart.to_dict() for chart in cost_bars(plotted))
    for spec, title in ((cost, plotted.x_title), (benefit, plotted.y_title)):
        quantitative = [c for c in spec["encoding"].values() if isinstance(c, dict) and c["type"] == "quantitative"]
        assert quantitative, spec["encoding"]
        for channel in quantitative:
            assert channel["scale"]["zero"] is True and channel["scale"].get("type", "linear") == "linear"
        assert spec["encoding"]["x"]["title"] == title and spec["mark"]["type"] == "bar"
    assert [(r["model"], r["value"]) for r in cost["data"]["values"]] == [(p.model, p.x) for p in plotted.points]
    assert [(r["model"], r["value"]) for r in benefit["data"]["values"]] == [(p.model, p.y) for p in plotted.points]


def test_every_model_name_is_an_axis_label_long_enough_to_show_it_whole():
    from PIL import ImageFont

    font = ImageFont.load_default(size=LABEL_FONT_PX)  # a proportional font at the size the axis sets
    plotted = CostChart("cost", "benefit", [ChartPoint(name, 1.0, 2.0) for name in LONG_NAMES])
    for chart in cost_bars(plotted):
        spec = chart.to_dict()
        # Names label the y axis, laid out inside the chart, instead of text placed beside points at its edge.
        assert spec["mark"]["type"] == "bar" and spec["encoding"]["y"]["field"] == "model"
        axis = spec["encoding"]["y"]["axis"]
        assert axis["labelFontSize"] == LABEL_FONT_PX
        assert axis["labelLimit"] >= max(font.getlength(name) for name in LONG_NAMES)
        assert spec["encoding"]["y"]["sort"] == LONG_NAMES  # the table's order, not alphabetical


# --- the page -----------------------------------------------------------------------------------------------


def _bars(at) -> list[list[dict]]:
    """Each bar chart's data, the cost first, then quality or encode rate: {model, value} per bar."""
    found = []
    for chart in at.main.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        assert spec["mark"]["type"] == "bar" and spec["encoding"]["x"]["scale"]["zero"] is True
        # Streamlit sends the chart's data beside the spec, as Arrow.
        found.append(arrow_frame(chart.proto.data.data).to_dict("records"))
    return found


def _measure_and_wait(at, label: str, key: str = "costs_measure"):
    """Click the page's measure button, wait for the job and show the page after it; the job's state."""
    button = at.main.button(key=key)
    assert button.label == label
    button.click().run()
    no_exception(at)
    job = wait_for_job(shared.jobs(), "costs|Papers")
    assert job.error is None, job.error
    at.run()
    no_exception(at)
    return job


def _when(record: CostRecord) -> str:
    """When the record was measured, as the table's UTC column should show it."""
    return datetime.fromisoformat(record.measured_at).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


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
    for row, record in zip(rows, job.result.records, strict=True):
        cost, info = record.cost, load_embedder(row["model"]).info
        assert (row["state"], row["measured (UTC)"]) == ("current", _when(record))
        assert row["dims"] == info.dim
        assert row["parameters"] == format_count(info.params) and row["parameters"][-1] in "kM"  # not 1886464
        assert row["bytes / vector"] == info.dim * 4
        chunks = app_store.index("Papers", row["model"]).count()
        assert row["chunks"] == format_count(chunks, exact=True)
        assert row["index vectors (bytes)"] == chunks * info.dim * 4
        assert row["encode rate (chunks/s)"] == round(cost.encode_rate, 1) and row["encode rate (chunks/s)"] > 0
        assert row["query p50 (ms)"] == round(cost.query_p50_ms, 2) and row["query p50 (ms)"] > 0
        assert row["weights"] == info.dtype and row["nDCG@10"] == "—"
        assert (row["kind"], row["source"]) == (
            "static",
            "bundled",
        )  # a transformer's row says so (tests/test_adapt.py)
        assert row["index time"] == f"{cost.index_seconds:.1f} s"  # recorded when the chunks were indexed
        assert row["index rate (chunks/s)"] == round(cost.index_rate, 1) > 0
    latency, rate = _bars(at)
    assert [(b["model"], b["value"]) for b in latency] == [(c.model, c.query_p50_ms) for c in job.result.costs]
    assert [(b["model"], b["value"]) for b in rate] == [(c.model, c.encode_rate) for c in job.result.costs]
    assert not [b for b in at.main.button if b.key == "costs_measure"]  # everything is measured: nothing to start
    assert at.main.button(key="costs_measure_again").label == "Measure again"

    # A rerun, a bytes-per-vector axis and an evaluation's quality: the same measurements, no new job.
    at.session_state["cost_quality"] = {"Papers": {BUNDLED_SMALL: 0.31, BUNDLED_LARGE: 0.44}}
    at.main.selectbox(key="costs_axis").set_value(str(CostAxis.BYTES_PER_VECTOR)).run()
    no_exception(at)
    assert runner.get("costs|Papers").id == job.id
    assert [r["nDCG@10"] for r in costs_table(at)] == ["0.440", "0.310"]
    (size, quality) = _bars(at)
    assert [(b["value"], q["value"]) for b, q in zip(size, quality, strict=True)] == [(1024.0, 0.44), (256.0, 0.31)]


def test_a_measurement_is_shown_after_a_restart_until_the_index_grows_then_as_stale(app_store, tmp_path):
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, DOCS)
    at = new_app().run()
    open_page(at, COSTS)
    job = _measure_and_wait(at, "Measure 1 model")
    (record,) = job.result.records
    try:
        at = restart()
        open_page(at, COSTS)
        assert shared.jobs().get("costs|Papers") is None  # a new process: no job, nothing measured in it
        (row,) = costs_table(at)
        assert (row["model"], row["state"], row["measured (UTC)"]) == (BUNDLED_SMALL, "current", _when(record))
        assert row["query p50 (ms)"] == round(record.cost.query_p50_ms, 2)
        assert not any("Not measured yet" in c.value for c in at.main.caption)
        assert len(_bars(at)) == 2 and at.main.button(key="costs_measure_again")

        store = shared.store(load_settings())
        index_texts(store, tmp_path / "more", "Papers", BUNDLED_SMALL, {"more.txt": "Turing was born in London."})
        at.run()
        no_exception(at)
        (row,) = costs_table(at)
        assert row["measured (UTC)"] == _when(record)  # still shown, with when it was taken
        grown = f"measured at {record.chunks} chunks, the index now holds {record.chunks + 1} chunks"
        assert row["state"] == f"stale: {grown}"
        assert not at.main.get("vega_lite_chart")  # a stale measurement is not drawn as the index's cost
        again = _measure_and_wait(at, "Measure 1 model")
        (row,) = costs_table(at)
        assert (row["state"], row["chunks"]) == ("current", str(record.chunks + 1))
        assert kept_cost(store, "Papers", BUNDLED_SMALL) == again.result.records[0]  # the new one replaced it
    finally:
        shared.store(load_settings()).close()


def test_a_reader_measures_and_is_told_the_result_is_not_kept(app_store, tmp_path, monkeypatch):
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, DOCS)
    monkeypatch.setenv("POTION_READ_ONLY", "1")
    at = new_app().run()
    open_page(at, COSTS)
    assert any("not kept in the database" in c.value for c in at.main.caption)
    _measure_and_wait(at, "Measure 1 model")
    assert any(i.value.startswith("Measured, but not kept in the database: Cannot keep") for i in at.main.info)
    (row,) = costs_table(at)
    assert row["state"] == "measured here, not kept"
    assert kept_cost(app_store, "Papers", BUNDLED_SMALL) is None
    try:
        at = restart()
        open_page(at, COSTS)
        assert any(f"Not measured yet: {BUNDLED_SMALL}" in c.value for c in at.main.caption)
        assert "vector index" in costs_table(at)[0]  # the only table left is the vector index's
    finally:
        shared.store(load_settings()).close()
