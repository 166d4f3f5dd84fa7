"""An evaluation as the Evaluate page shows it: a run with its query texts, tables, chart data and exports.

Everything here takes a finished `EvaluationReport` (core.evaluate.results) and plain values, so the page only
lays things out. Runs are named "model · mode" wherever several of them share a table or a chart.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.access import Actor, require_write
from core.config import Settings
from core.embed.loading import load_embedder
from core.evaluate.datasets import EvaluationError, Qrels, read_qrels, read_queries
from core.evaluate.metrics import MEASURE_LABELS, MEASURES, difference_interval_text, interval_text, measure_label
from core.evaluate.results import EvaluationReport, RunKey, RunResult
from core.evaluate.runs import evaluate_collection
from core.ingest.chunking import ChunkSettings
from core.ingest.pipeline import no_progress
from core.search.export import neutralise
from core.storage import Store
from core.types import ProgressCallback, SearchMode

COLLECTION_FILES = ("corpus.jsonl", "queries.jsonl", "qrels.tsv")
UPLOADS_FOLDER = "evaluations"  # under the data dir: uploaded collections, one folder per dataset name
SPREAD_MEASURE = "ndcg@10"


@dataclass(frozen=True)
class EvaluationRun:
    """A finished evaluation with what the page needs beyond the report: the judged queries' texts and judgments."""

    folder: str
    report: EvaluationReport
    queries: dict[str, str]  # judged query id -> text, in the order of queries.jsonl
    qrels: Qrels


@dataclass(frozen=True)
class MetricPoint:
    run: str
    measure: str
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class QueryDifference:
    run: str
    query_id: str
    query: str
    diff: float  # run minus baseline
    order: int  # 1 = the query the run gains most on


@dataclass(frozen=True)
class Disagreement:
    query_id: str
    query: str
    spread: float  # highest minus lowest score of the measure across runs
    scores: dict[str, float]  # run label -> score


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[object]]

    def records(self) -> list[dict[str, object]]:
        return [dict(zip(self.columns, row)) for row in self.rows]


def run_label(model: str, mode: SearchMode | str) -> str:
    return f"{model} · {mode}"


def label_of(result: RunResult) -> str:
    return run_label(result.model, result.key.label())


# --- running ---------------------------------------------------------------------------------------


def collection_name(folder: str | Path) -> str:
    """The dataset name of a collection folder (its eval library is named after it), once its files are there."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise EvaluationError(f"{path} is not a folder: point to one holding {', '.join(COLLECTION_FILES)}.")
    missing = [name for name in COLLECTION_FILES if not (path / name).is_file()]
    if missing:
        raise EvaluationError(f"{path} has no {', '.join(missing)}: a collection needs {', '.join(COLLECTION_FILES)}.")
    return path.resolve().name


def save_collection(
    data_dir: str | Path, name: str, corpus: bytes, queries: bytes, qrels: bytes, actor: Actor | None = None
) -> Path:
    """Write uploaded files as a collection folder under the data dir; the same name reuses its folder, and so
    its index (changed documents are replaced, removed ones dropped). Refused to an actor who may only read."""
    require_write(actor, f"save the uploaded collection '{name}'")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.") or "uploaded"
    folder = Path(data_dir) / UPLOADS_FOLDER / safe
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, content in zip(COLLECTION_FILES, (corpus, queries, qrels)):
            (folder / file_name).write_bytes(content)
    except OSError as exc:
        raise EvaluationError(f"Could not save the uploaded collection in {folder} ({exc.strerror or exc}).") from exc
    return folder


def run_evaluation(
    folder: str | Path,
    models: Sequence[str],
    modes: Sequence[SearchMode],
    store: Store,
    chunking: ChunkSettings,
    baseline: tuple[str, SearchMode] | RunKey | None = None,
    progress: ProgressCallback = no_progress,
    settings: Settings | None = None,
    actor: Actor | None = None,
    weights: Sequence[float] = (),
) -> EvaluationRun:
    """evaluate_collection with models named as the app names them, kept with the judged queries' texts; `weights`
    adds a weighted hybrid run per model at each dense share, as `evaluate --weight` does."""
    if not models or not (modes or weights):
        raise EvaluationError("Pick at least one model, and a mode or a hybrid weight, to evaluate.")
    # Offline only: never downloads.
    embedders = {name: load_embedder(name, settings=settings) for name in dict.fromkeys(models)}
    report = evaluate_collection(
        folder, embedders, modes, store, chunking, baseline, progress, settings=settings, actor=actor, weights=weights
    )
    path = Path(folder)
    judged = read_qrels(path / "qrels.tsv")
    queries = {qid: text for qid, text in read_queries(path / "queries.jsonl").items() if judged.get(qid)}
    return EvaluationRun(str(folder), report, queries, {qid: judged[qid] for qid in queries})


# --- tables ----------------------------------------------------------------------------------------


def results_table(report: EvaluationReport) -> Table:
    """One row per model and mode: each measure as "mean [lo, hi]" and the search time."""
    columns = ["model", "mode", *MEASURE_LABELS.values(), "seconds"]
    rows = [
        [
            r.model,
            r.key.label(),
            *(interval_text(r.metrics[m].mean, r.metrics[m].low, r.metrics[m].high) for m in MEASURE_LABELS),
            round(r.seconds, 2),
        ]
        for r in report.results
    ]
    return Table(columns, rows)


def results_csv_table(report: EvaluationReport) -> Table:
    """The results with numbers in cells of their own (mean, low, high per measure), for a spreadsheet."""
    columns = ["model", "mode", "chunking"]
    for measure in MEASURES:
        columns += [f"{measure} mean", f"{measure} ci95 low", f"{measure} ci95 high"]
    rows = []
    for r in report.results:
        row: list[object] = [r.model, r.key.label(), r.chunking]
        for measure in MEASURES:
            i = r.metrics[measure]
            row += [i.mean, i.low, i.high]
        rows.append(row)
    return Table(columns + ["seconds"], [row + [r.seconds] for row, r in zip(rows, report.results)])


def comparison_table(report: EvaluationReport) -> Table:
    """One row per other run and measure: difference of means against the baseline, its interval and p-value."""
    rows = [
        [
            c.other.model,
            c.other.label(),
            measure_label(c.metric),
            round(c.difference.diff, 4),
            difference_interval_text(c.difference.low, c.difference.high),
            round(c.difference.p_value, 4),
        ]
        for c in report.comparisons
    ]
    return Table(["model", "mode", "measure", "diff", "95% CI", "p-value"], rows)


def baseline_of(report: EvaluationReport) -> RunKey | None:
    return report.comparisons[0].baseline if report.comparisons else None


def per_query_table(run: EvaluationRun) -> Table:
    """Every judged query's score in every measure, one row per query and run."""
    columns = ["query_id", "query", "model", "mode", *MEASURES]
    rows = [
        [qid, run.queries.get(qid, ""), r.model, r.key.label(), *(r.per_query[m][qid] for m in MEASURES)]
        for r in run.report.results
        for qid in r.per_query[MEASURES[0]]
    ]
    return Table(columns, rows)


# --- charts ----------------------------------------------------------------------------------------


def metric_points(report: EvaluationReport) -> list[MetricPoint]:
    return [
        MetricPoint(label_of(r), measure_label(m), i.mean, i.low, i.high)
        for r in report.results
        for m, i in r.metrics.items()
    ]


def query_differences(run: EvaluationRun, measure: str = SPREAD_MEASURE) -> list[QueryDifference]:
    """Each other run's per-query difference from the baseline, largest gain first within a run."""
    baseline = baseline_of(run.report)
    if baseline is None:
        return []
    base = next(r for r in run.report.results if r.key == baseline)
    found = []
    for r in run.report.results:
        if r is base:
            continue
        diffs = [(qid, r.per_query[measure][qid] - score) for qid, score in base.per_query[measure].items()]
        diffs.sort(key=lambda item: -item[1])  # stable: ties keep the queries' order
        found += [
            QueryDifference(label_of(r), qid, run.queries.get(qid, ""), diff, order)
            for order, (qid, diff) in enumerate(diffs, start=1)
        ]
    return found


def disagreements(run: EvaluationRun, measure: str = SPREAD_MEASURE) -> list[Disagreement]:
    """Queries by how much the runs disagree on them (spread of the measure), most first; ties keep query order."""
    results = run.report.results
    if not results:
        return []
    found = []
    for qid in results[0].per_query[measure]:
        scores = {label_of(r): r.per_query[measure][qid] for r in results}
        found.append(Disagreement(qid, run.queries.get(qid, ""), max(scores.values()) - min(scores.values()), scores))
    found.sort(key=lambda d: -d.spread)
    return found


def disagreement_table(found: Sequence[Disagreement]) -> Table:
    runs = list(found[0].scores) if found else []
    return Table(
        ["query_id", "query", "spread", *runs],
        [[d.query_id, d.query, round(d.spread, 4), *(round(d.scores[r], 4) for r in runs)] for d in found],
    )


def relevance_of(document: str, judged: Mapping[str, int]) -> int:
    """The judged grade of a hit's document (0: not judged relevant)."""
    return judged.get(document, 0)


# --- exports ---------------------------------------------------------------------------------------


def table_csv(table: Table) -> bytes:
    """UTF-8 CSV of the table, every text cell neutralised against formula injection."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow([neutralise(c) for c in table.columns])
    for row in table.rows:
        writer.writerow([neutralise(c) for c in row])
    return buffer.getvalue().encode("utf-8")


def table_text(table: Table) -> str:
    """The table as aligned plain text, as the command line prints it: a header line, then a line per row."""
    cells = [[str(c) for c in table.columns]] + [[str(c) for c in row] for row in table.rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(table.columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells)


def report_json(report: EvaluationReport) -> bytes:
    """The JSON `python -m core evaluate --json` prints, as a file."""
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2).encode("utf-8")
