"""The measures: how each is computed for one query, averaged over a collection, named and shown.

Metrics follow trec_eval / pytrec_eval, which BEIR reports:
- nDCG@k uses linear gains (the qrels relevance) and a log2(rank + 1) discount; the ideal ranking
  is built from every judged document of the query, retrieved or not.
- recall@k is the share of a query's relevant documents found in the top k.
- MRR@k is 1 / rank of the first relevant document in the top k (0 if none).
- MAP@k (trec_eval's map_cut.k) is the precision at the rank of each relevant document found in the
  top k, summed and divided by the number of relevant documents of the query (found or not).
Means are taken over the queries of the qrels that have at least one relevant document; a query
missing from the ranking scores 0.

Every table of an evaluation (the Evaluate page, its CSV, the command line) names the measures with
MEASURE_LABELS and writes a mean with its interval, or a difference with its interval, with the two
functions at the end, so they read the same wherever they are shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from core.evaluate.datasets import EvaluationError, Qrels

Ranking = Mapping[str, Sequence[str]]  # query id -> doc ids, best first
Metric = Callable[[Sequence[str], Mapping[str, int], int], float]

MEASURES = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100")
MEASURE_LABELS = {
    "ndcg@10": "nDCG@10",
    "recall@10": "Recall@10",
    "recall@100": "Recall@100",
    "mrr@10": "MRR@10",
    "map@100": "MAP@100",
}


# --- one query ------------------------------------------------------------------------------------


def dcg(gains: Sequence[float], k: int) -> float:
    """Sum of gain_i / log2(i + 1) over ranks i = 1..k."""
    top = np.asarray(gains[:k], dtype=np.float64)
    return float(np.sum(top / np.log2(np.arange(2, top.size + 2))))


def ndcg_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    ideal = dcg(sorted(judged.values(), reverse=True), k)
    if ideal <= 0:
        return 0.0
    return dcg([judged.get(doc_id, 0) for doc_id in _dedupe(ranked)], k) / ideal


def is_relevant(grade: int | None) -> bool:
    """Whether a judged grade counts as relevant, for every measure and mark: above 0 (None: not judged)."""
    return grade is not None and grade > 0


def recall_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    relevant = {doc_id for doc_id, gain in judged.items() if is_relevant(gain)}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_dedupe(ranked)[:k])) / len(relevant)


def reciprocal_rank_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    for rank, doc_id in enumerate(_dedupe(ranked)[:k], start=1):
        if is_relevant(judged.get(doc_id)):
            return 1.0 / rank
    return 0.0


def average_precision_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """trec_eval's map_cut: precision at each relevant rank within the top k, over all relevant documents."""
    relevant = {doc_id for doc_id, gain in judged.items() if is_relevant(gain)}
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


# --- a collection -------------------------------------------------------------------------------

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
        metric, k = parse_measure(name)
        results[name] = mean_metric(metric, ranking, qrels, k)
    return results


def parse_measure(name: str) -> tuple[Metric, int]:
    metric, _, k = name.partition("@")
    if metric not in METRICS or not k.isdigit() or int(k) < 1:
        raise EvaluationError(f"Unknown measure {name!r}: use one of {', '.join(METRICS)} with @k, e.g. ndcg@10.")
    return METRICS[metric], int(k)


def _has_relevant(judged: Mapping[str, int]) -> bool:
    return any(is_relevant(gain) for gain in judged.values())


def score_ranking(
    ranking: Mapping[str, Sequence[tuple[str, float]]], qrels: Qrels, measures: Sequence[str] = MEASURES
) -> dict[str, dict[str, float]]:
    """Every measure for every judged query, in the order of the qrels."""
    doc_lists = {qid: [doc for doc, _ in docs] for qid, docs in ranking.items()}
    scores = {}
    for name in measures:
        metric, k = parse_measure(name)
        scores[name] = per_query(metric, doc_lists, qrels, k)
    return scores


# --- names and cells ------------------------------------------------------------------------------


def measure_label(measure: str) -> str:
    """How tables name a measure: "recall@10" is "Recall@10"."""
    return MEASURE_LABELS.get(measure, measure)


def interval_text(mean: float, low: float, high: float) -> str:
    """A mean with its 95% interval: "0.4250 [0.100, 0.750]"."""
    return f"{mean:.4f} [{low:.3f}, {high:.3f}]"


def difference_interval_text(low: float, high: float) -> str:
    """The 95% interval of a difference of means, signed: "[-0.125, +0.300]"."""
    return f"[{low:+.3f}, {high:+.3f}]"
