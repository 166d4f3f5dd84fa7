"""Saved runs and their diffs as tables (core.evaluate.report.Table), so the command line prints what a page shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.evaluate.metrics import MEASURES, difference_interval_text, interval_text, measure_label
from core.evaluate.report import Table
from core.evaluate.results import TUNED
from core.evaluate.run_diff import QueryDiff, RunDiff
from core.evaluate.saved import HEADLINE, RunSummary, SavedRun

CHANGED_SHOWN = 10  # queries that moved most, in a diff's text
GAINED_LOST_SHOWN = 5  # queries that gained most and that lost most, in the command line's diff


def run_record(summary: RunSummary) -> dict:
    """What a listing gives of a run: `python -m core runs list --json`, one per run."""
    return {
        "id": summary.id,
        "name": summary.name,
        "created": summary.created,
        "dataset": summary.evaluated,
        "library": summary.library,
        "model": summary.model,
        "mode": summary.mode,
        "fusion": summary.fusion,
        "weight": summary.weight,
        "chunking": summary.chunking,
        "queries": summary.queries,
        HEADLINE: summary.means.get(HEADLINE),
    }


def runs_table(summaries: Sequence[RunSummary]) -> Table:
    """One row per run, newest first as given: short id, time, what was evaluated, settings, nDCG@10, name."""
    rows = [
        [
            s.id[:12],
            s.created[:16].replace("T", " "),
            s.evaluated,
            s.settings_label,
            f"{s.means.get(HEADLINE, 0.0):.4f}",
            s.queries,
            s.name,
        ]
        for s in summaries
    ]
    return Table(["id", "created", "dataset", "run", measure_label(HEADLINE), "queries", "name"], rows)


def run_facts(run: SavedRun) -> list[tuple[str, str]]:
    """What made the run, as (label, value) lines."""
    s = run.summary
    return [
        ("id", s.id),
        ("name", s.name),
        ("created", f"{s.created} (Potion Search {s.version})"),
        ("evaluated", f"{s.evaluated}, {s.queries} judged queries (judgments sha256 {s.qrels_hash[:16]})"),
        ("library", s.library),
        ("model", f"{s.model} (fingerprint {s.fingerprint or 'unknown'})"),
        ("search", s.key.label() + (f", weight {s.weight:g} on all queries" if s.fusion == TUNED else "")),
        ("chunking", s.chunking or "the library's"),
        ("vector index", s.vector_index or "unknown"),
    ]


def metrics_table(metrics: Mapping) -> Table:
    """Each measure's mean with its 95% interval."""
    rows = [[measure_label(m), interval_text(i.mean, i.low, i.high)] for m, i in metrics.items()]
    return Table(["measure", "mean [95% CI]"], rows)


def diff_metrics_table(diff: RunDiff) -> Table:
    """Each measure of B against A on the shared queries: both means, the difference, its interval and p-value."""
    rows = [
        [
            measure_label(m.metric),
            f"{m.a:.4f}",
            f"{m.b:.4f}",
            f"{m.difference.diff:+.4f}",
            difference_interval_text(m.difference.low, m.difference.high),
            f"{m.difference.p_value:.4f}",
        ]
        for m in diff.metrics
        if m.metric in MEASURES
    ]
    return Table(["measure", "A", "B", "diff", "95% CI", "p-value"], rows)


def changed_table(
    diff: RunDiff, queries: Mapping[str, str], limit: int = CHANGED_SHOWN, chosen: Sequence[QueryDiff] | None = None
) -> Table:
    """The queries whose nDCG@10 moved most (or those `chosen`), with both scores, the change and how far the
    rankings agree."""
    agreement = {g.query_id: g for g in diff.agreement}
    rows = [
        [
            q.query_id,
            " ".join(queries.get(q.query_id, "").split())[:60],
            f"{q.a:.4f}",
            f"{q.b:.4f}",
            f"{q.diff:+.4f}",
            f"{agreement[q.query_id].overlap:.2f}",
            f"{agreement[q.query_id].rbo:.2f}",
        ]
        for q in (diff.per_query[:limit] if chosen is None else chosen)
    ]
    return Table(["query_id", "query", "A", "B", "diff", "overlap@10", "RBO"], rows)
