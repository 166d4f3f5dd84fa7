"""What each model indexed in a library costs, measured on that library: size, storage, encode rate, query latency.

Everything is read, nothing is written: the encode rate times the model over a sample of the library's own
chunk texts (through the model's own `encode`, so a transformer's is its real forward passes), and query
latency runs sample queries (first sentences of random chunks) through the same search the Search page uses.
Index time is not measured here but read from what ingest recorded (core.ingest.index_time); an index made
before that, or copied by a rebuild, shows it as not recorded. Measurements are kept per library, model,
fingerprint and chunk count, so a page rerun shows them again without measuring, and a changed index is
measured afresh.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from core.embed.embedder import Embedder, ModelSource
from core.errors import PotionError
from core.ingest.index_time import index_time
from core.search.query import search
from core.storage import Store
from core.storage.base import check_compatible
from core.types import CollectionStats, ProgressCallback

BYTES_PER_FLOAT = 4  # stores keep every vector as float32, whatever the model's dtype
SAMPLE_CHUNKS = 2_000
SAMPLE_QUERIES = 20
SEED = 0
ENCODE_STEP = 250  # chunks per timed encode call: small enough that the progress bar moves
QUERY_CHARS = 200  # a first sentence can run long in extracted PDFs; a query rarely does
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class CostKey:
    """What a measurement depends on: the index's weights and its size."""

    library: str
    model: str
    fingerprint: str
    chunks: int


@dataclass(frozen=True)
class ModelCost:
    """One model's costs on one library; rates and latencies come from the counts and times kept here."""

    model: str
    dim: int
    params: int
    file_size_bytes: int
    chunks: int
    encoded_chunks: int
    encode_seconds: float
    query_ms: tuple[float, ...]  # encode + search of each sample query, in milliseconds
    index_seconds: float | None = None  # how long indexing took (core.ingest.index_time); None: not recorded
    index_chunks: int | None = None  # the chunks written in index_seconds
    dtype: str = ""  # of the model's weights: a quantized variant's are smaller (vectors stay float32)
    source: str = ""  # where the model comes from (core.embed.embedder.ModelSource): "transformer" for the teacher

    @property
    def family(self) -> str:
        """ "transformer" (a forward pass per text, torch) or "static" (a mean of token vectors), as tables say it."""
        return "transformer" if self.source == ModelSource.TRANSFORMER else "static"

    @property
    def index_rate(self) -> float | None:
        """Chunks indexed per second, as recorded when the library was indexed."""
        if not self.index_seconds or not self.index_chunks:
            return None
        return self.index_chunks / self.index_seconds

    @property
    def bytes_per_vector(self) -> int:
        return self.dim * BYTES_PER_FLOAT

    @property
    def index_bytes(self) -> int:
        """The dense vectors of the whole index (text, ids and the keyword index come on top)."""
        return self.bytes_per_vector * self.chunks

    @property
    def encode_rate(self) -> float:
        """Chunks encoded per second."""
        return self.encoded_chunks / self.encode_seconds if self.encode_seconds > 0 else 0.0

    @property
    def query_p50_ms(self) -> float:
        return float(statistics.median(self.query_ms)) if self.query_ms else 0.0


@dataclass(frozen=True)
class Skipped:
    model: str
    reason: str


@dataclass(frozen=True)
class CostReport:
    library: str
    costs: list[ModelCost] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    measured: int = 0  # models measured by this call; the rest came from the cache


class CostAxis(StrEnum):
    """The cost a chart puts on x."""

    QUERY_P50 = "Query latency p50 (ms)"
    BYTES_PER_VECTOR = "Bytes per vector"
    MODEL_SIZE = "Model size (MB)"


@dataclass(frozen=True)
class ChartPoint:
    model: str
    x: float
    y: float


@dataclass(frozen=True)
class CostChart:
    x_title: str
    y_title: str
    points: list[ChartPoint]


class CostCache:
    """Measurements by CostKey, shared between a page's runs and its job thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._costs: dict[CostKey, ModelCost] = {}

    def get(self, key: CostKey) -> ModelCost | None:
        with self._lock:
            return self._costs.get(key)

    def put(self, key: CostKey, cost: ModelCost) -> None:
        with self._lock:
            self._costs[key] = cost


def cost_key(library: str, stats: CollectionStats) -> CostKey:
    return CostKey(library, stats.meta.model_name, stats.meta.fingerprint, stats.chunks)


def indexed(store: Store, library: str) -> list[CollectionStats]:
    """The library's indexes that hold chunks, by model name."""
    return [c for c in store.library_stats(library) if c.chunks > 0]


def cached_costs(cache: CostCache, library: str, collections: Sequence[CollectionStats]) -> list[ModelCost | None]:
    """The kept measurement of each index, None where it has none yet."""
    return [cache.get(cost_key(library, c)) for c in collections]


def first_sentence(text: str) -> str:
    """The text up to its first sentence end, white space collapsed, at most QUERY_CHARS."""
    flat = " ".join(text.split())
    return _SENTENCE_END.split(flat, maxsplit=1)[0][:QUERY_CHARS]


def sample_texts(texts: Sequence[str], size: int, seed: int = SEED) -> list[str]:
    """Up to `size` of the texts, drawn without replacement; the same draw for the same texts and seed."""
    if len(texts) <= size:
        return list(texts)
    picked = np.random.default_rng(seed).choice(len(texts), size=size, replace=False)
    return [texts[i] for i in sorted(picked)]


def measure_model(
    store: Store,
    library: str,
    embedder: Embedder,
    sample_chunks: int = SAMPLE_CHUNKS,
    sample_queries: int = SAMPLE_QUERIES,
    seed: int = SEED,
    progress: ProgressCallback | None = None,
) -> ModelCost:
    """Measure one model on the library's chunks (its index must exist and hold chunks)."""
    name = embedder.info.name
    report = progress or (lambda stage, done, total: None)
    texts = [row["text"] for row in store.index(library, name).chunk_rows()]
    if not texts:
        raise PotionError(f"Library '{library}' has no chunks for {name}: index documents with it first.")
    encoded = sample_texts(texts, sample_chunks, seed)
    seconds = 0.0
    stage = f"encoding chunks with {name}"
    report(stage, 0, len(encoded))
    for start in range(0, len(encoded), ENCODE_STEP):
        batch = encoded[start : start + ENCODE_STEP]
        t0 = time.perf_counter()
        embedder.encode(batch)
        seconds += time.perf_counter() - t0
        report(stage, start + len(batch), len(encoded))
    queries = [q for q in map(first_sentence, sample_texts(texts, sample_queries, seed + 1)) if q]
    if queries:
        # The first search of an index may wait for the engine to load it; that is a one-off, not a query's cost.
        search(queries[0], library, embedder, store)
    stage = f"querying with {name}"
    report(stage, 0, len(queries))
    query_ms = []
    for done, query in enumerate(queries, start=1):
        result = search(query, library, embedder, store)
        query_ms.append(result.encode_ms + result.search_ms)
        report(stage, done, len(queries))
    info = embedder.info
    recorded = index_time(store, library, name)
    return ModelCost(
        model=name,
        dim=info.dim,
        params=info.params,
        file_size_bytes=info.file_size_bytes,
        chunks=len(texts),
        encoded_chunks=len(encoded),
        encode_seconds=seconds,
        query_ms=tuple(query_ms),
        index_seconds=recorded.seconds if recorded else None,
        index_chunks=recorded.chunks if recorded else None,
        dtype=info.dtype,
        source=str(info.kind),
    )


def measure_costs(
    store: Store,
    library: str,
    cache: CostCache,
    load: Callable[[str], Embedder],
    progress: ProgressCallback | None = None,
    sample_chunks: int = SAMPLE_CHUNKS,
    sample_queries: int = SAMPLE_QUERIES,
) -> CostReport:
    """Every indexed model's costs on the library, measuring only those the cache does not hold.

    A model that cannot be loaded, or whose weights changed since indexing, is skipped with the reason."""
    costs: list[ModelCost] = []
    skipped: list[Skipped] = []
    measured = 0
    for stats in indexed(store, library):
        key = cost_key(library, stats)
        kept = cache.get(key)
        if kept is not None:
            costs.append(kept)
            continue
        try:
            embedder = load(key.model)
            check_compatible(stats.meta, embedder.info)
            cost = measure_model(store, library, embedder, sample_chunks, sample_queries, progress=progress)
        except PotionError as exc:
            skipped.append(Skipped(key.model, str(exc)))
            continue
        # Counted when measuring started: chunks written meanwhile belong to a later measurement.
        cache.put(key, cost)
        costs.append(cost)
        measured += 1
    return CostReport(library, costs, skipped, measured)


def quality_from_report(report: Any, metric: str = "ndcg@10", mode: str = "dense") -> dict[str, float]:
    """{model: mean metric} of an EvaluationReport's runs in one mode, for the quality column."""
    return {r.model: float(r.metrics[metric].mean) for r in report.results if str(r.mode) == mode}


def cost_chart(costs: Sequence[ModelCost], axis: CostAxis, quality: Mapping[str, float] | None = None) -> CostChart:
    """One point per model: the chosen cost against quality where every model has it, else encode rate."""
    rated = bool(costs) and quality is not None and all(c.model in quality for c in costs)

    def x(cost: ModelCost) -> float:
        if axis == CostAxis.QUERY_P50:
            return cost.query_p50_ms
        if axis == CostAxis.BYTES_PER_VECTOR:
            return float(cost.bytes_per_vector)
        return cost.file_size_bytes / 1024**2

    points = [ChartPoint(c.model, x(c), quality[c.model] if rated else c.encode_rate) for c in costs]
    return CostChart(str(axis), "Quality (nDCG@10)" if rated else "Encode rate (chunks/s)", points)
