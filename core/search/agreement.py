"""How far models agree on a query: overlap measures over rankings, since scores of different models don't compare."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Protocol


class _HasDocument(Protocol):
    document: str


@dataclass(frozen=True)
class PairAgreement:
    model_a: str
    model_b: str
    overlap: float  # topk_overlap at k
    rbo: float  # rank_biased_overlap at depth k


def document_ranking(hits: Iterable[_HasDocument]) -> list[str]:
    """Distinct documents of ranked hits in first-seen order: models chunk differently, so compare documents."""
    return list(dict.fromkeys(h.document for h in hits))


def _distinct(items: Sequence[str], k: int | None) -> list[str]:
    # A repeated item counts at its first rank only; the measures assume each item appears once.
    ranking = list(dict.fromkeys(items))
    return ranking if k is None else ranking[:k]


def _check_k(k: int | None) -> None:
    if k is not None and k < 1:
        raise ValueError(f"k must be at least 1 (got {k}).")


def topk_overlap(a: Sequence[str], b: Sequence[str], k: int) -> float:
    """|A ∩ B| / k for A, B the first k items of each list; two empty lists agree (1.0).

    When both lists are shorter than k the divisor is the longer list's length, so identical lists give 1.0.
    """
    _check_k(k)
    top_a, top_b = _distinct(a, k), _distinct(b, k)
    depth = max(len(top_a), len(top_b))
    if depth == 0:
        return 1.0
    return len(set(top_a) & set(top_b)) / depth


def rank_biased_overlap(a: Sequence[str], b: Sequence[str], p: float = 0.9, k: int | None = None) -> float:
    """Extrapolated rank-biased overlap RBO_ext (Webber, Moffat, Zobel 2010, eq. 32) of two finite rankings.

    With S the shorter list (length s), L the longer (length l), X_d = |S[:d] ∩ L[:d]| (for d > s, all of S
    against L[:d]) and agreement A_d = X_d / d:

        RBO_ext = (1-p)/p * ( sum_{d=1..l} X_d/d * p^d + sum_{d=s+1..l} X_s * (d-s) / (s*d) * p^d )
                  + ( (X_l - X_s)/l + X_s/s ) * p^l

    which for s = l = k is (1-p)/p * sum_{d=1..k} A_d p^d + A_k p^k. It assumes the agreement seen at the
    end of the lists goes on below them, so equal lists give 1.0, disjoint 0.0, and it is symmetric in a and b.
    p in (0, 1) sets how top-heavy it is: with p = 0.9 the first 10 ranks carry about 86% of the weight.
    k truncates both lists first; two empty lists agree (1.0), one empty list gives 0.0.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(
            f"p must lie strictly between 0 and 1 (got {p}); 0.9 gives the top 10 ranks ~86% of the weight."
        )
    _check_k(k)
    first, second = _distinct(a, k), _distinct(b, k)
    short, long_ = (first, second) if len(first) <= len(second) else (second, first)
    s, l = len(short), len(long_)  # noqa: E741 - the paper's names
    if s == 0:
        return 1.0 if l == 0 else 0.0
    seen_short: set[str] = set()
    seen_long: set[str] = set()
    overlap = 0  # X_d
    x_s = 0
    sum_agreement = 0.0
    sum_extrapolated = 0.0
    for d in range(1, l + 1):
        item = long_[d - 1]
        if d <= s:
            other = short[d - 1]
            if other == item:
                overlap += 1
            else:
                overlap += (other in seen_long) + (item in seen_short)
            seen_short.add(other)
        else:
            overlap += item in seen_short
        seen_long.add(item)
        if d == s:
            x_s = overlap
        sum_agreement += overlap / d * p**d
        if d > s:
            sum_extrapolated += x_s * (d - s) / (s * d) * p**d
    rbo = (1 - p) / p * (sum_agreement + sum_extrapolated) + ((overlap - x_s) / l + x_s / s) * p**l
    # Float sums can leave 1.0 by an ulp; the measure itself lies in [0, 1].
    return min(1.0, max(0.0, rbo))


def agreement_matrix(rankings: dict[str, list[str]], k: int, p: float = 0.9) -> list[PairAgreement]:
    """Top-k overlap and RBO (depth k) for every pair of models, in the order the models are given."""
    _check_k(k)
    return [
        PairAgreement(
            model_a,
            model_b,
            topk_overlap(rankings[model_a], rankings[model_b], k),
            rank_biased_overlap(rankings[model_a], rankings[model_b], p, k),
        )
        for model_a, model_b in combinations(rankings, 2)
    ]
