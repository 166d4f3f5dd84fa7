"""Agreement between models' rankings: top-k overlap and rank-biased overlap, checked against hand arithmetic."""

from __future__ import annotations

import random

import pytest

from core.search.agreement import PairAgreement, agreement_matrix, document_ranking, rank_biased_overlap, topk_overlap
from core.search.query import Hit


def test_topk_overlap_counts_shared_items_among_the_first_k():
    # First 3: {a, b, c} and {b, e, a}; shared {a, b} -> 2/3.
    assert topk_overlap(["a", "b", "c", "d"], ["b", "e", "a", "f"], 3) == pytest.approx(2 / 3)
    # First 4 adds d and f, neither shared -> still 2 shared, now 2/4.
    assert topk_overlap(["a", "b", "c", "d"], ["b", "e", "a", "f"], 4) == pytest.approx(0.5)


def test_topk_overlap_of_short_lists_divides_by_the_longer_list():
    assert topk_overlap(["a", "b", "c"], ["c", "b", "a"], 10) == 1.0
    # 1 shared item over a depth of 2 (the longer list), not over k = 10.
    assert topk_overlap(["a", "b"], ["a"], 10) == 0.5


def test_rbo_of_equal_length_lists_by_hand():
    # p = 0.5, so (1-p)/p = 1. Depth 1: {A}&{A} = 1 -> A_1 = 1; depth 2: {A,B}&{A,C} = 1 -> A_2 = 1/2;
    # depth 3: {A,B,C}&{A,C,D} = 2 -> A_3 = 2/3.
    # sum A_d p^d = 1/2 + 1/8 + 1/12 = 17/24; plus A_3 p^3 = 2/3 * 1/8 = 2/24 -> 19/24.
    assert rank_biased_overlap(["A", "B", "C"], ["A", "C", "D"], p=0.5) == pytest.approx(19 / 24)


def test_rbo_of_a_swapped_top_pair_is_p():
    # X_1 = 0, X_2 = 2: (1-p)/p * (2/2) p^2 + (2/2) p^2 = (1-p) p + p^2 = p.
    assert rank_biased_overlap(["A", "B"], ["B", "A"], p=0.9) == pytest.approx(0.9)


def test_rbo_of_a_longer_ranking_with_p_point_nine_by_hand():
    # [1,2,3,4,5] vs [2,3,4,1,5]: A_1 = 0, A_2 = 1/2, A_3 = 2/3, A_4 = 1, A_5 = 1.
    # sum A_d p^d = 0.405 + 0.486 + 0.6561 + 0.59049 = 2.13759; times (1-p)/p = 1/9 -> 0.23751;
    # plus A_5 p^5 = 0.59049 -> 0.828.
    assert rank_biased_overlap(list("12345"), list("23415"), p=0.9) == pytest.approx(0.828)


def test_rbo_of_uneven_lists_by_hand():
    # S = [A, B] (s = 2), L = [B, A, C] (l = 3), p = 1/2 so (1-p)/p = 1.
    # X_1 = 0, X_2 = 2, X_3 = |{A,B} & {B,A,C}| = 2.
    # sum_{d=1..3} X_d/d p^d = 0 + 1/4 + 2/3 * 1/8 = 1/3 = 8/24
    # sum_{d=3..3} X_s (d-s)/(s d) p^d = 2 * 1 / 6 * 1/8 = 1/24
    # ((X_l - X_s)/l + X_s/s) p^l = (0 + 1) * 1/8 = 3/24  -> 8/24 + 1/24 + 3/24 = 1/2
    assert rank_biased_overlap(["A", "B"], ["B", "A", "C"], p=0.5) == pytest.approx(0.5)
    # S = [A, X], L = [A, B, C]: X_1 = 1, X_2 = 1, X_3 = 1.
    # 1/2 + 1/2 * 1/4 + 1/3 * 1/8 = 2/3 = 32/48; extrapolation 1 * 1 / 6 * 1/8 = 1/48;
    # tail (0 + 1/2) * 1/8 = 3/48 -> 36/48 = 3/4.
    assert rank_biased_overlap(["A", "X"], ["A", "B", "C"], p=0.5) == pytest.approx(0.75)


def test_rbo_extrapolates_a_list_that_is_a_prefix_of_the_other_to_full_agreement():
    # S = [a, b], L = [a, b, c]: everything S shows agrees, and RBO_ext assumes that goes on.
    assert rank_biased_overlap(["a", "b"], ["a", "b", "c"]) == pytest.approx(1.0)


@pytest.mark.parametrize("p", [0.5, 0.9, 0.98])
@pytest.mark.parametrize("n", [1, 3, 10, 50])
def test_identical_rankings_give_one_and_disjoint_ones_zero(p, n):
    items = [f"d{i}" for i in range(n)]
    others = [f"e{i}" for i in range(n + 2)]
    assert rank_biased_overlap(items, list(items), p) == pytest.approx(1.0)
    assert rank_biased_overlap(items, others, p) == 0.0
    assert topk_overlap(items, list(items), n) == 1.0
    assert topk_overlap(items, others, n) == 0.0


def test_rbo_and_overlap_are_symmetric_and_bounded():
    rng = random.Random(7)
    pool = [f"doc{i}" for i in range(15)]
    for _ in range(200):
        a = rng.sample(pool, rng.randint(1, 10))
        b = rng.sample(pool, rng.randint(1, 10))
        p = rng.choice([0.5, 0.8, 0.9, 0.95])
        k = rng.choice([None, 1, 3, 5, 10])
        rbo = rank_biased_overlap(a, b, p, k)
        assert rbo == pytest.approx(rank_biased_overlap(b, a, p, k))
        assert 0.0 <= rbo <= 1.0
        overlap = topk_overlap(a, b, k or 10)
        assert overlap == topk_overlap(b, a, k or 10)
        assert 0.0 <= overlap <= 1.0


def test_k_cuts_both_rankings_before_measuring():
    a, b = ["A", "B", "C", "D"], ["A", "C", "D", "B"]
    assert rank_biased_overlap(a, b, 0.5, k=3) == pytest.approx(rank_biased_overlap(a[:3], b[:3], 0.5))
    assert rank_biased_overlap(a, b, 0.5, k=3) == pytest.approx(19 / 24)  # the equal-length example above


def test_empty_rankings_agree_only_with_each_other():
    assert rank_biased_overlap([], []) == 1.0
    assert rank_biased_overlap([], ["a"]) == 0.0
    assert topk_overlap([], [], 5) == 1.0
    assert topk_overlap(["a"], [], 5) == 0.0


def test_a_repeated_item_counts_at_its_first_rank():
    assert rank_biased_overlap(["A", "A", "B"], ["A", "B"], 0.5) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "call", [lambda: rank_biased_overlap(["a"], ["a"], p=1.0), lambda: topk_overlap(["a"], ["a"], 0)]
)
def test_bad_parameters_are_refused_with_the_value(call):
    with pytest.raises(ValueError, match="got"):
        call()


def test_agreement_matrix_covers_every_pair_once_in_model_order():
    rankings = {"m1": ["A", "B", "C"], "m2": ["A", "C", "D"], "m3": ["X", "Y", "Z"]}
    pairs = agreement_matrix(rankings, k=3, p=0.5)
    assert [(p.model_a, p.model_b) for p in pairs] == [("m1", "m2"), ("m1", "m3"), ("m2", "m3")]
    assert pairs[0] == PairAgreement("m1", "m2", pytest.approx(2 / 3), pytest.approx(19 / 24))
    assert (pairs[1].overlap, pairs[1].rbo) == (0.0, 0.0)
    assert agreement_matrix({"only": ["A"]}, k=3) == []


def test_document_ranking_keeps_distinct_documents_in_first_seen_order():
    def hit(rank: int, document: str) -> Hit:
        return Hit(rank, 1.0 / rank, document, rank, "text", 0, 4)

    hits = [hit(1, "b.txt"), hit(2, "a.txt"), hit(3, "b.txt"), hit(4, "c.txt"), hit(5, "a.txt")]
    assert document_ranking(hits) == ["b.txt", "a.txt", "c.txt"]
    assert document_ranking([]) == []
