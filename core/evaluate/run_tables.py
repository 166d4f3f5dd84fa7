"""Saved runs and their diffs as tables (core.evaluate.report.Table), so the command line prints what a page shows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from core.evaluate.judgments import JUDGED_LIBRARY
from core.evaluate.metrics import MEASURES, difference_interval_text, interval_text, measure_label
from core.evaluate.report import Table
from core.evaluate.results import TUNED
from core.evaluate.run_diff import Outcome, QueryDiff, RunDiff
from core.evaluate.saved import HEADLINE, RunSummary, SavedRun, minute_text
from core.evaluate.side_by_side import RankedDocument, SideBySide, grade_text

CHANGED_SHOWN = 10  # queries that moved most, in a diff's text
TABLE_QUERY_CHARS = 60  # of a query's text in a table row; a picker or tooltip has room for QUERY_CHARS
QUERY_CHARS = 80
GAINED_LOST_SHOWN = 5  # queries that gained most and that lost most, in the command line's diff


def query_line(text: str, limit: int = QUERY_CHARS) -> str:
    """A query's text on one line, cut to `limit` characters, as a table, picker or tooltip shows it."""
    return " ".join(text.split())[:limit]


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
            minute_text(s.created),
            s.evaluated,
            s.settings_label,
            f"{s.means.get(HEADLINE, 0.0):.4f}",
            s.queries,
            s.name,
        ]
        for s in summaries
    ]
    return Table(["id", "created", "dataset", "run", measure_label(HEADLINE), "queries", "name"], rows)


def evaluated_label(evaluated: str) -> str:
    """What a run was evaluated on, for people: "scifact", or "Papers (the library's judgments)"."""
    if evaluated.startswith(JUDGED_LIBRARY):
        return f"{evaluated.removeprefix(JUDGED_LIBRARY)} (the library's judgments)"
    return evaluated


def evaluated_choices(summaries: Sequence[RunSummary]) -> list[str]:
    """Every collection or library the runs were evaluated on, once each, in the order listed."""
    return list(dict.fromkeys(s.evaluated for s in summaries))


def run_choice_labels(summaries: Sequence[RunSummary]) -> dict[str, str]:
    """Each run's label in a picker, by id: its name, with its settings and time where the name lacks them, and the
    start of its id where two labels would read the same."""
    labels = {}
    for s in summaries:
        parts = [s.name]
        parts += [part for part in (s.settings_label, minute_text(s.created)) if part not in s.name]
        labels[s.id] = " · ".join(parts)
    counts = Counter(labels.values())
    return {run_id: f"{label} · {run_id[:8]}" if counts[label] > 1 else label for run_id, label in labels.items()}


def run_headline(summary: RunSummary) -> str:
    """The run in one line: "minilm-static-64 hybrid w=0.3 on scifact: nDCG@10 0.6512 over 300 judged queries"."""
    score = f"{measure_label(HEADLINE)} {summary.means.get(HEADLINE, 0.0):.4f} over {summary.queries} judged queries"
    return f"{summary.settings_label} on {evaluated_label(summary.evaluated)}: {score}"


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
            query_line(queries.get(q.query_id, ""), TABLE_QUERY_CHARS),
            f"{q.a:.4f}",
            f"{q.b:.4f}",
            f"{q.diff:+.4f}",
            f"{agreement[q.query_id].overlap:.2f}",
            f"{agreement[q.query_id].rbo:.2f}",
        ]
        for q in (diff.per_query[:limit] if chosen is None else chosen)
    ]
    return Table(["query_id", "query", "A", "B", "diff", "overlap@10", "RBO"], rows)


def shared_text(diff: RunDiff) -> str:
    """How many queries the numbers are over, and, where the runs were judged differently, what each had alone."""
    text = f"Compared on {diff.shared} shared quer{'y' if diff.shared == 1 else 'ies'}"
    if diff.same_judgments:
        return text + " (the same judgments)"
    return text + f" ({diff.only_a} only in A, {diff.only_b} only in B; the runs' judgments differ)"


def outcomes_text(diff: RunDiff) -> str:
    counts = f"{Outcome.BETTER} on {diff.wins}, {Outcome.TIED.lower()} on {diff.ties}, {Outcome.WORSE} on {diff.losses}"
    return f"{measure_label(HEADLINE)} per query: {counts}"


def agreement_text(diff: RunDiff) -> str:
    return f"rankings agree by overlap@10 {diff.mean_overlap:.2f} and RBO {diff.mean_rbo:.2f} (mean over queries)"


def ranking_table(docs: Sequence[RankedDocument], other: str) -> Table:
    """One side of a query's rankings: rank, document, score, its judged grade, and its rank in the `other` run."""
    rows = [
        [d.rank, d.document, f"{d.score:.4f}", grade_text(d.grade), "—" if d.other_rank is None else str(d.other_rank)]
        for d in docs
    ]
    return Table(["rank", "document", "score", "judged", f"rank in {other}"], rows)


def unshown_table(side: SideBySide) -> Table:
    """The relevant documents neither side shows, with where each run ranked them, if at all (of its top 100)."""
    rows = [
        [u.document, grade_text(u.grade_a), grade_text(u.grade_b), _rank_text(u.rank_a), _rank_text(u.rank_b)]
        for u in side.unshown
    ]
    return Table(["document", "judged in A", "judged in B", "rank in A", "rank in B"], rows)


def _rank_text(rank: int | None) -> str:
    return "not ranked" if rank is None else str(rank)
