"""core.evaluate.report: the Evaluate page's tables, chart data, disagreement ranking and exports."""

from __future__ import annotations

import csv
import io
import json

import pytest

from core.evaluate.datasets import EvaluationError
from core.evaluate.metrics import MEASURES
from core.evaluate.report import (
    EvaluationRun,
    collection_name,
    comparison_table,
    disagreement_table,
    disagreements,
    metric_points,
    neutralise,
    per_query_table,
    query_differences,
    report_json,
    results_csv_table,
    results_table,
    save_collection,
    table_csv,
)
from core.evaluate.results import EvaluationReport, RunResult
from core.evaluate.runs import compare_runs
from core.evaluate.stats import bootstrap_ci
from core.types import SearchMode

QUERIES = {"q1": "=HYPERLINK(evil)", "q2": "turing", "q3": "bread", "q4": "-minus first"}
# nDCG@10 per query and run; other measures follow from it so every measure has every query.
NDCG = {
    ("a", SearchMode.DENSE): {"q1": 1.0, "q2": 0.5, "q3": 0.0, "q4": 0.2},
    ("a", SearchMode.KEYWORD): {"q1": 1.0, "q2": 0.0, "q3": 1.0, "q4": 0.2},
    ("b", SearchMode.DENSE): {"q1": 0.9, "q2": 1.0, "q3": 0.5, "q4": 0.2},
}


def _result(model: str, mode: SearchMode, ndcg: dict[str, float]) -> RunResult:
    per_query = {m: {q: s * (i + 1) / len(MEASURES) for q, s in ndcg.items()} for i, m in enumerate(MEASURES)}
    per_query["ndcg@10"] = dict(ndcg)
    metrics = {m: bootstrap_ci(list(s.values())) for m, s in per_query.items()}
    return RunResult(model, mode, "whole", "eval:t:whole", metrics, per_query, {}, 0.25)


@pytest.fixture
def run() -> EvaluationRun:
    results = [_result(model, mode, scores) for (model, mode), scores in NDCG.items()]
    report = EvaluationReport("t", 4, "whole", results, compare_runs(results, ("a", SearchMode.DENSE)), [])
    return EvaluationRun("folder", report, dict(QUERIES), {q: {"d": 1} for q in QUERIES})


def test_results_table_shows_each_measure_as_mean_and_interval(run):
    table = results_table(run.report)
    assert table.columns == ["model", "mode", "nDCG@10", "Recall@10", "Recall@100", "MRR@10", "MAP@100", "seconds"]
    first = table.records()[0]
    i = run.report.results[0].metrics["ndcg@10"]
    assert (first["model"], first["mode"]) == ("a", "dense")
    assert first["nDCG@10"] == f"{i.mean:.4f} [{i.low:.3f}, {i.high:.3f}]" and i.mean == pytest.approx(0.425)


def test_comparison_table_has_a_row_per_other_run_and_measure(run):
    rows = comparison_table(run.report).records()
    assert [(r["model"], r["mode"]) for r in rows] == [("a", "keyword")] * 5 + [("b", "dense")] * 5
    ndcg_b = next(r for r in rows if r["model"] == "b" and r["measure"] == "nDCG@10")
    assert ndcg_b["diff"] == pytest.approx((0.65 - 0.425), abs=1e-4)
    assert 0 <= ndcg_b["p-value"] <= 1 and ndcg_b["95% CI"].startswith("[")


def test_disagreements_rank_queries_by_spread_of_ndcg_with_their_text(run):
    ranked = disagreements(run)
    assert [d.query_id for d in ranked] == ["q2", "q3", "q1", "q4"]  # spreads 1.0, 1.0, 0.1, 0.0; ties in order
    assert ranked[0].spread == 1.0 and ranked[0].query == "turing"
    assert ranked[0].scores == {"a · dense": 0.5, "a · keyword": 0.0, "b · dense": 1.0}
    assert ranked[-1].spread == 0.0
    table = disagreement_table(ranked)
    assert table.columns == ["query_id", "query", "spread", "a · dense", "a · keyword", "b · dense"]
    assert table.rows[1][:3] == ["q3", "bread", 1.0]


def test_query_differences_are_against_the_baseline_largest_gain_first(run):
    found = query_differences(run)
    b = [(d.query_id, d.diff, d.order) for d in found if d.run == "b · dense"]
    assert [q for q, _, _ in b] == ["q2", "q3", "q4", "q1"]
    assert [round(diff, 6) for _, diff, _ in b] == [0.5, 0.5, 0.0, -0.1] and [o for *_, o in b] == [1, 2, 3, 4]
    assert {d.run for d in found} == {"a · keyword", "b · dense"}  # the baseline is not compared with itself


def test_metric_points_hold_every_run_and_measure_with_its_interval(run):
    points = metric_points(run.report)
    assert len(points) == 3 * 5
    p = next(p for p in points if p.run == "b · dense" and p.measure == "nDCG@10")
    i = run.report.results[2].metrics["ndcg@10"]
    assert (p.mean, p.low, p.high) == (i.mean, i.low, i.high) and p.low <= p.mean <= p.high


def test_per_query_table_has_every_query_and_run_with_every_measure(run):
    table = per_query_table(run)
    assert table.columns == ["query_id", "query", "model", "mode", *MEASURES]
    assert len(table.rows) == 4 * 3
    row = next(r for r in table.records() if r["query_id"] == "q2" and r["model"] == "b")
    assert row["query"] == "turing" and row["ndcg@10"] == 1.0


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx"])
def test_formula_like_text_cells_get_a_single_quote(cell):
    assert neutralise(cell) == "'" + cell


def test_plain_text_and_numbers_are_left_as_they_are():
    assert neutralise("turing") == "turing" and neutralise(-0.5) == -0.5 and neutralise("a=b") == "a=b"


def test_csv_exports_neutralise_query_text_and_read_back(run):
    rows = list(csv.reader(io.StringIO(table_csv(per_query_table(run)).decode("utf-8"))))
    assert rows[0] == ["query_id", "query", "model", "mode", *MEASURES]
    texts = {r[0]: r[1] for r in rows[1:]}
    assert texts["q1"] == "'=HYPERLINK(evil)" and texts["q4"] == "'-minus first" and texts["q2"] == "turing"
    results = list(csv.DictReader(io.StringIO(table_csv(results_csv_table(run.report)).decode("utf-8"))))
    assert [(r["model"], r["mode"]) for r in results] == [("a", "dense"), ("a", "keyword"), ("b", "dense")]
    assert float(results[0]["ndcg@10 mean"]) == pytest.approx(0.425)
    assert float(results[0]["ndcg@10 ci95 low"]) <= 0.425 <= float(results[0]["ndcg@10 ci95 high"])


def test_report_json_is_the_cli_json(run):
    assert json.loads(report_json(run.report)) == run.report.as_dict()


def test_uploads_are_saved_as_a_collection_folder_named_safely(tmp_path):
    folder = save_collection(tmp_path, "../My set!", b"corpus", b"queries", b"q 0 d 1\n")
    assert folder.parent == tmp_path / "evaluations" and folder.name == "My-set"
    assert (folder / "qrels.tsv").read_bytes() == b"q 0 d 1\n" and (folder / "corpus.jsonl").read_bytes() == b"corpus"
    assert collection_name(folder) == "My-set"


def test_a_folder_missing_a_file_is_refused_naming_it(tmp_path):
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "corpus.jsonl").write_text("")
    with pytest.raises(EvaluationError, match=r"queries\.jsonl, qrels\.tsv"):
        collection_name(tmp_path / "set")
    with pytest.raises(EvaluationError, match="is not a folder"):
        collection_name(tmp_path / "nowhere")
