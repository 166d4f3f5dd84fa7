"""Uncertainty over queries: bootstrap intervals of a mean, and paired comparisons of two systems.

Every query is one draw: intervals come from resampling queries with replacement (percentile
bootstrap), and a paired comparison tests the per-query differences with a sign-flip randomization
test (under "no difference", each query's difference is as likely to have either sign). Both are
seeded, so a run reports the same numbers every time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 1000
SEED = 0
LEVEL = 0.95
# Up to this many queries every sign pattern is enumerated (2^12 = 4,096) and the p-value is exact.
EXACT_MAX_QUERIES = 12


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class PairedDifference:
    """`other` minus `baseline`, query by query."""

    diff: float
    low: float
    high: float
    p_value: float  # two-sided


def bootstrap_ci(
    values: Sequence[float] | np.ndarray, resamples: int = RESAMPLES, seed: int = SEED, level: float = LEVEL
) -> Interval:
    """The mean and its percentile-bootstrap interval over the values (queries resampled with replacement)."""
    data = _as_array(values)
    means = _bootstrap_means(data, resamples, seed)
    low, high = _percentiles(means, level)
    return Interval(float(data.mean()), low, high)


def paired_difference(
    baseline: Sequence[float] | np.ndarray,
    other: Sequence[float] | np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> PairedDifference:
    """Mean of other - baseline over the same queries, its paired-bootstrap interval and a two-sided
    sign-flip randomization p-value (exact over all 2^n sign patterns for n <= EXACT_MAX_QUERIES)."""
    a, b = _as_array(baseline), _as_array(other)
    if a.shape != b.shape:
        raise ValueError(f"Paired scores need the same queries on both sides ({a.size} and {b.size} given).")
    diffs = b - a
    low, high = _percentiles(_bootstrap_means(diffs, resamples, seed), level)
    return PairedDifference(float(diffs.mean()), low, high, sign_flip_p_value(diffs, resamples, seed))


def sign_flip_p_value(diffs: Sequence[float] | np.ndarray, resamples: int = RESAMPLES, seed: int = SEED) -> float:
    """Two-sided p-value of a mean difference of zero: the share of sign patterns whose |sum| reaches the observed."""
    d = _as_array(diffs)
    observed = abs(float(d.sum()))
    # Sums of the same numbers in another order differ in the last bits; that must not make a tie a miss.
    tolerance = 1e-9 * max(1.0, float(np.abs(d).sum()))
    if d.size <= EXACT_MAX_QUERIES:
        patterns = np.array(np.meshgrid(*[[1.0, -1.0]] * d.size, indexing="ij")).reshape(d.size, -1).T
        return float(np.mean(np.abs(patterns @ d) >= observed - tolerance))
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(resamples, d.size))
    hits = int(np.sum(np.abs(signs @ d) >= observed - tolerance))
    # The observed pattern counts as one of the resamples, so p is never 0 (Phipson & Smyth 2010).
    return (hits + 1) / (resamples + 1)


def _as_array(values: Sequence[float] | np.ndarray) -> np.ndarray:
    data = np.asarray(values, dtype=np.float64)
    if data.ndim != 1 or data.size == 0:
        raise ValueError("Statistics need a non-empty list of per-query scores.")
    return data


def _bootstrap_means(data: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)


def _percentiles(means: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)
