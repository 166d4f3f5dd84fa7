"""Retrieval evaluation on BEIR-style collections: loading, chunk-to-document rankings, metrics.

A collection is a folder with corpus.jsonl ({"id"|"_id", "title", "text"}), queries.jsonl
({"id"|"_id", "text"}) and qrels.tsv (query_id, doc_id, relevance;
one header line; TREC's four columns, query_id iteration doc_id relevance, are read too).

Metrics follow trec_eval / pytrec_eval, which BEIR reports:
- nDCG@k uses linear gains (the qrels relevance) and a log2(rank + 1) discount; the ideal ranking
  is built from every judged document of the query, retrieved or not.
- recall@k is the share of a query's relevant documents found in the top k.
- MRR@k is 1 / rank of the first relevant document in the top k (0 if none).
- MAP@k (trec_eval's map_cut.k) is the precision at the rank of each relevant document found in the
  top k, summed and divided by the number of relevant documents of the query (found or not).
Means are taken over the queries of the qrels that have at least one relevant document; a query
missing from the ranking scores 0.

`evaluate_collection` runs a whole evaluation through the app's own path: it indexes the corpus
into a library of its own per model (reused when already there), searches every judged query in
batches, ranks documents by their best chunk, and reports each metric with a bootstrap interval
over queries and paired comparisons against a baseline run (core.evaluate.stats).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple, TextIO

import numpy as np

from core.embed.embedder import Embedder
from core.errors import PotionError
from core.evaluate.stats import RESAMPLES, SEED, Interval, PairedDifference, bootstrap_ci, paired_difference
from core.evaluate.tuning import FOLDS, WEIGHTS, CrossValidatedWeight, cross_validate_weight, held_out
from core.ingest.chunking import ChunkSettings, ChunkUnit
from core.ingest.pipeline import IngestResult, ingest_documents, no_progress
from core.read.documents import ReadResult, read_path
from core.read.records import record_id
from core.search.query import search_many
from core.storage import Store
from core.types import Fusion, HybridParams, ProgressCallback, SearchMode

Qrels = dict[str, dict[str, int]]  # query id -> {doc id: gain}
Ranking = Mapping[str, Sequence[str]]  # query id -> doc ids, best first
Metric = Callable[[Sequence[str], Mapping[str, int], int], float]

MIN_RELEVANCE = 1  # a judgment counts as relevant from this grade up (Cranfield 1-4, SciFact 1)


class EvaluationError(PotionError):
    """An evaluation collection that cannot be read (missing file, bad line, no judgments)."""


@dataclass(frozen=True)
class CorpusDoc:
    doc_id: str
    title: str
    text: str


@dataclass(frozen=True)
class BeirDataset:
    name: str
    corpus: dict[str, CorpusDoc]
    queries: dict[str, str]
    qrels: Qrels

    @property
    def judged_queries(self) -> dict[str, str]:
        """The queries that have at least one relevant document: the ones every mean is taken over."""
        return {qid: text for qid, text in self.queries.items() if self.qrels.get(qid)}


# --- loading -------------------------------------------------------------------------------------


def load_beir(directory: str | Path, min_relevance: int = MIN_RELEVANCE) -> BeirDataset:
    folder = Path(directory)
    if not folder.is_dir():
        raise EvaluationError(f"{folder} is not a folder: point to one holding corpus.jsonl, queries.jsonl, qrels.tsv.")
    return BeirDataset(
        name=folder.name,
        corpus=read_corpus(folder / "corpus.jsonl"),
        queries=read_queries(folder / "queries.jsonl"),
        qrels=read_qrels(folder / "qrels.tsv", min_relevance),
    )


def read_corpus(path: str | Path) -> dict[str, CorpusDoc]:
    docs = (
        CorpusDoc(_record_id(record, path, n), str(record.get("title") or ""), str(record.get("text") or ""))
        for n, record in _jsonl(path)
    )
    return {doc.doc_id: doc for doc in docs}


def read_queries(path: str | Path) -> dict[str, str]:
    return {_record_id(record, path, n): str(record.get("text") or "") for n, record in _jsonl(path)}


def read_qrels(path: str | Path, min_relevance: int = MIN_RELEVANCE) -> Qrels:
    """Judgments with relevance >= min_relevance; the rest (0, -1) are dropped: they add no gain.

    Columns are split on tabs where a line has them (ids may hold spaces), else on spaces; a first line whose
    relevance is not a number is a header."""
    qrels: Qrels = {}
    with _open(path) as handle:
        for number, line in enumerate(handle, start=1):
            row = _qrels_columns(line)
            if not line.strip() or (number == 1 and not _is_number(row[-1])):
                continue
            query_id, doc_id, relevance = _qrels_row(row, path, number)
            if relevance >= min_relevance:
                judged = qrels.setdefault(query_id, {})
                judged[doc_id] = max(relevance, judged.get(doc_id, relevance))
    if not qrels:
        raise EvaluationError(f"{path} has no judgment with relevance >= {min_relevance}: check the file.")
    return qrels


def _open(path: str | Path) -> TextIO:
    try:
        return open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise EvaluationError(
            f"{path} could not be opened ({exc.strerror or exc}): check the collection folder."
        ) from exc


def _jsonl(path: str | Path) -> Iterable[tuple[int, dict]]:
    with _open(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise EvaluationError(f"{path} line {number} is not valid JSON ({exc}).") from exc
            if not isinstance(record, dict):
                raise EvaluationError(f"{path} line {number} is not a JSON object.")
            yield number, record


def _record_id(record: dict, path: str | Path, number: int) -> str:
    found = record_id(record)
    if found is None:
        raise EvaluationError(f'{path} line {number} has no "id" or "_id" field.')
    return found


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _qrels_columns(line: str) -> list[str]:
    # BEIR separates columns with tabs, so ids may hold spaces; TREC qrels separate them with spaces. A tab
    # line that does not make 3 or 4 columns (a trailing tab, spaces mixed in) is read the TREC way.
    if "\t" in line:
        cells = line.rstrip("\r\n").split("\t")
        while cells and not cells[-1].strip():
            cells.pop()
        if len(cells) in (3, 4) and all(cell.strip() for cell in cells):
            return cells
    return line.split()


def _qrels_row(row: list[str], path: str | Path, number: int) -> tuple[str, str, int]:
    # BEIR has three columns; TREC qrels have four (query, iteration, doc, relevance).
    if len(row) not in (3, 4):
        raise EvaluationError(f"{path} line {number} has {len(row)} columns; expected query_id, doc_id, relevance.")
    query_id, doc_id, relevance = row[0], row[-2], row[-1]
    try:
        return query_id, doc_id, int(float(relevance))
    except ValueError as exc:
        raise EvaluationError(f"{path} line {number}: relevance {relevance!r} is not a number.") from exc


# --- chunk hits to documents ---------------------------------------------------------------------


def aggregate_chunk_hits(hits: Iterable[tuple[str, float]], k: int | None = None) -> list[tuple[str, float]]:
    """Documents ranked by their best chunk's score (max pooling), best first; ties by doc id."""
    best: dict[str, float] = {}
    for doc_id, score in hits:
        if doc_id not in best or score > best[doc_id]:
            best[doc_id] = float(score)
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))
    return ranked if k is None else ranked[:k]


# --- metrics for one query -----------------------------------------------------------------------


def dcg(gains: Sequence[float], k: int) -> float:
    """Sum of gain_i / log2(i + 1) over ranks i = 1..k."""
    top = np.asarray(gains[:k], dtype=np.float64)
    return float(np.sum(top / np.log2(np.arange(2, top.size + 2))))


def ndcg_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    ideal = dcg(sorted(judged.values(), reverse=True), k)
    if ideal <= 0:
        return 0.0
    return dcg([judged.get(doc_id, 0) for doc_id in _dedupe(ranked)], k) / ideal


def recall_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    relevant = {doc_id for doc_id, gain in judged.items() if gain > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_dedupe(ranked)[:k])) / len(relevant)


def reciprocal_rank_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    for rank, doc_id in enumerate(_dedupe(ranked)[:k], start=1):
        if judged.get(doc_id, 0) > 0:
            return 1.0 / rank
    return 0.0


def average_precision_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """trec_eval's map_cut: precision at each relevant rank within the top k, over all relevant documents."""
    relevant = {doc_id for doc_id, gain in judged.items() if gain > 0}
    if not relevant:
        return 0.0
    found, total = 0, 0.0
    for rank, doc_id in enumerate(_dedupe(ranked)[:k], start=1):
        if doc_id in relevant:
            found += 1
            total += found / rank
    return total / len(relevant)


def _dedupe(ranked: Sequence[str]) -> list[str]:
    """A document counts once, at its best rank (a ranking built from chunks may repeat it)."""
    return list(dict.fromkeys(ranked))


# --- means over a collection ---------------------------------------------------------------------

METRICS: dict[str, Metric] = {
    "ndcg": ndcg_at_k,
    "recall": recall_at_k,
    "mrr": reciprocal_rank_at_k,
    "map": average_precision_at_k,
}


def per_query(metric: Metric, ranking: Ranking, qrels: Qrels, k: int) -> dict[str, float]:
    """The metric for every judged query; a query the ranking lacks scores 0."""
    return {qid: metric(ranking.get(qid, ()), judged, k) for qid, judged in qrels.items() if _has_relevant(judged)}


def mean_metric(metric: Metric, ranking: Ranking, qrels: Qrels, k: int) -> float:
    scores = list(per_query(metric, ranking, qrels, k).values())
    return float(np.mean(scores)) if scores else 0.0


def evaluate(
    ranking: Ranking, qrels: Qrels, measures: Iterable[str] = ("ndcg@10", "recall@100", "mrr@10")
) -> dict[str, float]:
    """Means of measures named like "ndcg@10", "recall@100" or "mrr@10"."""
    results = {}
    for name in measures:
        metric, k = _parse_measure(name)
        results[name] = mean_metric(metric, ranking, qrels, k)
    return results


def _parse_measure(name: str) -> tuple[Metric, int]:
    metric, _, k = name.partition("@")
    if metric not in METRICS or not k.isdigit() or int(k) < 1:
        raise EvaluationError(f"Unknown measure {name!r}: use one of {', '.join(METRICS)} with @k, e.g. ndcg@10.")
    return METRICS[metric], int(k)


def _has_relevant(judged: Mapping[str, int]) -> bool:
    return any(gain > 0 for gain in judged.values())


# --- a whole evaluation through the app: index, search, score, compare ----------------------------

MEASURES = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100")
DEPTH = 100  # documents ranked per query: the deepest cutoff of MEASURES
ENGINE_MAX_TOP_K = 16_384  # Milvus refuses a larger limit
QUERY_BATCH = 100  # queries per search call: one engine call each, and a progress bar that moves
# One chunk per document: no document reaches this many characters, so the chunker never cuts.
WHOLE_DOCUMENTS = ChunkSettings(size=1_000_000_000, overlap=0, unit=ChunkUnit.CHARS)


TUNED = "tuned"  # the fusion of a weighted hybrid whose weight is cross-validated over the queries


class RunKey(NamedTuple):
    """What names a run: a model, a mode and, for hybrid, how the two rankings were fused."""

    model: str
    mode: SearchMode
    fusion: str | None = None  # hybrid only: "rrf", "weighted" or "tuned"
    weight: float | None = None  # weighted only: the dense share

    def as_dict(self) -> dict:
        return {"model": self.model, "mode": str(self.mode), "fusion": self.fusion, "weight": self.weight}

    @property
    def params(self) -> HybridParams | None:
        """How search fuses this run's rankings (None: not hybrid; tuned runs choose a weight per fold)."""
        if self.fusion == str(Fusion.WEIGHTED):
            return HybridParams(fusion=Fusion.WEIGHTED, weight=self.weight)
        return HybridParams() if self.fusion == str(Fusion.RRF) else None

    def label(self) -> str:
        """Short text for tables: "hybrid" alone is RRF, "hybrid w=0.3" a weighted blend, "hybrid tuned"."""
        if self.fusion == "weighted":
            return f"{self.mode} w={self.weight:g}"
        if self.fusion == TUNED:
            return f"{self.mode} tuned"
        return str(self.mode)


def run_key(model: str, mode: SearchMode | str, params: HybridParams | None = None) -> RunKey:
    """The key of a model searched in a mode; hybrid without params is RRF, as search does it."""
    mode = SearchMode(mode)
    if mode != SearchMode.HYBRID:
        return RunKey(model, mode)
    if params is not None and params.fusion == Fusion.WEIGHTED:
        return RunKey(model, mode, str(Fusion.WEIGHTED), round(params.weight, 4))
    return RunKey(model, mode, str(Fusion.RRF))


@dataclass(frozen=True)
class RunResult:
    """One model searched in one mode: per-query scores, their means with intervals, and the ranking."""

    model: str
    mode: SearchMode
    chunking: str
    library: str
    metrics: dict[str, Interval]
    per_query: dict[str, dict[str, float]]  # measure -> query id -> score
    ranking: dict[str, list[tuple[str, float]]]  # query id -> (doc id, best chunk score), best first
    seconds: float  # searching and ranking every query, indexing not included
    fusion: str | None = None  # as in RunKey
    weight: float | None = None  # weighted: the dense share; tuned: the one chosen on every query
    tuning: CrossValidatedWeight | None = None  # tuned only: how each query's held-out weight was chosen

    @property
    def key(self) -> RunKey:
        return RunKey(self.model, self.mode, self.fusion, None if self.fusion == TUNED else self.weight)

    def params_for(self, query_id: str) -> HybridParams | None:
        """How this run searched one query: a tuned run used the weight its query's fold was given."""
        if self.tuning is not None:
            return HybridParams(fusion=Fusion.WEIGHTED, weight=self.tuning.weight_of[query_id])
        return self.key.params


@dataclass(frozen=True)
class Comparison:
    baseline: RunKey
    other: RunKey
    metric: str
    difference: PairedDifference


@dataclass(frozen=True)
class EvaluationReport:
    dataset: str
    queries: int
    chunking: str
    results: list[RunResult]
    comparisons: list[Comparison]
    indexing: list[IngestResult]

    def as_dict(self) -> dict:
        """The JSON `python -m core evaluate --json` prints."""
        return {
            "dataset": self.dataset,
            "queries": self.queries,
            "results": [
                {
                    **r.key.as_dict(),
                    "weight": r.weight,
                    "chunking": r.chunking,
                    "metrics": {
                        name: {"mean": _round(i.mean), "ci95": [_round(i.low), _round(i.high)]}
                        for name, i in r.metrics.items()
                    },
                    "seconds": round(r.seconds, 3),
                }
                | ({"tuning": _tuning_dict(r.tuning)} if r.tuning else {})
                for r in self.results
            ],
            "comparisons": [
                {
                    "baseline": c.baseline.as_dict(),
                    "other": c.other.as_dict(),
                    "metric": c.metric,
                    "diff": _round(c.difference.diff),
                    "ci95": [_round(c.difference.low), _round(c.difference.high)],
                    "p_value": _round(c.difference.p_value),
                }
                for c in self.comparisons
            ],
        }


def _tuning_dict(tuning: CrossValidatedWeight) -> dict:
    return {"folds": tuning.folds, "fold_weights": tuning.fold_weights}


def _round(value: float) -> float:
    return round(float(value), 6)


def chunking_label(chunking: ChunkSettings) -> str:
    return "whole" if chunking == WHOLE_DOCUMENTS else f"{chunking.unit.value}:{chunking.size}:{chunking.overlap}"


def evaluation_library(dataset: str, chunking: ChunkSettings) -> str:
    """The library an evaluation indexes into: one per collection and chunking, shared by its models."""
    return f"eval:{dataset}:{chunking_label(chunking)}"


def corpus_documents(folder: str | Path, data: BeirDataset) -> ReadResult:
    """The corpus read as the app reads a JSONL collection (title then text), each document named by its id."""
    path = Path(folder) / "corpus.jsonl"
    read = read_path(path, max_bytes=max(path.stat().st_size, 1))  # a corpus is one file, whatever the upload limit
    documents, seen = [], set()
    for doc in read.documents:
        doc_id = doc.source_id or doc.name
        if doc_id not in data.corpus:
            raise EvaluationError(f"{path}: the document read as {doc.name} has an id the corpus does not list.")
        if doc_id in seen:
            raise EvaluationError(f"{path} holds two documents with id {doc_id!r}: ids must be unique.")
        seen.add(doc_id)
        documents.append(replace(doc, name=doc_id))
    return ReadResult(documents, read.failures)


def index_corpus(
    read: ReadResult,
    library: str,
    embedder: Embedder,
    store: Store,
    chunking: ChunkSettings,
    progress: ProgressCallback = no_progress,
) -> IngestResult:
    """Index the corpus for this model, reusing what is stored: unchanged documents are skipped, and
    documents the corpus no longer holds are removed, so the index is exactly this corpus."""
    if store.catalog.find(library, embedder.info.name) is not None:
        wanted = {doc.name for doc in read.documents}
        stale = [d.name for d in store.index(library, embedder.info.name).documents() if d.name not in wanted]
        if stale:
            store.index(library, embedder.info.name).delete_documents(stale)
            store.index(library, embedder.info.name).flush()
    return ingest_documents(read, library, embedder, store, chunking, progress)


def rank_documents(
    queries: Mapping[str, str],
    library: str,
    embedder: Embedder,
    store: Store,
    mode: SearchMode,
    depth: int = DEPTH,
    progress: ProgressCallback = no_progress,
    stage: str = "search",
    params: HybridParams | None = None,
) -> dict[str, list[tuple[str, float]]]:
    """The top `depth` documents of every query, each scored by its best chunk.

    Enough chunks are asked for that `depth` distinct documents come back; a query whose chunks hold
    fewer is asked again deeper, so its document ranking is the exact one (indexes are FLAT)."""
    chunks, documents = (
        store.index(library, embedder.info.name).count(),
        store.index(library, embedder.info.name).count_documents(),
    )
    cap = max(1, min(chunks, ENGINE_MAX_TOP_K))
    first_k = min(cap, max(depth, math.ceil(2 * depth * chunks / max(documents, 1))))
    ids = list(queries)
    ranked: dict[str, list[tuple[str, float]]] = {}
    progress(stage, 0, len(ids))
    for start in range(0, len(ids), QUERY_BATCH):
        batch, top_k = ids[start : start + QUERY_BATCH], first_k
        while batch:
            found = search_many([queries[q] for q in batch], library, embedder, store, top_k, mode=mode, params=params)
            deeper = []
            for qid, result in zip(batch, found):
                docs = aggregate_chunk_hits((h.document, h.score) for h in result.hits)
                # A full page of chunks with too few documents may hide more below it.
                if len(docs) < depth and len(result.hits) >= top_k and top_k < cap:
                    deeper.append(qid)
                ranked[qid] = docs[:depth]
            batch, top_k = deeper, min(cap, top_k * 4)
        progress(stage, min(start + QUERY_BATCH, len(ids)), len(ids))
    return ranked


def score_ranking(
    ranking: Mapping[str, Sequence[tuple[str, float]]], qrels: Qrels, measures: Sequence[str] = MEASURES
) -> dict[str, dict[str, float]]:
    """Every measure for every judged query, in the order of the qrels."""
    doc_lists = {qid: [doc for doc, _ in docs] for qid, docs in ranking.items()}
    scores = {}
    for name in measures:
        metric, k = _parse_measure(name)
        scores[name] = per_query(metric, doc_lists, qrels, k)
    return scores


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
) -> EvaluationReport:
    """Every model (named as given) in every mode over the collection's judged queries; comparisons
    are paired over queries, every other run against `baseline` (default: the first model and mode).

    `weights` adds a weighted hybrid run per model and weight; `tune` adds the hybrid at a weight
    cross-validated over the queries (core.evaluate.tuning)."""
    data = load_beir(folder)
    queries = data.judged_queries
    if not queries:
        raise EvaluationError(f"{folder}: no query of queries.jsonl has a relevant document in qrels.tsv.")
    qrels = {qid: data.qrels[qid] for qid in queries}
    keys = [key for model in models for key in run_keys(model, modes, weights, tune)]
    baseline = _baseline(baseline or keys[0], keys)
    read = corpus_documents(folder, data)
    library, label = evaluation_library(data.name, chunking), chunking_label(chunking)
    indexing, results = [], []
    for model, embedder in models.items():

        def tagged(stage: str, done: int, total: int, model: str = model) -> None:
            progress(f"{model}: {stage}", done, total)

        indexing.append(index_corpus(read, library, embedder, store, chunking, tagged))
        by_weight: dict[float, dict[str, list[tuple[str, float]]]] = {}  # weighted rankings, shared with tuning
        for key in run_keys(model, modes, weights, tune):
            started = time.perf_counter()
            stage = f"{model} {key.label()}: " + ("weights" if key.fusion == TUNED else "search")
            if key.fusion == TUNED:
                ranking, scores, tuning = _tuned_hybrid(
                    queries, qrels, library, embedder, store, by_weight, progress, stage, seed
                )
            else:
                ranking = rank_documents(
                    queries, library, embedder, store, key.mode, DEPTH, progress, stage, key.params
                )
                scores, tuning = score_ranking(ranking, qrels), None
                if key.fusion == str(Fusion.WEIGHTED):
                    by_weight[key.weight] = ranking
            seconds = time.perf_counter() - started
            metrics = {name: bootstrap_ci(list(s.values()), resamples, seed) for name, s in scores.items()}
            weight = tuning.weight if tuning else key.weight
            results.append(
                RunResult(
                    model, key.mode, label, library, metrics, scores, ranking, seconds, key.fusion, weight, tuning
                )
            )
    return EvaluationReport(
        data.name, len(queries), label, results, compare_runs(results, baseline, resamples, seed), indexing
    )


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


def _tuned_hybrid(
    queries: Mapping[str, str],
    qrels: Qrels,
    library: str,
    embedder: Embedder,
    store: Store,
    ranked: Mapping[float, dict[str, list[tuple[str, float]]]],
    progress: ProgressCallback,
    stage: str,
    seed: int,
) -> tuple[dict[str, list[tuple[str, float]]], dict[str, dict[str, float]], CrossValidatedWeight]:
    """The weighted hybrid at every weight of the sweep (reusing the runs `ranked` already); each query is
    then scored at the weight chosen on the other folds by nDCG@10, so the tuned run is not scored on the
    queries it was tuned on."""
    rankings, scores = {}, {}
    progress(stage, 0, len(WEIGHTS))
    for i, weight in enumerate(WEIGHTS):
        params = HybridParams(fusion=Fusion.WEIGHTED, weight=weight)
        rankings[weight] = (
            ranked[weight]
            if weight in ranked
            else rank_documents(queries, library, embedder, store, SearchMode.HYBRID, DEPTH, params=params)
        )
        scores[weight] = score_ranking(rankings[weight], qrels)
        progress(stage, i + 1, len(WEIGHTS))
    chosen = cross_validate_weight({w: s["ndcg@10"] for w, s in scores.items()}, FOLDS, seed)
    per_query = {name: held_out({w: s[name] for w, s in scores.items()}, chosen) for name in MEASURES}
    return held_out(rankings, chosen), per_query, chosen


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
