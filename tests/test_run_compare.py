"""What the Runs page shows of runs compared, computed in core: each query's two rankings side by side with the
grades each run's judgments give, the outcome of every query, the lines and labels the page and `runs diff` print,
and the per-query scatter's spec (pages/run_chart.py, read without a browser)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from core import __version__
from core.evaluate.run_diff import Outcome, compare_with_first, diff_runs, outcome
from core.evaluate.run_tables import (
    evaluated_choices,
    evaluated_label,
    ranking_table,
    run_choice_labels,
    run_headline,
    shared_text,
    unshown_table,
)
from core.evaluate.saved import RunSummary, SavedRun, qrels_hash
from core.evaluate.side_by_side import SHOWN, grade_text, side_by_side
from core.service.runs import compare, diff, import_runs
from core.storage.memory import MemoryStore
from core.storage.vector_index import FLAT


def run(
    name: str,
    ranking: dict[str, list[str]],
    qrels: dict[str, dict[str, int]],
    ndcg: dict[str, float],
    created: str = "2026-12-05T21:40:00+00:00",
    evaluated: str = "set",
    weight: float | None = None,
) -> SavedRun:
    """A run with the rankings, judgments and per-query nDCG@10 given (scores falling by 0.1 a rank)."""
    summary = RunSummary(
        id=name.encode().hex().ljust(32, "0")[:32],
        name=name,
        created=created,
        version=__version__,
        evaluated=evaluated,
        library="lib",
        qrels_hash=qrels_hash(qrels),
        queries=len(qrels),
        model="m",
        fingerprint="f",
        mode="hybrid" if weight is not None else "dense",
        fusion="weighted" if weight is not None else None,
        weight=weight,
        chunking="whole",
        vector_index=FLAT.label,
        means={"ndcg@10": sum(ndcg.values()) / len(ndcg)},
    )
    ranked = {q: [(doc, 1.0 - rank / 10) for rank, doc in enumerate(docs)] for q, docs in ranking.items()}
    return SavedRun(summary, {}, {"ndcg@10": ndcg}, ranked, {q: f"text of {q}" for q in qrels}, qrels, 0.0)


def test_each_side_marks_its_documents_with_its_own_judgments_and_the_other_runs_rank():
    a = run("a", {"q1": ["d1", "d2", "d3"]}, {"q1": {"d2": 2, "d3": 0}}, {"q1": 0.5})
    b = run("b", {"q1": ["d2", "d9", "d1"]}, {"q1": {"d2": 2, "d3": 0, "d9": 1}}, {"q1": 0.9})
    side = side_by_side(a, b, "q1")
    assert (side.query, side.score_a, side.score_b) == ("text of q1", 0.5, 0.9)
    assert [(d.rank, d.document, d.grade, d.other_rank) for d in side.a] == [
        (1, "d1", None, 3),  # unjudged by A, third in B
        (2, "d2", 2, 1),
        (3, "d3", 0, None),  # judged not relevant, not in B's top
    ]
    assert [(d.document, d.grade, d.other_rank) for d in side.b] == [("d2", 2, 2), ("d9", 1, None), ("d1", None, 1)]
    assert [d.relevant for d in side.b] == [True, True, False]
    assert side.a[0].score == pytest.approx(1.0) and side.a[1].score == pytest.approx(0.9)
    assert side.unshown == []


def test_relevant_documents_neither_top_holds_are_listed_with_where_each_run_ranked_them():
    deep = [f"x{i}" for i in range(SHOWN)]
    a = run("a", {"q1": [*deep, "gold"]}, {"q1": {"gold": 2, "silver": 1, "x0": 0}}, {"q1": 0.0})
    b = run("b", {"q1": deep}, {"q1": {"gold": 2, "silver": 1, "x0": 0}}, {"q1": 0.0})
    side = side_by_side(a, b, "q1")
    assert len(side.a) == len(side.b) == SHOWN
    assert [(u.document, u.grade_a, u.grade_b, u.rank_a, u.rank_b) for u in side.unshown] == [
        ("gold", 2, 2, SHOWN + 1, None),  # A ranked it eleventh: just out of the top 10
        ("silver", 1, 1, None, None),
    ]
    assert unshown_table(side).rows == [
        ["gold", "relevant (2)", "relevant (2)", "11", "not ranked"],
        ["silver", "relevant (1)", "relevant (1)", "not ranked", "not ranked"],
    ]


def test_a_relevant_document_neither_top_holds_keeps_each_runs_own_grade():
    deep = [f"x{i}" for i in range(SHOWN)]
    a = run("a", {"q1": deep}, {"q1": {"gold": 2}}, {"q1": 0.0})
    b = run("b", {"q1": deep}, {"q1": {"gold": 0, "new": 1}}, {"q1": 0.0})  # B's judges changed their minds
    side = side_by_side(a, b, "q1")
    assert [(u.document, u.grade_a, u.grade_b) for u in side.unshown] == [("gold", 2, 0), ("new", None, 1)]
    assert unshown_table(side).rows[1][1:3] == ["unjudged", "relevant (1)"]


def test_a_query_one_run_did_not_judge_has_no_score_on_that_side():
    a = run("a", {"q1": ["d1"]}, {"q1": {"d1": 1}}, {"q1": 1.0})
    b = run("b", {"q2": ["d1"]}, {"q2": {"d1": 1}}, {"q2": 1.0})
    side = side_by_side(a, b, "q1")
    assert side.score_a == 1.0 and math.isnan(side.score_b) and side.b == []


def test_grades_read_as_relevant_not_relevant_or_unjudged():
    assert [grade_text(g) for g in (None, 0, 1, 3)] == ["unjudged", "not relevant (0)", "relevant (1)", "relevant (3)"]


def test_a_ranking_table_gives_every_column_as_text_a_dash_where_the_other_run_lacks_the_document():
    a = run("a", {"q1": ["d1", "d2"]}, {"q1": {"d1": 1}}, {"q1": 1.0})
    b = run("b", {"q1": ["d2"]}, {"q1": {"d1": 1}}, {"q1": 0.0})
    table = ranking_table(side_by_side(a, b, "q1").a, "B")
    assert table.columns == ["rank", "document", "score", "judged", "rank in B"]
    assert table.rows == [[1, "d1", "1.0000", "relevant (1)", "—"], [2, "d2", "0.9000", "unjudged", "1"]]


def test_every_querys_outcome_is_counted_once_by_the_tie_rule():
    assert [outcome(d) for d in (0.3, 1e-12, -1e-12, -0.2)] == [
        Outcome.BETTER,
        Outcome.TIED,
        Outcome.TIED,
        Outcome.WORSE,
    ]
    scores_a = {"q1": 0.2, "q2": 0.5, "q3": 0.9, "q4": 0.4}
    scores_b = {"q1": 0.7, "q2": 0.5, "q3": 0.1, "q4": 0.6}
    qrels = {q: {"d": 1} for q in scores_a}
    found = diff_runs(run("a", {}, qrels, scores_a), run("b", {}, qrels, scores_b))
    outcomes = [q.outcome for q in found.per_query]
    assert (
        (found.wins, found.ties, found.losses)
        == (
            outcomes.count(Outcome.BETTER),
            outcomes.count(Outcome.TIED),
            outcomes.count(Outcome.WORSE),
        )
        == (2, 1, 1)
    )


def test_the_shared_queries_line_says_what_each_run_had_alone_only_when_the_judgments_differ():
    qrels = {"q1": {"d": 1}, "q2": {"d": 1}, "q3": {"d": 1}}
    same = diff_runs(run("a", {}, qrels, dict.fromkeys(qrels, 1.0)), run("b", {}, qrels, dict.fromkeys(qrels, 0.0)))
    assert shared_text(same) == "Compared on 3 shared queries (the same judgments)"
    fewer = {"q2": {"d": 1}, "q4": {"d": 1}}
    other = diff_runs(run("a", {}, qrels, dict.fromkeys(qrels, 1.0)), run("c", {}, fewer, dict.fromkeys(fewer, 1.0)))
    assert shared_text(other) == "Compared on 1 shared query (2 only in A, 1 only in B; the runs' judgments differ)"


def test_a_picker_labels_a_run_by_name_settings_and_time_once_each_and_tells_equal_labels_apart():
    qrels = {"q1": {"d": 1}}
    default = run("m hybrid w=0.3 · 2026-12-05 21:40", {}, qrels, {"q1": 1.0}, weight=0.3)
    named = run("baseline", {}, qrels, {"q1": 1.0})
    twin = replace(named, summary=replace(named.summary, id="f" * 32))
    labels = run_choice_labels([default.summary, named.summary, twin.summary])
    assert labels[default.id] == "m hybrid w=0.3 · 2026-12-05 21:40"  # its name says it all
    assert labels[named.id] == f"baseline · m dense · 2026-12-05 21:40 · {named.id[:8]}"
    assert labels[twin.id] == "baseline · m dense · 2026-12-05 21:40 · ffffffff"


def test_runs_are_filtered_by_what_they_were_evaluated_on_named_for_people():
    qrels = {"q1": {"d": 1}}
    runs = [
        run(name, {}, qrels, {"q1": 1.0}, evaluated=evaluated)
        for name, evaluated in (("1", "scifact"), ("2", "library:Papers"), ("3", "scifact"))
    ]
    assert evaluated_choices([r.summary for r in runs]) == ["scifact", "library:Papers"]
    assert [evaluated_label(e) for e in ("scifact", "library:Papers")] == [
        "scifact",
        "Papers (the library's judgments)",
    ]
    assert (
        run_headline(runs[1].summary)
        == "m dense on Papers (the library's judgments): nDCG@10 1.0000 over 1 judged queries"
    )


def test_the_service_compares_stored_runs_as_diff_does_and_keeps_them_with_their_texts():
    store = MemoryStore()
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    a = run("a", {"q1": ["d1"], "q2": ["d9"]}, qrels, {"q1": 1.0, "q2": 0.0})
    b = run("b", {"q1": ["d9"], "q2": ["d2"]}, qrels, {"q1": 0.0, "q2": 1.0})
    b = replace(b, queries={"q1": "B's own words", "q2": "text of q2", "q3": "only B"})
    import_runs(store, [a, b])
    compared = compare(store, [a.id[:10], b.id])
    assert [r.id for r in compared.runs] == [a.id, b.id]
    assert compared.diffs == diff(store, [a.id, b.id]) == compare_with_first([a, b]).diffs
    assert compared.queries == {"q1": "text of q1", "q2": "text of q2", "q3": "only B"}  # A's text where both have one


def test_the_scatter_puts_every_shared_query_on_0_to_1_axes_over_the_diagonal():
    from pages.run_chart import COLOURS, per_query_scatter

    qrels = {"q1": {"d": 1}, "q2": {"d": 1}, "q3": {"d": 1}, "q4": {"d": 1}}
    found = diff_runs(
        run("a", {}, qrels, {"q1": 0.2, "q2": 0.5, "q3": 0.9, "q4": 0.5}),
        run("b", {}, qrels, {"q1": 0.7, "q2": 0.5, "q3": 0.1, "q4": 0.5}),
    )
    spec = per_query_scatter(found, {"q1": "first  query"}).to_dict()
    diagonal, points = spec["layer"]
    assert diagonal["mark"]["type"] == "line" and diagonal["data"]["values"] == [
        {"a": 0.0, "b": 0.0},
        {"a": 1.0, "b": 1.0},
    ]
    rows = {p["query_id"]: p for p in points["data"]["values"]}
    assert {q: (p["a"], p["b"], p["outcome"], p["here"]) for q, p in rows.items()} == {
        "q1": (0.2, 0.7, "B better", 1),
        "q2": (0.5, 0.5, "Tied", 2),  # two queries on one point: drawn larger, and the tooltip says so
        "q3": (0.9, 0.1, "B worse", 1),
        "q4": (0.5, 0.5, "Tied", 2),
    }
    assert points["encoding"]["size"]["field"] == "here"
    assert rows["q1"]["query"] == "first query" and rows["q2"]["query"] == ""
    for axis in ("x", "y"):
        assert points["encoding"][axis]["scale"]["domain"] == [0, 1]
        assert diagonal["encoding"][axis]["scale"]["domain"] == [0, 1]
    assert (
        points["encoding"]["x"]["title"] == "A (baseline) nDCG@10" and points["encoding"]["y"]["title"] == "B nDCG@10"
    )
    assert points["encoding"]["color"]["scale"]["domain"] == [str(o) for o in COLOURS] == [str(o) for o in Outcome]
    assert spec["width"] == spec["height"]
