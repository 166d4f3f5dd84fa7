"""How good an index's dense ranking is: recall@10 against exact ranking and search latency, measured on the
library's own vectors, and recorded beside the library so the Costs page and `libraries --json` show it.

Queries are stored chunk vectors (a seeded sample); each query's own chunk is left out of both rankings, since
finding itself would flatter any index. The exact ranking is numpy over every stored vector of the index, so the
measurement reads the whole index once (the vector scan runs at ~9,000 rows/s on Lite 2.5.1). Ties count as found:
a library holding copies of a text has many equal scores, and any of them is a right answer (tie_aware_recall).

The record belongs to one index and one choice: a dropped and remade index, or another vector index, starts over.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import numpy as np

from core.errors import PotionError
from core.storage import Store
from core.storage.vector_index import VectorIndex
from core.types import CollectionMeta, ProgressCallback
from core.vectors import unit_rows

NOT_MEASURED = "not measured"
SETTING = "index_quality"
TOP_K = 10
QUERIES = 100
SEED = 7
TIE_TOLERANCE = 1e-4  # float32 scores of equal vectors differ in the last places between engines


def setting_key(model: str) -> str:
    return f"{SETTING}:{model}"


@dataclass(frozen=True)
class IndexQuality:
    vector_index: dict  # VectorIndex.as_dict() of the index measured
    recall_at_10: float  # mean over the queries, against exact ranking
    p50_ms: float  # the index's dense search, one query per call
    p95_ms: float
    exact_p50_ms: float  # numpy's exact ranking of the same queries over the same vectors, one per call
    queries: int
    chunks: int  # vectors in the index when measured
    created_at: str  # the index the record belongs to

    def as_dict(self) -> dict:
        return asdict(self)


def tie_aware_recall(found_scores: list[float], kth_exact: float, top_k: int = TOP_K) -> float:
    """Share of the first `top_k` found scores that reach the exact k-th score: under ties, any tied chunk counts."""
    return sum(score >= kth_exact - TIE_TOLERANCE for score in found_scores[:top_k]) / top_k


def measure_index_quality(
    store: Store, library: str, model: str, queries: int = QUERIES, progress: ProgressCallback | None = None
) -> IndexQuality:
    """Measure the index of (library, model) as it is now and record the result."""
    report = progress or (lambda stage, done, total: None)
    index = store.index(library, model)
    meta = index.meta
    report("read vectors", 0, 1)
    rows = index.chunk_vectors()
    report("read vectors", 1, 1)
    if len(rows) <= TOP_K:
        raise PotionError(
            f"Library '{library}' has {len(rows)} chunks for {model}: recall@{TOP_K} needs more than {TOP_K}."
        )
    ids = [row["id"] for row in rows]
    matrix = unit_rows(np.stack([row["vector"] for row in rows]).astype(np.float32))
    picked = np.random.default_rng(SEED).choice(len(rows), size=min(queries, len(rows)), replace=False)
    recalls, took, exact_took = [], [], []
    report("search", 0, len(picked))
    for done, row in enumerate(picked, start=1):
        query = matrix[row]
        started = time.perf_counter()
        scores = matrix @ query
        scores[row] = -np.inf  # the query's own chunk
        kth = float(np.partition(scores, -TOP_K)[-TOP_K])
        exact_took.append(time.perf_counter() - started)
        started = time.perf_counter()
        hits = index.dense(query[None, :], TOP_K + 1)[0]
        took.append(time.perf_counter() - started)
        found = [h.dense_score if h.dense_score is not None else h.score for h in hits if h.chunk_id != ids[row]]
        recalls.append(tie_aware_recall(found, kth))
        report("search", done, len(picked))
    quality = IndexQuality(
        vector_index=VectorIndex.of(meta.vector_index).as_dict(),
        recall_at_10=float(np.mean(recalls)),
        p50_ms=1000 * statistics.median(took),
        p95_ms=1000 * float(np.percentile(took, 95)),
        exact_p50_ms=1000 * statistics.median(exact_took),
        queries=len(picked),
        chunks=len(rows),
        created_at=meta.created_at,
    )
    store.catalog.set_setting(library, setting_key(model), quality.as_dict())
    return quality


def index_quality(store: Store, library: str, model: str) -> IndexQuality | None:
    """The recorded quality of the model's index as it is now; None when never measured, or measured on another
    index or another vector index choice."""
    meta = store.catalog.find(library, model)
    record = store.catalog.settings(library).get(setting_key(model))
    if meta is None or not isinstance(record, dict) or record.get("created_at") != meta.created_at:
        return None
    if record.get("vector_index") != VectorIndex.of(meta.vector_index).as_dict():
        return None
    try:
        return IndexQuality(**record)
    except TypeError:  # written by another version: not measured rather than a crash
        return None


@dataclass(frozen=True)
class IndexSummary:
    model: str
    index: VectorIndex
    quality: IndexQuality | None


def index_summary(store: Store, library: str, meta: CollectionMeta) -> IndexSummary:
    """One index's vector index and its recorded quality, as the Costs page lists them."""
    return IndexSummary(
        meta.model_name, VectorIndex.of(meta.vector_index), index_quality(store, library, meta.model_name)
    )
