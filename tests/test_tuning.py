"""Cross-validated choice of the hybrid weight: no query is scored at a weight chosen on it."""

from __future__ import annotations

import pytest

from core.evaluate.tuning import TuningError, best_weight, cross_validate_weight, held_out


def test_ties_go_to_the_weight_nearest_the_middle():
    assert best_weight({0.0: 0.5, 0.4: 0.7, 0.7: 0.7, 1.0: 0.6}) == 0.4
    assert best_weight({0.2: 0.1, 0.9: 0.3}) == 0.9


def test_a_query_that_alone_favours_a_weight_is_scored_at_the_weight_the_others_chose():
    # q0 scores only at weight 0; the nine others a little better at weight 1. On all queries weight 0 wins
    # (1.0 + 9 * 0.5 against 9 * 0.6), so scoring q0 there would flatter the tuned run.
    scores = {0.0: {f"q{i}": 0.5 for i in range(10)}, 1.0: {f"q{i}": 0.6 for i in range(10)}}
    scores[0.0]["q0"], scores[1.0]["q0"] = 1.0, 0.0
    chosen = cross_validate_weight(scores, folds=10)
    assert chosen.weight == 0.0  # the one to adopt: best on every query
    assert chosen.weight_of["q0"] == 1.0  # chosen on the other nine
    assert all(chosen.weight_of[f"q{i}"] == 0.0 for i in range(1, 10))  # q0 is in their training folds
    assert held_out(scores, chosen) == {"q0": 0.0} | {f"q{i}": 0.5 for i in range(1, 10)}
    assert list(held_out(scores, chosen)) == list(scores[0.0])  # in the queries' order


def test_each_fold_weight_is_the_best_on_the_other_folds():
    scores = {w: {f"q{i}": ((i * 7 + int(w * 10) * 3) % 11) / 10 for i in range(23)} for w in (0.0, 0.3, 0.6, 1.0)}
    chosen = cross_validate_weight(scores, folds=5, seed=3)
    assert chosen.folds == 5 and sorted(set(chosen.fold_of.values())) == [0, 1, 2, 3, 4]
    sizes = sorted(list(chosen.fold_of.values()).count(f) for f in range(5))
    assert sizes == [4, 4, 5, 5, 5]
    for fold, weight in enumerate(chosen.fold_weights):
        train = [q for q, f in chosen.fold_of.items() if f != fold]
        means = {w: sum(s[q] for q in train) / len(train) for w, s in scores.items()}
        assert weight == best_weight(means)
        assert all(chosen.weight_of[q] == weight for q, f in chosen.fold_of.items() if f == fold)
    assert cross_validate_weight(scores, folds=5, seed=3) == chosen  # repeatable
    assert cross_validate_weight(scores, folds=5, seed=4).fold_of != chosen.fold_of


def test_too_few_queries_or_mismatched_scores_are_refused():
    with pytest.raises(TuningError, match="at least two"):
        cross_validate_weight({0.0: {"q": 1.0}, 1.0: {"q": 0.0}})
    with pytest.raises(TuningError, match="same queries"):
        cross_validate_weight({0.0: {"a": 1.0, "b": 0.0}, 1.0: {"a": 0.0}})
    assert cross_validate_weight({0.0: {"a": 1.0, "b": 0.0}, 1.0: {"a": 0.0, "b": 1.0}}, folds=5).folds == 2
