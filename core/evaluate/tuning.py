"""Choosing the weighted hybrid's dense share from judged queries, and estimating honestly what it is worth.

The weight with the best mean on the judged queries is the one to adopt, but its score on those same
queries is optimistic: it was picked for them. Cross-validation scores each query with a weight chosen
on the other folds only, so the tuned hybrid's number can stand in a table beside runs that were not
tuned at all.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import PotionError

WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))  # 0: keyword only, 1: dense only
FOLDS = 5


class TuningError(PotionError):
    """Too few queries, or scores that do not cover the same queries at every weight."""


def best_weight(means: Mapping[float, float]) -> float:
    """The weight with the highest mean; ties go to the one nearest 0.5, the least extreme blend."""
    if not means:
        raise TuningError("No weight was scored.")
    return max(means, key=lambda w: (round(means[w], 9), -abs(w - 0.5)))


@dataclass(frozen=True)
class CrossValidatedWeight:
    weight: float  # chosen on every query: the one to adopt
    folds: int
    fold_weights: list[float]  # chosen on all folds but fold i, applied to fold i
    fold_of: dict[str, int]  # query id -> its fold
    weight_of: dict[str, float]  # query id -> the weight its held-out score was taken at


def cross_validate_weight(
    scores: Mapping[float, Mapping[str, float]], folds: int = FOLDS, seed: int = 0
) -> CrossValidatedWeight:
    """Per weight, per query scores in; for each fold the weight best on the other folds, applied to it.

    Queries are shuffled into folds with `seed`, so a run is repeatable. With fewer queries than folds
    every query is its own fold (leave one out)."""
    if not scores:
        raise TuningError("No weight was scored.")
    queries = list(next(iter(scores.values())))
    if any(set(by_query) != set(queries) for by_query in scores.values()):
        raise TuningError("Every weight must be scored on the same queries.")
    if len(queries) < 2:
        raise TuningError("Tuning a weight needs at least two judged queries: one to choose on, one to score.")
    folds = min(folds, len(queries))
    shuffled = queries[:]
    random.Random(seed).shuffle(shuffled)
    fold_of = {qid: i % folds for i, qid in enumerate(shuffled)}
    fold_weights = []
    for fold in range(folds):
        train = [q for q in queries if fold_of[q] != fold]
        fold_weights.append(best_weight({w: sum(s[q] for q in train) / len(train) for w, s in scores.items()}))
    weight_of = {q: fold_weights[fold_of[q]] for q in queries}
    everything = best_weight({w: sum(s.values()) / len(s) for w, s in scores.items()})
    return CrossValidatedWeight(everything, folds, fold_weights, {q: fold_of[q] for q in queries}, weight_of)


def held_out(values: Mapping[float, Mapping[str, object]], chosen: CrossValidatedWeight) -> dict[str, object]:
    """Each query's value (a score or a ranking) at the weight its fold was given, in the queries' order."""
    return {qid: values[w][qid] for qid, w in chosen.weight_of.items()}
