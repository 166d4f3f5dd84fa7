"""Evaluation: BEIR loading, nDCG / recall / MRR computed by hand, chunk-to-document max pooling."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from core.evaluation import (
    EvaluationError,
    aggregate_chunk_hits,
    dcg,
    evaluate,
    load_beir,
    mean_metric,
    ndcg_at_k,
    read_qrels,
    recall_at_k,
    reciprocal_rank_at_k,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


# --- nDCG ----------------------------------------------------------------------------------------


def test_a_perfect_ranking_scores_ndcg_one():
    judged = {"a": 3, "b": 2, "c": 1}
    assert ndcg_at_k(["a", "b", "c", "x"], judged, 10) == pytest.approx(1.0)


def test_graded_ndcg_matches_the_hand_computed_value():
    # judged a=3, b=2, c=1; ranking b, x, a; k=3; linear gains, discount log2(rank + 1):
    #   DCG  = 2/log2(2) + 0/log2(3) + 3/log2(4) = 2 + 0 + 1.5                 = 3.5
    #   IDCG = 3/log2(2) + 2/log2(3) + 1/log2(4) = 3 + 1.2618595 + 0.5         = 4.7618595
    #   nDCG = 3.5 / 4.7618595                                                = 0.7350070
    # (Exponential gains 2^g - 1 would give 6.5 / 9.3927892 = 0.692; a log2(rank) discount cannot
    # even take rank 1; so this pins both the gain and the discount.)
    judged = {"a": 3, "b": 2, "c": 1}
    assert ndcg_at_k(["b", "x", "a"], judged, 3) == pytest.approx(0.7350070, abs=1e-6)


def test_dcg_uses_a_log2_discount_from_rank_one():
    assert dcg([1, 1, 1], 3) == pytest.approx(1 + 1 / math.log2(3) + 0.5)
    assert dcg([4, 4], 1) == pytest.approx(4.0)


def test_the_ideal_ranking_comes_from_the_qrels_not_from_what_was_retrieved():
    # Only a is retrieved, but b is relevant too: IDCG = 1 + 1/log2(3) = 1.6309298, DCG = 1.
    judged = {"a": 1, "b": 1}
    assert ndcg_at_k(["a"], judged, 10) == pytest.approx(1 / 1.6309298, abs=1e-6)


def test_relevant_documents_below_the_cutoff_do_not_count():
    ranked = [f"x{i}" for i in range(10)] + ["a"]
    assert ndcg_at_k(ranked, {"a": 1}, 10) == 0.0
    assert ndcg_at_k(ranked, {"a": 1}, 11) == pytest.approx(1 / math.log2(12))


def test_a_document_repeated_in_the_ranking_counts_once_at_its_best_rank():
    # a, a, b is read as a, b: both relevant, so the ranking is perfect.
    assert ndcg_at_k(["a", "a", "b"], {"a": 1, "b": 1}, 2) == pytest.approx(1.0)
    assert recall_at_k(["a", "a", "b"], {"a": 1, "b": 1}, 2) == pytest.approx(1.0)


# --- recall and MRR ------------------------------------------------------------------------------


def test_recall_is_the_share_of_relevant_documents_in_the_top_k():
    judged = {"a": 1, "b": 2, "c": 1, "d": 3}
    assert recall_at_k(["a", "x", "d", "c"], judged, 3) == pytest.approx(2 / 4)
    assert recall_at_k(["a", "x", "d", "c"], judged, 4) == pytest.approx(3 / 4)


def test_zero_gain_judgments_are_not_relevant():
    judged = {"a": 1, "z": 0}
    assert recall_at_k(["a"], judged, 10) == pytest.approx(1.0)
    assert reciprocal_rank_at_k(["z", "a"], judged, 10) == pytest.approx(0.5)


def test_reciprocal_rank_is_one_over_the_rank_of_the_first_relevant_document():
    judged = {"c": 1, "d": 4}
    assert reciprocal_rank_at_k(["a", "b", "c", "d"], judged, 10) == pytest.approx(1 / 3)
    assert reciprocal_rank_at_k(["a", "b", "c", "d"], judged, 2) == 0.0


# --- means over queries --------------------------------------------------------------------------


def test_a_query_missing_from_the_ranking_scores_zero_in_the_mean():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    ranking = {"q1": ["a"], "q3": ["b"]}  # q2 missing; q3 is not judged and is ignored
    assert mean_metric(ndcg_at_k, ranking, qrels, 10) == pytest.approx(0.5)
    assert evaluate(ranking, qrels) == pytest.approx({"ndcg@10": 0.5, "recall@100": 0.5, "mrr@10": 0.5})


def test_evaluate_reads_measure_names_and_refuses_unknown_ones():
    qrels = {"q1": {"a": 1, "b": 1}}
    ranking = {"q1": ["x", "a", "y", "b"]}
    # recall@2 = 1/2; mrr@10 = 1/2; ndcg@3 = (1/log2 3) / (1 + 1/log2 3) = 0.6309298 / 1.6309298
    result = evaluate(ranking, qrels, ["recall@2", "mrr@10", "ndcg@3"])
    assert result == pytest.approx({"recall@2": 0.5, "mrr@10": 0.5, "ndcg@3": 0.6309298 / 1.6309298})
    with pytest.raises(EvaluationError, match="map@10"):
        evaluate(ranking, qrels, ["map@10"])


# --- aggregation ---------------------------------------------------------------------------------


def test_aggregation_ranks_documents_by_their_best_chunk():
    # max: b 0.7 > a 0.4; a sum (0.8) or a count would put a first.
    hits = [("a", 0.4), ("a", 0.4), ("b", 0.7)]
    assert aggregate_chunk_hits(hits) == [("b", 0.7), ("a", 0.4)]


def test_aggregation_takes_the_max_even_when_hits_are_not_sorted():
    hits = [("a", 0.2), ("b", 0.5), ("c", 0.1), ("a", 0.9), ("b", 0.3)]
    assert aggregate_chunk_hits(hits) == [("a", 0.9), ("b", 0.5), ("c", 0.1)]
    assert aggregate_chunk_hits(hits, k=2) == [("a", 0.9), ("b", 0.5)]


def test_aggregation_breaks_ties_by_document_id():
    assert aggregate_chunk_hits([("b", 0.5), ("a", 0.5)]) == [("a", 0.5), ("b", 0.5)]


# --- loading -------------------------------------------------------------------------------------


def write_collection(folder: Path, qrels: str) -> Path:
    folder.mkdir()
    corpus = [{"_id": "d1", "title": "T1", "text": "one"}, {"id": "d2", "text": "two"}]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in corpus) + "\n\n")
    (folder / "queries.jsonl").write_text(json.dumps({"id": "q1", "text": "what"}) + "\n")
    (folder / "qrels.tsv").write_text(qrels)
    return folder


def test_load_beir_reads_all_three_files_and_keeps_only_relevant_judgments(tmp_path):
    folder = write_collection(tmp_path / "tiny", "query_id\tdoc_id\trelevance\nq1\td1\t2\nq1\td2\t0\nq2\td2\t-1\n")
    data = load_beir(folder)
    assert data.name == "tiny"
    assert data.corpus["d1"].title == "T1" and data.corpus["d2"].text == "two"
    assert data.queries == {"q1": "what"}
    assert data.qrels == {"q1": {"d1": 2}}
    assert data.judged_queries == {"q1": "what"}


def test_qrels_in_trec_layout_without_a_header_are_read_too(tmp_path):
    path = tmp_path / "qrels.txt"
    path.write_text("q1 0 d1 1\nq1 0 d2 3\n")  # query, iteration, doc, relevance; space-separated
    assert read_qrels(path) == {"q1": {"d1": 1, "d2": 3}}


def test_loading_errors_name_the_file_and_line(tmp_path):
    folder = write_collection(tmp_path / "bad", "query_id\tdoc_id\trelevance\nq1\td1\tyes\n")
    with pytest.raises(EvaluationError, match=r"qrels.tsv line 2"):
        load_beir(folder)
    with pytest.raises(EvaluationError, match="not a folder"):
        load_beir(tmp_path / "missing")


@pytest.mark.skipif(not (SHARED / "cranfield").is_dir(), reason="shared datasets not present")
def test_the_shared_cranfield_collection_loads_with_its_documented_counts():
    data = load_beir(SHARED / "cranfield")
    assert (len(data.corpus), len(data.queries), len(data.judged_queries)) == (1400, 225, 225)
    assert sum(len(judged) for judged in data.qrels.values()) == 1612  # relevance >= 1, per SOURCE.txt
