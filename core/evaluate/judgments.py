"""Judging as you browse: a library's own relevance judgments, exported as qrels, evaluated, and used to tune hybrid.

An analyst with their own documents and no benchmark marks hits relevant or not while searching. Those
judgments (stored per library in the database) are a small test collection over the library as it is
indexed: evaluation ranks the library's documents for each judged query with every chosen model and mode,
exactly as `python -m core evaluate` ranks a corpus, with the same metrics and intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from core.access import Actor, require_write
from core.embed.embedder import Embedder
from core.errors import PotionError
from core.evaluate.datasets import Qrels
from core.evaluate.results import EvaluationReport, run_key
from core.evaluate.runs import compare_runs, evaluate_runs, weighted_rankings
from core.evaluate.stats import RESAMPLES, SEED, Interval, bootstrap_ci
from core.evaluate.tuning import WEIGHTS, best_weight
from core.ingest.pipeline import no_progress
from core.storage import Store
from core.types import Fusion, HybridParams, Judgment, ProgressCallback, SearchMode

RELEVANT, NOT_RELEVANT = 1, 0
MIN_RELIABLE_QUERIES = 20  # below this a tuned weight mostly fits the few queries judged
JUDGED_LIBRARY = "library:"  # what an evaluation of a library's own judgments names as evaluated, before the name


class JudgmentError(PotionError):
    """Judgments that cannot be evaluated (none yet, or no query with a relevant document)."""


def judge(
    store: Store,
    library: str,
    query: str,
    document: str,
    relevance: int,
    chunk: int = -1,
    model: str = "",
    actor: Actor | None = None,
) -> Judgment:
    """Record that `document` does (1) or does not (0) answer `query` in this library; a later verdict replaces it."""
    require_write(actor, f"record a judgment in library '{library}'")
    judgment = Judgment(
        library=library,
        query=" ".join(query.split()),
        document=document,
        relevance=relevance,
        chunk=chunk,
        model=model,
        judged_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    store.judgments.put(judgment)
    return judgment


def verdicts(judgments: Sequence[Judgment], query: str) -> dict[str, int]:
    """Document -> relevance for one query, as the Search page shows it beside the hits."""
    wanted = " ".join(query.split())
    return {j.document: j.relevance for j in judgments if j.query == wanted}


@dataclass(frozen=True)
class JudgedCollection:
    queries: dict[str, str]  # query id -> text, only queries with at least one relevant document
    qrels: Qrels  # query id -> {document: relevance}, relevant documents only (as read_qrels keeps them)
    judged_queries: int  # every query with a judgment, relevant or not


def judged_collection(judgments: Sequence[Judgment]) -> JudgedCollection:
    queries: dict[str, str] = {}
    qrels: Qrels = {}
    for j in judgments:
        if j.relevance >= RELEVANT:
            queries[j.query_id] = j.query
            qrels.setdefault(j.query_id, {})[j.document] = j.relevance
    return JudgedCollection(queries, qrels, len({j.query_id for j in judgments}))


def evaluate_judgments(
    store: Store,
    library: str,
    models: Mapping[str, Embedder],
    modes: Sequence[SearchMode],
    baseline: tuple[str, SearchMode] | None = None,
    params: HybridParams | None = None,
    progress: ProgressCallback | None = None,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> EvaluationReport:
    """Every model (already indexed in the library) in every mode over the library's judged queries."""
    collection = _collection(store, library)
    rows = [(model, mode) for model in models for mode in dict.fromkeys(modes)]
    results = []
    for model, embedder in models.items():
        meta = store.catalog.require(library, model)
        label = "{size} {unit}, overlap {overlap}".format(**meta.chunking) if meta.chunking else ""
        keys = [run_key(model, mode, params) for mode in dict.fromkeys(modes)]
        queries, qrels = collection.queries, collection.qrels
        results += evaluate_runs(
            keys, queries, qrels, library, embedder, store, label, progress or no_progress, resamples, seed
        )
    comparisons = compare_runs(results, baseline or rows[0], resamples, seed)
    return EvaluationReport(
        f"{library} (judgments)",
        len(collection.queries),
        "",
        results,
        comparisons,
        [],
        f"{JUDGED_LIBRARY}{library}",
        collection.queries,
        collection.qrels,
    )


@dataclass(frozen=True)
class WeightPoint:
    weight: float  # the dense share of the weighted hybrid
    ndcg: Interval  # nDCG@10 over the judged queries, with its 95% interval


@dataclass(frozen=True)
class HybridSweep:
    model: str
    points: list[WeightPoint]
    queries: int

    @property
    def best(self) -> WeightPoint:
        """The weight with the highest mean; ties go to the one nearest 0.5, the least extreme blend."""
        chosen = best_weight({p.weight: p.ndcg.mean for p in self.points})
        return next(p for p in self.points if p.weight == chosen)

    @property
    def reliable(self) -> bool:
        return self.queries >= MIN_RELIABLE_QUERIES


def sweep_hybrid_weight(
    store: Store,
    library: str,
    embedder: Embedder,
    weights: Sequence[float] = WEIGHTS,
    progress: ProgressCallback | None = None,
) -> HybridSweep:
    """nDCG@10 of the weighted hybrid at each weight (0: keyword only, 1: dense only) on the judged queries."""
    collection = _collection(store, library)
    swept = weighted_rankings(
        collection.queries, collection.qrels, library, embedder, store, weights, progress=progress or no_progress
    )
    points = [
        WeightPoint(weight, bootstrap_ci(list(scores["ndcg@10"].values()))) for weight, (_, scores) in swept.items()
    ]
    return HybridSweep(embedder.info.name, points, len(collection.queries))


@dataclass(frozen=True)
class HybridDefault:
    """The weighted hybrid a library searches with by default, and the judgments it was chosen on."""

    weight: float
    model: str
    queries: int  # judged queries with a relevant document that the sweep ran over
    judgments: int
    ndcg: float
    chosen_at: str

    @property
    def params(self) -> HybridParams:
        return HybridParams(fusion=Fusion.WEIGHTED, weight=self.weight)


def adopt_hybrid_default(store: Store, library: str, sweep: HybridSweep, actor: Actor | None = None) -> HybridDefault:
    """Record the sweep's best weight as the library's hybrid default, with what it was chosen on."""
    require_write(actor, f"set the hybrid default of library '{library}'")
    best = sweep.best
    chosen = HybridDefault(
        weight=best.weight,
        model=sweep.model,
        queries=sweep.queries,
        judgments=len(store.judgments.list(library)),
        ndcg=round(best.ndcg.mean, 6),
        chosen_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    store.catalog.set_setting(library, "hybrid_default", asdict(chosen))
    return chosen


def hybrid_default(store: Store, library: str) -> HybridDefault | None:
    recorded = store.catalog.settings(library).get("hybrid_default")
    if not isinstance(recorded, dict):
        return None
    try:
        return HybridDefault(**recorded)
    except TypeError:  # written by another version: no default rather than a crash
        return None


def _collection(store: Store, library: str) -> JudgedCollection:
    collection = judged_collection(store.judgments.list(library))
    if not collection.queries:
        raise JudgmentError(
            f"Library '{library}' has no query with a hit judged relevant yet: mark some hits on the Search page."
        )
    return collection


@dataclass(frozen=True)
class Revision:
    deleted: int
    flipped: int

    @property
    def changed(self) -> int:
        return self.deleted + self.flipped


def revise_judgments(
    store: Store,
    library: str,
    judgments: Sequence[Judgment],
    relevant: Sequence[bool],
    delete: Sequence[bool],
    actor: Actor | None = None,
) -> Revision:
    """Apply an edited list of verdicts (the Judgments page's table): each judgment is deleted, flipped to the
    verdict given, or left as it is; returns how many were deleted and flipped."""
    actor = require_write(actor, f"change the judgments of library '{library}'")
    deleted = flipped = 0
    for judgment, keep_relevant, doomed in zip(judgments, relevant, delete, strict=True):
        if doomed:
            store.judgments.delete(judgment)
            deleted += 1
        elif keep_relevant != (judgment.relevance >= RELEVANT):
            verdict = RELEVANT if keep_relevant else NOT_RELEVANT
            judge(store, library, judgment.query, judgment.document, verdict, judgment.chunk, judgment.model, actor)
            flipped += 1
    return Revision(deleted, flipped)
