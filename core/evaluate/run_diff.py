"""Two saved runs compared query by query: which queries got better and which worse, by how much, how sure, and how
far the two rankings agree.

Runs made on different judgments (a library judged further, another collection) are compared only on the queries
both judged, and the diff says how many those are and how many each has alone. Differences are B minus A, tested
as `evaluate` tests them (core.evaluate.stats.paired_difference); rank agreement is the Compare page's
(core.search.agreement), at depth 10."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from core.errors import RunDiffError
from core.evaluate.metrics import MEASURES
from core.evaluate.saved import HEADLINE, RunSummary, SavedRun
from core.evaluate.stats import RESAMPLES, SEED, PairedDifference, paired_difference
from core.search.agreement import rank_biased_overlap, topk_overlap

AGREEMENT_DEPTH = 10  # overlap@10, and RBO of the top 10 (p 0.9), as the Compare page measures two rankings
RBO_P = 0.9
TIE = 1e-9  # per-query scores closer than this are a tie (sums of the same numbers in another order)


class Outcome(StrEnum):
    """What became of one query in B against A, by its nDCG@10."""

    BETTER = "B better"
    TIED = "Tied"
    WORSE = "B worse"


def outcome(diff: float) -> Outcome:
    """B minus A on one query as a win, a tie (closer than TIE) or a loss."""
    if diff > TIE:
        return Outcome.BETTER
    return Outcome.WORSE if diff < -TIE else Outcome.TIED


@dataclass(frozen=True)
class MetricDiff:
    metric: str
    a: float  # run A's mean over the shared queries
    b: float
    difference: PairedDifference  # B minus A, with its paired-bootstrap interval and sign-flip p-value


@dataclass(frozen=True)
class QueryDiff:
    query_id: str
    a: float  # the headline measure (nDCG@10) of run A on this query
    b: float
    diff: float  # b - a

    @property
    def outcome(self) -> Outcome:
        return outcome(self.diff)


@dataclass(frozen=True)
class QueryAgreement:
    query_id: str
    overlap: float  # top-10 overlap of the two rankings
    rbo: float  # rank-biased overlap of the top 10


@dataclass(frozen=True)
class RunDiff:
    a: RunSummary
    b: RunSummary
    shared: int  # judged queries both runs have: every number below is over these
    only_a: int  # judged by A's judgments alone
    only_b: int
    same_judgments: bool  # both runs were scored on exactly the same judgments (equal qrels hashes)
    metrics: list[MetricDiff]
    per_query: list[QueryDiff]  # largest |diff| first
    wins: int  # queries where B scores higher than A (nDCG@10)
    ties: int
    losses: int
    agreement: list[QueryAgreement]  # in the order of per_query
    mean_overlap: float
    mean_rbo: float

    def gained(self, count: int) -> list[QueryDiff]:
        """The `count` queries B improved most (ties left out), largest gain first."""
        return sorted((q for q in self.per_query if q.outcome is Outcome.BETTER), key=lambda q: -q.diff)[:count]

    def lost(self, count: int) -> list[QueryDiff]:
        """The `count` queries B made worse most (ties left out), largest loss first."""
        return sorted((q for q in self.per_query if q.outcome is Outcome.WORSE), key=lambda q: q.diff)[:count]

    def as_dict(self) -> dict:
        """The JSON `python -m core runs diff A B --json` prints."""
        return {
            "a": {"id": self.a.id, "name": self.a.name, "evaluated": self.a.evaluated},
            "b": {"id": self.b.id, "name": self.b.name, "evaluated": self.b.evaluated},
            "queries": {"shared": self.shared, "only_a": self.only_a, "only_b": self.only_b},
            "same_judgments": self.same_judgments,
            "metrics": [
                {
                    "metric": m.metric,
                    "a": _round(m.a),
                    "b": _round(m.b),
                    "diff": _round(m.difference.diff),
                    "ci95": [_round(m.difference.low), _round(m.difference.high)],
                    "p_value": _round(m.difference.p_value),
                }
                for m in self.metrics
            ],
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "agreement": {"overlap@10": _round(self.mean_overlap), "rbo": _round(self.mean_rbo)},
            "per_query": [
                {"query_id": q.query_id, "a": _round(q.a), "b": _round(q.b), "diff": _round(q.diff)}
                for q in self.per_query
            ],
        }


def diff_runs(a: SavedRun, b: SavedRun, resamples: int = RESAMPLES, seed: int = SEED) -> RunDiff:
    """Run B against run A on the queries both judged (in A's order); RunDiffError when they share none."""
    judged_a, judged_b = a.per_query.get(HEADLINE, {}), b.per_query.get(HEADLINE, {})
    shared = [qid for qid in judged_a if qid in judged_b]
    if not shared:
        raise RunDiffError(
            f"Runs '{a.name}' ({a.summary.evaluated}) and '{b.name}' ({b.summary.evaluated}) share no judged query, "
            "so there is nothing to compare them on."
        )
    measures = [m for m in MEASURES if m in a.per_query and m in b.per_query]
    metrics = []
    for measure in measures:
        scores_a = [a.per_query[measure][q] for q in shared]
        scores_b = [b.per_query[measure][q] for q in shared]
        difference = paired_difference(scores_a, scores_b, resamples, seed)
        metrics.append(MetricDiff(measure, _mean(scores_a), _mean(scores_b), difference))
    changes = [QueryDiff(q, judged_a[q], judged_b[q], judged_b[q] - judged_a[q]) for q in shared]
    changes.sort(key=lambda c: -abs(c.diff))  # stable: equal changes keep A's query order
    agreement = [_agreement(q.query_id, a, b) for q in changes]
    return RunDiff(
        a=a.summary,
        b=b.summary,
        shared=len(shared),
        only_a=len(judged_a) - len(shared),
        only_b=len(judged_b) - len(shared),
        same_judgments=a.summary.qrels_hash == b.summary.qrels_hash,
        metrics=metrics,
        per_query=changes,
        wins=sum(c.outcome == Outcome.BETTER for c in changes),
        ties=sum(c.outcome == Outcome.TIED for c in changes),
        losses=sum(c.outcome == Outcome.WORSE for c in changes),
        agreement=agreement,
        mean_overlap=_mean([g.overlap for g in agreement]),
        mean_rbo=_mean([g.rbo for g in agreement]),
    )


def diff_against_first(runs: Sequence[SavedRun], resamples: int = RESAMPLES, seed: int = SEED) -> list[RunDiff]:
    """Several runs: each one after the first against the first."""
    if len(runs) < 2:
        raise RunDiffError("Pick at least two runs to compare.")
    return [diff_runs(runs[0], other, resamples, seed) for other in runs[1:]]


@dataclass(frozen=True)
class RunComparison:
    """Runs compared with the first, kept with the runs themselves: their query texts and rankings open any query."""

    runs: list[SavedRun]  # A, the baseline, first
    diffs: list[RunDiff]  # each later run against A, in the order given

    @property
    def queries(self) -> dict[str, str]:
        """Every judged query's text any of the runs holds (A's where they differ)."""
        texts: dict[str, str] = {}
        for run in reversed(self.runs):
            texts.update(run.queries)
        return texts


def compare_with_first(runs: Sequence[SavedRun], resamples: int = RESAMPLES, seed: int = SEED) -> RunComparison:
    """`diff_against_first`, with the runs it compared."""
    return RunComparison(list(runs), diff_against_first(runs, resamples, seed))


def _agreement(query_id: str, a: SavedRun, b: SavedRun) -> QueryAgreement:
    docs_a = [doc for doc, _ in a.ranking.get(query_id, [])]
    docs_b = [doc for doc, _ in b.ranking.get(query_id, [])]
    return QueryAgreement(
        query_id,
        topk_overlap(docs_a, docs_b, AGREEMENT_DEPTH),
        rank_biased_overlap(docs_a, docs_b, RBO_P, AGREEMENT_DEPTH),
    )


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def _round(value: float) -> float:
    return round(float(value), 6)
