"""Models made here, as the app and the CLI both use them: "compare at once" and how a card reads.

`compare_made` indexes the library with the made model from its stored chunks (as the Compare page does), then
evaluates the made model against the model it was made from and BM25, on the library's own judgments or on a
labelled collection, and returns the Evaluate page's EvaluationRun; `verdict_table` is the one table saying
which run is better and by how much. Nothing here needs torch: comparing works without the adapt extra.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.access import Actor, require_write
from core.config import Settings
from core.embed.loading import MADE_HERE, load_embedder
from core.errors import AdaptError
from core.evaluate.judgments import JudgmentError, evaluate_judgments, judged_collection
from core.evaluate.metrics import MEASURE_LABELS, difference_interval_text, interval_text
from core.evaluate.report import EvaluationRun, Table, run_evaluation
from core.evaluate.results import EvaluationReport, RunKey, run_key
from core.evaluate.runs import compare_runs
from core.ingest.pipeline import default_chunking, no_progress
from core.ingest.reindex import index_like
from core.storage import Store
from core.types import ProgressCallback, SearchMode

BM25 = "BM25"  # how the keyword run is named: every index of a library ranks alike by keywords
# The made model dense and hybrid, the base model dense and hybrid, and BM25 (the base index's keyword run).
MODES = (SearchMode.DENSE, SearchMode.HYBRID, SearchMode.KEYWORD)
VERDICT_MEASURES = ("ndcg@10", "recall@100")  # the table's columns; the verdict is on the first


def compare_made(
    store: Store,
    library: str,
    made: str,
    base: str,
    collection: str | Path | None = None,
    progress: ProgressCallback = no_progress,
    settings: Settings | None = None,
    actor: Actor | None = None,
) -> EvaluationRun:
    """Index `library` with the made model from its stored chunks, then evaluate it against `base` and BM25 on the
    library's judgments (no `collection`) or on the labelled collection folder (indexed with both models at the
    default chunking, as `python -m core evaluate` does). Every comparison is the made model dense against the
    other runs, paired over the same queries. Refused to an actor who may only read: it writes the made model's
    index into the library."""
    actor = require_write(actor, f"index library '{library}' with {made} to compare it", settings)
    if made == base:
        raise AdaptError(f"Compare {made} with another model: it cannot be its own base.")
    if collection is None and not judged_collection(store.judgments.list(library)).queries:
        raise JudgmentError(
            f"Library '{library}' has no query with a hit judged relevant yet: mark some hits on the Search page, "
            "or compare on a labelled collection."
        )
    made_embedder = load_embedder(made, settings=settings)  # offline only: both are on this machine

    def tagged(stage: str, done: int, total: int) -> None:
        progress(f"{made}: {stage}", done, total)

    indexing = index_like(library, made_embedder, store, progress=tagged, settings=settings, actor=actor)
    subject = run_key(made, SearchMode.DENSE)
    if collection is None:
        embedders = {made: made_embedder, base: load_embedder(base, settings=settings)}
        report = evaluate_judgments(store, library, embedders, MODES, (made, SearchMode.DENSE), progress=progress)
        judged = judged_collection(store.judgments.list(library))
        found = EvaluationRun(report.dataset, replace(report, indexing=[indexing]), judged.queries, judged.qrels)
    else:
        chunking = default_chunking(settings)
        found = run_evaluation(
            collection, [made, base], MODES, store, chunking, (made, SearchMode.DENSE), progress, settings, actor
        )
        found = replace(found, report=replace(found.report, indexing=[indexing, *found.report.indexing]))
    return replace(found, report=_without_second_bm25(found.report, made, subject))


def default_base(store: Store, library: str, made: str, settings: Settings) -> str:
    """The model a made one is compared with when none is named: the library's only other index not made here,
    else the default model if indexed."""
    from core.embed.catalog import adapted_model

    others = [m for m in store.catalog.models(library) if m != made and adapted_model(m, settings.adapted_dir) is None]
    if len(others) == 1:
        return others[0]
    if settings.default_model in others:
        return settings.default_model
    if not others:
        raise AdaptError(f"Library '{library}' has no index to compare {made} with: index it with a model first.")
    raise AdaptError(
        f"Library '{library}' has indexes for {', '.join(others)}: name the one to compare {made} with (--base)."
    )


def _without_second_bm25(report: EvaluationReport, made: str, subject: RunKey) -> EvaluationReport:
    """Keep one keyword run (the base's): both indexes hold the same chunk text, so they rank alike by BM25."""
    results = [r for r in report.results if not (r.model == made and r.mode == SearchMode.KEYWORD)]
    return replace(report, results=results, comparisons=compare_runs(results, subject))


def run_name(model: str, mode: SearchMode, made: str) -> str:
    """How the verdict table names a run: the made model marked, the keyword run as BM25."""
    if mode == SearchMode.KEYWORD:
        return BM25
    return f"{model} ({MADE_HERE}) · {mode}" if model == made else f"{model} · {mode}"


def verdict_table(report: EvaluationReport) -> Table:
    """One row per run: which is better, the made model dense or the run (named only where the paired interval leaves
    out zero), the run's means with 95% intervals, then the made model dense minus it with that interval and p."""
    subject = report.comparisons[0].baseline if report.comparisons else report.results[0].key
    made = subject.model
    measure = VERDICT_MEASURES[0]
    against = {c.other: c.difference for c in report.comparisons if c.metric == measure}
    label = MEASURE_LABELS[measure]
    columns = ["run", f"better ({label})", *(MEASURE_LABELS[m] for m in VERDICT_MEASURES)]
    columns += [f"{MADE_HERE} minus it ({label})", "95% CI", "p-value"]
    rows = []
    for r in report.results:
        means = [interval_text(r.metrics[m].mean, r.metrics[m].low, r.metrics[m].high) for m in VERDICT_MEASURES]
        name = run_name(r.model, r.mode, made)
        difference = against.get(r.key)
        if difference is None:  # the made model dense itself
            rows.append([name, "(the model made here)", *means, "", "", ""])
            continue
        # compare_runs gives the other run minus the made one; the table reads the other way round.
        diff, low, high = 0.0 - difference.diff, 0.0 - difference.high, 0.0 - difference.low  # no -0.0
        if low > 0:
            better = f"{made} dense, by {diff:.3f}"
        elif high < 0:
            better = f"{name}, by {-diff:.3f}"
        else:
            better = "no clear difference"
        rows.append(
            [name, better, *means, f"{diff:+.4f}", difference_interval_text(low, high), round(difference.p_value, 4)]
        )
    return Table(columns, rows)


def card_facts(card: dict) -> list[tuple[str, str]]:
    """A made-here model's CARD.json as (what, value) lines: teacher, library, dims, epochs, seeds, timings,
    versions. Fields a card lacks (an older one) are left out rather than guessed."""
    facts = []
    teacher = card.get("teacher") or {}
    if teacher:
        facts.append(("teacher", f"{teacher.get('name', '?')} (fingerprint {teacher.get('fingerprint', '?')})"))
    if "library" in card:
        facts.append(("library", f"{card['library']} · {card.get('chunks', '?')} chunks"))
    if "dims" in card or "dim" in card:
        facts.append(("dims", str(card.get("dims", card.get("dim")))))
    epochs = card.get("epochs") or {}
    if epochs:
        facts.append(("epochs", f"best {epochs.get('best')} of {epochs.get('run')} run (at most {epochs.get('max')})"))
    if seeds := card.get("seeds"):
        facts.append(("seeds", ", ".join(f"{k} {v}" for k, v in seeds.items())))
    if timings := card.get("stage_seconds"):
        total = card.get("seconds", sum(timings.values()))
        facts.append(("timings", f"{total:.0f} s: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())))
    if versions := card.get("versions"):
        facts.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)))
    if made_at := card.get("made_at"):
        facts.append(("made", str(made_at)))
    return facts
