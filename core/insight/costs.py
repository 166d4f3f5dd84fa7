"""What each model indexed in a library costs, measured on that library: size, storage, encode rate, query latency.

Measuring reads only: the encode rate times the model over a sample of the library's own chunk texts (through the
model's own `encode`, so a transformer's is its real forward passes), and query latency runs sample queries (first
sentences of random chunks) through the same search the Search page uses. Index time is not measured here but read
from what ingest recorded (core.ingest.index_time); an index made before that, or copied by a rebuild, shows it as
not recorded.

Each measurement is kept beside the library (setting `costs:<model>`, as core.insight.index_quality keeps recall)
with the model's fingerprint, the chunk count it was measured at and when, so a restart shows it again without
measuring. A measurement whose fingerprint or chunk count no longer matches the index is stale: shown as such, never
taken for current, and measured again. Keeping is a write, so the edges go through core.service.costs, which keeps
nothing for a reader.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import numpy as np

from core.embed.embedder import Embedder, ModelSource
from core.errors import PotionError
from core.ingest.index_time import index_time
from core.search.query import search
from core.sizes import format_count
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
SETTING = "costs"


def setting_key(model: str) -> str:
    return f"{SETTING}:{model}"


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
class CostRecord:
    """One measurement with what it was measured on, as kept beside the library."""

    cost: ModelCost
    fingerprint: str  # of the model's weights when measured
    chunks: int  # the index's chunks when measuring started: chunks written meanwhile belong to a later measurement
    measured_at: str  # UTC, ISO 8601 to the second
    kept: bool = True  # False: measured for a reader, shown by this process only, not in the database

    def as_dict(self) -> dict:
        record = asdict(self)
        record.pop("kept")  # what is read back from the database was kept, by definition
        return record

    @classmethod
    def from_dict(cls, record: object) -> CostRecord | None:
        """The record as kept; None for anything else (a value written by another version reads as not measured)."""
        if not isinstance(record, dict) or not isinstance(record.get("cost"), dict):
            return None
        try:
            cost = ModelCost(**{**record["cost"], "query_ms": tuple(record["cost"]["query_ms"])})
            return cls(cost, record["fingerprint"], int(record["chunks"]), str(record["measured_at"]))
        except (KeyError, TypeError, ValueError):
            return None

    def stale(self, stats: CollectionStats) -> str:
        """Why this measurement no longer describes the index as it is; "" while it does."""
        reasons = []
        if self.fingerprint != stats.meta.fingerprint:
            reasons.append("the model's weights changed since")
        if self.chunks != stats.chunks:
            reasons.append(f"measured at {_chunks(self.chunks)}, the index now holds {_chunks(stats.chunks)}")
        return "; ".join(reasons)


def _chunks(count: int) -> str:
    return f"{format_count(count, exact=True)} chunk{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class CostState:
    """An index's latest measurement, if any, and whether it still holds."""

    model: str
    record: CostRecord | None
    stale: str = ""  # why the record no longer describes the index; "" when current or when there is none

    @property
    def current(self) -> bool:
        return self.record is not None and not self.stale


@dataclass(frozen=True)
class CostReport:
    library: str
    records: list[CostRecord] = field(default_factory=list)  # every index's current measurement, this call's or kept
    skipped: list[Skipped] = field(default_factory=list)
    measured: int = 0  # models measured by this call; the rest were kept and current
    not_kept: str = ""  # why this call's measurements were not kept in the database; "" when they were

    @property
    def costs(self) -> list[ModelCost]:
        return [r.cost for r in self.records]


def kept_cost(store: Store, library: str, model: str) -> CostRecord | None:
    """The measurement kept in the database for the library's index of `model`, current or not."""
    return CostRecord.from_dict(store.catalog.settings(library).get(setting_key(model)))


def keep_cost(store: Store, library: str, record: CostRecord) -> None:
    """Keep the measurement beside the library, replacing the model's previous one (a write: see core.service.costs)."""
    store.catalog.set_setting(library, setting_key(record.cost.model), record.as_dict())


def cost_states(
    store: Store, library: str, collections: Sequence[CollectionStats], unkept: Sequence[CostRecord] = ()
) -> list[CostState]:
    """Each index's latest measurement: the kept one or a newer one measured for a reader (`unkept`), with why it
    no longer holds where the index changed since."""
    settings = store.catalog.settings(library)
    states = []
    for stats in collections:
        model = stats.meta.model_name
        found = [CostRecord.from_dict(settings.get(setting_key(model))), *(r for r in unkept if r.cost.model == model)]
        latest = max((r for r in found if r is not None), key=lambda r: r.measured_at, default=None)
        states.append(CostState(model, latest, latest.stale(stats) if latest else ""))
    return states


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


def indexed(store: Store, library: str) -> list[CollectionStats]:
    """The library's indexes that hold chunks, by model name."""
    return [c for c in store.library_stats(library) if c.chunks > 0]


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
    load: Callable[[str], Embedder],
    progress: ProgressCallback | None = None,
    sample_chunks: int = SAMPLE_CHUNKS,
    sample_queries: int = SAMPLE_QUERIES,
    again: bool = False,
    keep: bool = True,
) -> CostReport:
    """Every indexed model's costs on the library, measuring those with no current kept measurement (every one when
    `again`) and keeping each as it is measured, replacing the one before, unless `keep` is False.

    A model that cannot be loaded, or whose weights changed since indexing, is skipped with the reason."""
    records: list[CostRecord] = []
    skipped: list[Skipped] = []
    measured = 0
    for stats in indexed(store, library):
        model = stats.meta.model_name
        kept = kept_cost(store, library, model)
        if kept is not None and not kept.stale(stats) and not again:
            records.append(kept)
            continue
        try:
            embedder = load(model)
            check_compatible(stats.meta, embedder.info)
            cost = measure_model(store, library, embedder, sample_chunks, sample_queries, progress=progress)
        except PotionError as exc:
            skipped.append(Skipped(model, str(exc)))
            continue
        record = CostRecord(
            cost,
            fingerprint=stats.meta.fingerprint,
            chunks=stats.chunks,
            measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
            kept=keep,
        )
        if keep:
            keep_cost(store, library, record)
        records.append(record)
        measured += 1
    return CostReport(library, records, skipped, measured)


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
