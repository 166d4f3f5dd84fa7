"""Bootstrap intervals and paired tests on cases whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.evaluate.stats import bootstrap_ci, paired_difference, sign_flip_p_value

# --- paired differences --------------------------------------------------------------------------


@pytest.mark.parametrize("n", [5, 60])  # the exact enumeration and the sampled test
def test_identical_runs_differ_by_zero_with_p_one(n):
    scores = np.random.default_rng(1).random(n)
    result = paired_difference(scores, scores.copy())
    assert result.diff == 0.0 and result.low == 0.0 and result.high == 0.0
    assert result.p_value == 1.0


def test_a_constant_shift_is_the_difference_with_a_tiny_p():
    baseline = np.random.default_rng(2).random(60)
    result = paired_difference(baseline, baseline + 0.1, resamples=1000)
    assert result.diff == pytest.approx(0.1)
    assert (result.low, result.high) == pytest.approx((0.1, 0.1))
    # Only the all-plus and all-minus patterns reach the observed sum (2 in 2^60): the smallest
    # p-value 1000 resamples can give is 1 / 1001.
    assert result.p_value == pytest.approx(1 / 1001)
    assert paired_difference(baseline + 0.1, baseline).diff == pytest.approx(-0.1)


def test_the_exact_sign_flip_p_value_matches_the_hand_count():
    # diffs 1, 1, 1, -1 sum to 2. Flipping signs gives a sum of four +-1: |sum| >= 2 in 10 of 16 patterns
    # (sum 4: 1, 2: 4, 0: 6, -2: 4, -4: 1).
    assert sign_flip_p_value([1.0, 1.0, 1.0, -1.0]) == pytest.approx(10 / 16)
    # 3, 1, 1: the sums are +-5, +-3, +-3, +-1, so only the two extremes reach 5.
    assert sign_flip_p_value([3.0, 1.0, 1.0]) == pytest.approx(2 / 8)


def test_the_sampled_sign_flip_p_value_matches_the_binomial_answer():
    # 16 diffs of +-1, 12 positive: the sum is 8. Under the null the sum is 2 B - 16 with B ~ Bin(16, 1/2),
    # so p = P(B >= 12) + P(B <= 4) = 2 * (1820 + 560 + 120 + 16 + 1) / 2^16 = 0.07681.
    diffs = [1.0] * 12 + [-1.0] * 4
    exact = 2 * sum(math.comb(16, k) for k in range(12, 17)) / 2**16
    assert exact == pytest.approx(0.076813, abs=1e-6)
    assert sign_flip_p_value(diffs, resamples=20_000) == pytest.approx(exact, abs=0.008)  # ~4 standard errors


def test_pairing_finds_a_small_consistent_gain_that_separate_intervals_cannot():
    # Queries vary a lot; the other run is better by about 0.03 on every one of them.
    rng = np.random.default_rng(3)
    baseline = rng.random(200)
    other = baseline + 0.03 + rng.normal(0, 0.01, 200)
    a, b = bootstrap_ci(baseline), bootstrap_ci(other)
    assert a.high > b.low  # the two runs' intervals overlap
    paired = paired_difference(baseline, other)
    assert paired.diff == pytest.approx(float(np.mean(other - baseline)))
    assert 0 < paired.low < paired.diff < paired.high < 0.06
    assert paired.p_value < 0.01


def test_paired_scores_must_cover_the_same_queries():
    with pytest.raises(ValueError, match="same queries"):
        paired_difference([0.1, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_ci([])


# --- bootstrap intervals -------------------------------------------------------------------------


def test_a_constant_score_has_a_zero_width_interval():
    result = bootstrap_ci([0.5] * 30)
    assert (result.mean, result.low, result.high) == pytest.approx((0.5, 0.5, 0.5))


def test_the_interval_matches_the_normal_approximation_on_a_large_sample():
    # For 2,000 scores the mean is close to normal: mean +- 1.96 s / sqrt(n).
    values = np.random.default_rng(4).random(2000)
    half = 1.96 * values.std(ddof=1) / math.sqrt(values.size)
    result = bootstrap_ci(values, resamples=4000)
    assert result.mean == pytest.approx(values.mean())
    assert result.low == pytest.approx(values.mean() - half, abs=0.15 * half)
    assert result.high == pytest.approx(values.mean() + half, abs=0.15 * half)


def test_the_interval_is_a_percentile_of_resampled_means_and_is_seeded():
    # Two queries, 0 and 1: a resample's mean is 0, 1/2 or 1 with chance 1/4, 1/2, 1/4, so the 2.5th
    # and 97.5th percentiles of many resampled means are 0 and 1.
    result = bootstrap_ci([0.0, 1.0], resamples=4000)
    assert (result.mean, result.low, result.high) == (0.5, 0.0, 1.0)
    values = np.random.default_rng(5).random(40)
    assert bootstrap_ci(values) == bootstrap_ci(values)
    assert bootstrap_ci(values, seed=1) != bootstrap_ci(values, seed=2)
