"""Saved evaluation runs as the app and the CLI keep, list, compare, move and delete them.

Every evaluation is saved (`save_runs`), which is a write: refused to an actor who may only read, whose evaluation
still shows its numbers but keeps nothing (the edge says so in one line). Deleting and importing runs are recorded
in the audit log; saving one is not (it adds, as evaluating is meant to). A run is named by its id or a unique
prefix of it, as git names commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum

from core.access import Actor, require_write
from core.errors import ReadOnlyError, RunFileError, RunNotFoundError
from core.evaluate.judgments import JUDGED_LIBRARY
from core.evaluate.results import EvaluationReport
from core.evaluate.run_diff import RunComparison, RunDiff, compare_with_first
from core.evaluate.run_files import runs_jsonl, trec_run
from core.evaluate.saved import RunSummary, SavedRun, build_runs, run_from_dict, summary_from_dict
from core.service.audit import AuditAction, record
from core.storage import Store

STORED = "the database"  # where a stored run came from, as an error names it


class ExportFormat(StrEnum):
    TREC = "trec"  # `qid Q0 docid rank score tag`, for trec_eval and ranx
    JSON = "json"  # the whole run, one JSON line: `import_runs` reads it back


def save_runs(
    store: Store, report: EvaluationReport, name: str | None = None, actor: Actor | None = None
) -> list[SavedRun]:
    """Keep every run of the evaluation (named `name`, or by its settings and time); returns them with their ids."""
    require_write(actor, f"save the runs of this evaluation of {report.evaluated or report.dataset}")
    runs = build_runs(report, name)
    for run in runs:
        _put(store, run)
    return runs


@dataclass(frozen=True)
class SaveOutcome:
    """What became of an evaluation's runs: saved, or refused to a reader (whose numbers are still shown)."""

    runs: list[SavedRun]
    refused: str = ""  # the refusal in one sentence, when nothing was kept

    @property
    def message(self) -> str:
        """One line for the page or the terminal: "Saved as run NAME", or why nothing was."""
        if self.refused:
            return f"Not saved as a run: {self.refused}"
        names = ", ".join(run.name for run in self.runs)
        return f"Saved as run {names}" if len(self.runs) == 1 else f"Saved as runs {names}"


def keep_evaluation(
    store: Store, report: EvaluationReport, name: str | None = None, actor: Actor | None = None
) -> SaveOutcome:
    """`save_runs` as every edge that evaluates calls it: a reader's evaluation is kept nowhere, and says so."""
    try:
        return SaveOutcome(save_runs(store, report, name, actor))
    except ReadOnlyError as exc:
        return SaveOutcome([], str(exc))


def list_runs(store: Store, dataset: str | None = None, library: str | None = None) -> list[RunSummary]:
    """Saved runs, newest first; `dataset` keeps a collection's, `library` a library's judgments' runs."""
    found = []
    for stored in store.runs.list():
        try:
            found.append(summary_from_dict(stored, STORED))
        except RunFileError:
            continue  # written by another version in a shape this one cannot read: not listed rather than a crash
    if dataset is not None:
        found = [s for s in found if s.evaluated == dataset]
    if library is not None:
        found = [s for s in found if s.evaluated == f"{JUDGED_LIBRARY}{library}"]
    found.sort(key=lambda s: (s.name, s.id))  # the runs of one evaluation share a time: those by name
    return sorted(found, key=lambda s: s.created, reverse=True)


def find_run(store: Store, ref: str) -> RunSummary:
    """The run whose id is `ref` or starts with it; RunNotFoundError when none or several do."""
    wanted = ref.strip().lower()
    runs = list_runs(store)
    exact = [s for s in runs if s.id == wanted]
    matches = exact or ([s for s in runs if s.id.startswith(wanted)] if wanted else [])
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunNotFoundError(f"There is no saved run with id '{ref}': list them with `python -m core runs list`.")
    raise RunNotFoundError(
        f"The id prefix '{ref}' matches {len(matches)} saved runs ({', '.join(s.id[:12] for s in matches[:3])}…): "
        "give more of the id."
    )


def get_run(store: Store, ref: str) -> SavedRun:
    """The whole run named by id or unique id prefix."""
    summary = find_run(store, ref)
    stored = store.runs.get(summary.id)
    if stored is None:  # deleted since it was listed
        raise RunNotFoundError(f"The saved run '{ref}' is gone: it was deleted meanwhile.")
    return run_from_dict(stored, f"saved run {summary.id}")


def compare(store: Store, refs: Sequence[str]) -> RunComparison:
    """The runs named, each after the first against the first (B minus A) on the queries both judged, kept with the
    runs so their query texts and rankings can be shown (the Runs page, `runs diff`)."""
    return compare_with_first([get_run(store, ref) for ref in refs])


def diff(store: Store, refs: Sequence[str]) -> list[RunDiff]:
    """Each run after the first against the first (B minus A), on the queries both judged."""
    return compare(store, refs).diffs


def delete_run(store: Store, ref: str, actor: Actor | None = None) -> RunSummary:
    """Remove a saved run; recorded in the audit log under the library it searched."""
    summary = find_run(store, ref)
    actor = require_write(actor, f"delete the saved run '{summary.name}'")
    if not store.runs.delete(summary.id):
        raise RunNotFoundError(f"The saved run '{ref}' is gone: it was deleted meanwhile.")
    record(store, actor, AuditAction.DELETE_RUN, summary.library, f"run '{summary.name}' ({summary.id})")
    return summary


def export_run(store: Store, ref: str, kind: ExportFormat | str = ExportFormat.JSON) -> str:
    """The run as a TREC run file or as one line of JSON that `import_runs` reads back."""
    return exported(get_run(store, ref), kind)


def exported(run: SavedRun, kind: ExportFormat | str = ExportFormat.JSON) -> str:
    """A run already read, as `export_run` writes it."""
    return trec_run(run) if ExportFormat(kind) == ExportFormat.TREC else runs_jsonl([run])


@dataclass(frozen=True)
class ImportedRuns:
    added: int
    replaced: int  # a run of the same id was there (imported before): now the file's


def import_runs(store: Store, runs: Sequence[SavedRun], actor: Actor | None = None) -> ImportedRuns:
    """Keep runs read from a file under their own ids, so importing a file twice adds nothing; logged per library."""
    actor = require_write(actor, f"import {len(runs)} saved run(s)")
    known = {s["id"] for s in store.runs.list() if isinstance(s, dict) and "id" in s}
    by_library: dict[str, int] = {}
    for run in runs:
        _put(store, run)
        by_library[run.summary.library] = by_library.get(run.summary.library, 0) + 1
    for library, count in by_library.items():
        record(store, actor, AuditAction.IMPORT_RUNS, library, counts={"runs": count})
    replaced = sum(run.id in known for run in {run.id: run for run in runs}.values())
    return ImportedRuns(len({run.id for run in runs}) - replaced, replaced)


def _put(store: Store, run: SavedRun) -> None:
    store.runs.put(run.id, asdict(run.summary), run.as_dict())
