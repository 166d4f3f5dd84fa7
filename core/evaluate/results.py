"""What an evaluation returns: runs named by model, mode and fusion, their scores with intervals, and the
paired comparisons; `EvaluationReport.as_dict` is the JSON `python -m core evaluate --json` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from core.evaluate.datasets import Qrels
from core.evaluate.ranking import DocumentRanking
from core.evaluate.stats import Interval, PairedDifference
from core.evaluate.tuning import CrossValidatedWeight
from core.ingest.pipeline import IngestResult
from core.types import Fusion, HybridParams, SearchMode

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
    ranking: DocumentRanking  # query id -> (doc id, best chunk score), best first
    seconds: float  # searching and ranking every query, indexing not included
    fusion: str | None = None  # as in RunKey
    weight: float | None = None  # weighted: the dense share; tuned: the one chosen on every query
    tuning: CrossValidatedWeight | None = None  # tuned only: how each query's held-out weight was chosen
    fingerprint: str = ""  # of the weights of the model that ranked (its index's provenance has the same)
    vector_index: str = ""  # the dense index searched, as VectorIndex.label names it ("FLAT (exact)")

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
    evaluated: str = ""  # a collection's dataset name, or "library:<name>" for a library's own judgments
    judged: dict[str, str] = field(default_factory=dict)  # judged query id -> text, the queries every mean is over
    qrels: Qrels = field(default_factory=dict)  # those queries' relevant documents with their grades

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
