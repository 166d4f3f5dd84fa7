"""Retrieval evaluation on BEIR-style collections: loading, chunk-to-document rankings, metrics.

A collection is a folder with corpus.jsonl ({"id"|"_id", "title", "text"}), queries.jsonl
({"id"|"_id", "text"}) and qrels.tsv (query_id, doc_id, relevance; one header line).

Metrics follow trec_eval / pytrec_eval, which BEIR reports:
- nDCG@k uses linear gains (the qrels relevance) and a log2(rank + 1) discount; the ideal ranking
  is built from every judged document of the query, retrieved or not.
- recall@k is the share of a query's relevant documents found in the top k.
- MRR@k is 1 / rank of the first relevant document in the top k (0 if none).
Means are taken over the queries of the qrels that have at least one relevant document; a query
missing from the ranking scores 0.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from core.errors import PotionError
from core.records import record_id

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

    Columns are split on tabs or spaces; a first line whose relevance is not a number is a header."""
    qrels: Qrels = {}
    with _open(path) as handle:
        for number, line in enumerate(handle, start=1):
            row = line.split()
            if not row or (number == 1 and not _is_number(row[-1])):
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


def _dedupe(ranked: Sequence[str]) -> list[str]:
    """A document counts once, at its best rank (a ranking built from chunks may repeat it)."""
    return list(dict.fromkeys(ranked))


# --- means over a collection ---------------------------------------------------------------------

METRICS: dict[str, Metric] = {"ndcg": ndcg_at_k, "recall": recall_at_k, "mrr": reciprocal_rank_at_k}


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
