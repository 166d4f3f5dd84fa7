"""A whole evaluation through the app: index a collection, rank its judged queries run by run, score, compare.

`evaluate_collection` indexes a BEIR-style corpus (core.evaluate.datasets) into a library of its own per
model (reused when already there); `evaluate_runs` ranks the judged queries for every run of one model
(core.evaluate.ranking), scores them (core.evaluate.metrics) and puts a bootstrap interval over queries on
each mean; `compare_runs` pairs every run with a baseline (core.evaluate.stats). A library's own judgments
are evaluated with the same `evaluate_runs` (core.evaluate.judgments).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from core.access import Actor
from core.config import Settings
from core.embed.embedder import Embedder
from core.evaluate.datasets import EvaluationError, Qrels, load_beir
from core.evaluate.metrics import MEASURES, score_ranking
from core.evaluate.ranking import DEPTH, DocumentRanking, corpus_documents, index_corpus, rank_documents
from core.evaluate.results import TUNED, Comparison, EvaluationReport, RunKey, RunResult, run_key
from core.evaluate.stats import RESAMPLES, SEED, bootstrap_ci, paired_difference
from core.evaluate.tuning import FOLDS, WEIGHTS, CrossValidatedWeight, cross_validate_weight, held_out
from core.ingest.chunking import ChunkSettings, ChunkUnit
from core.ingest.pipeline import no_progress
from core.storage import Store
from core.storage.vector_index import VectorIndex
from core.types import Fusion, HybridParams, ProgressCallback, SearchMode

# One chunk per document: no document reaches this many characters, so the chunker never cuts.
WHOLE_DOCUMENTS = ChunkSettings(size=1_000_000_000, overlap=0, unit=ChunkUnit.CHARS)
Scores = dict[str, dict[str, float]]  # measure -> query id -> score


def chunking_label(chunking: ChunkSettings) -> str:
    return "whole" if chunking == WHOLE_DOCUMENTS else f"{chunking.unit.value}:{chunking.size}:{chunking.overlap}"


def evaluation_library(dataset: str, chunking: ChunkSettings) -> str:
    """The library an evaluation indexes into: one per collection and chunking, shared by its models."""
    return f"eval:{dataset}:{chunking_label(chunking)}"


def evaluate_collection(
    folder: str | Path,
    models: Mapping[str, Embedder],
    modes: Sequence[SearchMode],
    store: Store,
    chunking: ChunkSettings,
    baseline: tuple[str, SearchMode] | RunKey | None = None,
    progress: ProgressCallback = no_progress,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    weights: Sequence[float] = (),
    tune: bool = False,
    settings: Settings | None = None,
    actor: Actor | None = None,
) -> EvaluationReport:
    """Every model (named as given) in every mode over the collection's judged queries; comparisons
    are paired over queries, every other run against `baseline` (default: the first model and mode).
    An actor who may only read evaluates indexes that hold the collection already (core.evaluate.ranking).

    `weights` adds a weighted hybrid run per model and weight; `tune` adds the hybrid at a weight
    cross-validated over the queries (core.evaluate.tuning)."""
    data = load_beir(folder)
    queries = data.judged_queries
    if not queries:
        raise EvaluationError(f"{folder}: no query of queries.jsonl has a relevant document in qrels.tsv.")
    qrels = {qid: data.qrels[qid] for qid in queries}
    keys = [key for model in models for key in run_keys(model, modes, weights, tune)]
    baseline = _baseline(baseline or keys[0], keys)
    read = corpus_documents(folder, data, settings)
    library, label = evaluation_library(data.name, chunking), chunking_label(chunking)
    indexing, results = [], []
    for model, embedder in models.items():

        def tagged(stage: str, done: int, total: int, model: str = model) -> None:
            progress(f"{model}: {stage}", done, total)

        indexing.append(index_corpus(read, library, embedder, store, chunking, tagged, settings, actor))
        model_keys = run_keys(model, modes, weights, tune)
        results += evaluate_runs(model_keys, queries, qrels, library, embedder, store, label, progress, resamples, seed)
    comparisons = compare_runs(results, baseline, resamples, seed)
    return EvaluationReport(data.name, len(queries), label, results, comparisons, indexing, data.name, queries, qrels)


def evaluate_runs(
    keys: Sequence[RunKey],
    queries: Mapping[str, str],
    qrels: Qrels,
    library: str,
    embedder: Embedder,
    store: Store,
    chunking: str,
    progress: ProgressCallback = no_progress,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> list[RunResult]:
    """Each run of one model (already indexed in `library`) over the judged queries: ranked, scored per query,
    and each measure's mean with its interval. Weighted runs' rankings are reused by a tuned run's sweep."""
    results = []
    by_weight: dict[float, DocumentRanking] = {}
    searched = VectorIndex.of(store.index(library, embedder.info.name).meta.vector_index).label
    for key in keys:
        started = time.perf_counter()
        stage = f"{key.model} {key.label()}: " + ("weights" if key.fusion == TUNED else "search")
        if key.fusion == TUNED:
            ranking, scores, tuning = _tuned_hybrid(
                queries, qrels, library, embedder, store, by_weight, progress, stage, seed
            )
        else:
            ranking = rank_documents(queries, library, embedder, store, key.mode, DEPTH, progress, stage, key.params)
            scores, tuning = score_ranking(ranking, qrels), None
            if key.fusion == str(Fusion.WEIGHTED):
                by_weight[key.weight] = ranking
        seconds = time.perf_counter() - started
        metrics = {name: bootstrap_ci(list(s.values()), resamples, seed) for name, s in scores.items()}
        weight = tuning.weight if tuning else key.weight
        results.append(
            RunResult(
                key.model,
                key.mode,
                chunking,
                library,
                metrics,
                scores,
                ranking,
                seconds,
                key.fusion,
                weight,
                tuning,
                embedder.info.fingerprint,
                searched,
            )
        )
    return results


def run_keys(
    model: str, modes: Sequence[SearchMode], weights: Sequence[float] = (), tune: bool = False
) -> list[RunKey]:
    """The runs of one model, in order: each mode (hybrid is RRF), each weighted hybrid, the tuned one."""
    keys = [run_key(model, mode) for mode in dict.fromkeys(modes)]
    for weight in dict.fromkeys(round(float(w), 4) for w in weights):
        if not 0.0 <= weight <= 1.0:
            raise EvaluationError(f"A hybrid weight is the dense share, between 0 and 1, not {weight:g}.")
        keys.append(RunKey(model, SearchMode.HYBRID, str(Fusion.WEIGHTED), weight))
    if tune:
        keys.append(RunKey(model, SearchMode.HYBRID, TUNED))
    if not keys:
        raise EvaluationError("Name at least one mode, hybrid weight or tuning to evaluate.")
    return keys


def _baseline(wanted: tuple | RunKey, keys: Sequence[RunKey]) -> RunKey:
    """The run named as baseline; (model, mode) alone names the first run of that model and mode."""
    if isinstance(wanted, RunKey):
        found = [key for key in keys if key == wanted]
    else:
        model, mode = wanted
        found = [key for key in keys if (key.model, key.mode) == (model, SearchMode(mode))]
    if not found:
        shown = wanted.label() if isinstance(wanted, RunKey) else wanted[1]
        raise EvaluationError(
            f"The baseline {wanted[0]}:{shown} is not one of the runs: "
            + ", ".join(f"{key.model}:{key.label()}" for key in keys)
            + "."
        )
    return found[0]


def weighted_rankings(
    queries: Mapping[str, str],
    qrels: Qrels,
    library: str,
    embedder: Embedder,
    store: Store,
    weights: Sequence[float] = WEIGHTS,
    ranked: Mapping[float, DocumentRanking] | None = None,
    progress: ProgressCallback = no_progress,
    stage: str = "weights",
) -> dict[float, tuple[DocumentRanking, Scores]]:
    """The weighted hybrid at every weight of a sweep, ranked and scored per query; rankings already in
    `ranked` (runs at those weights) are reused rather than searched again."""
    swept = {}
    progress(stage, 0, len(weights))
    for i, weight in enumerate(weights):
        weight = float(weight)
        if ranked is not None and weight in ranked:
            ranking = ranked[weight]
        else:
            params = HybridParams(fusion=Fusion.WEIGHTED, weight=weight)
            ranking = rank_documents(queries, library, embedder, store, SearchMode.HYBRID, DEPTH, params=params)
        swept[weight] = (ranking, score_ranking(ranking, qrels))
        progress(stage, i + 1, len(weights))
    return swept


def _tuned_hybrid(
    queries: Mapping[str, str],
    qrels: Qrels,
    library: str,
    embedder: Embedder,
    store: Store,
    ranked: Mapping[float, DocumentRanking],
    progress: ProgressCallback,
    stage: str,
    seed: int,
) -> tuple[DocumentRanking, Scores, CrossValidatedWeight]:
    """The weighted hybrid at every weight of the sweep; each query is then scored at the weight chosen on
    the other folds by nDCG@10, so the tuned run is not scored on the queries it was tuned on."""
    swept = weighted_rankings(queries, qrels, library, embedder, store, WEIGHTS, ranked, progress, stage)
    chosen = cross_validate_weight({w: s["ndcg@10"] for w, (_, s) in swept.items()}, FOLDS, seed)
    per_query = {name: held_out({w: s[name] for w, (_, s) in swept.items()}, chosen) for name in MEASURES}
    return held_out({w: r for w, (r, _) in swept.items()}, chosen), per_query, chosen


def compare_runs(
    results: Sequence[RunResult],
    baseline: tuple[str, SearchMode] | RunKey,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> list[Comparison]:
    """Every run other than the baseline against it, metric by metric, paired over the same queries."""
    base_key = _baseline(baseline, [r.key for r in results])
    base = next(r for r in results if r.key == base_key)
    comparisons = []
    for run in results:
        if run is base:
            continue
        for name, base_scores in base.per_query.items():
            ids = list(base_scores)
            difference = paired_difference(
                [base_scores[q] for q in ids], [run.per_query[name][q] for q in ids], resamples, seed
            )
            comparisons.append(Comparison(base_key, run.key, name, difference))
    return comparisons
