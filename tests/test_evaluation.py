"""Evaluation: BEIR loading, nDCG / recall / MRR computed by hand, chunk-to-document max pooling."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from core.evaluate.datasets import EvaluationError, load_beir, read_qrels
from core.evaluate.metrics import (
    METRICS,
    average_precision_at_k,
    dcg,
    evaluate,
    mean_metric,
    ndcg_at_k,
    per_query,
    recall_at_k,
    reciprocal_rank_at_k,
)
from core.evaluate.ranking import aggregate_chunk_hits, corpus_documents, index_corpus, rank_documents
from core.evaluate.runs import WHOLE_DOCUMENTS, evaluation_library
from core.ingest.chunking import ChunkSettings
from core.read.documents import Document, ReadResult, content_hash
from core.storage.memory import MemoryStore
from core.types import DocumentStatus, SearchMode
from tests.conftest import shared_dataset

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


def test_average_precision_sums_precision_at_each_relevant_rank_over_all_relevant_documents():
    # a, b, c relevant; ranking a x b y: precision 1/1 at a and 2/3 at b; c never found but counted.
    judged = {"a": 1, "b": 2, "c": 1, "z": 0}
    assert average_precision_at_k(["a", "x", "b", "y"], judged, 4) == pytest.approx((1 + 2 / 3) / 3)
    assert average_precision_at_k(["a", "x", "b", "y"], judged, 2) == pytest.approx(1 / 3)  # b is past the cutoff
    assert average_precision_at_k(["z", "a"], judged, 10) == pytest.approx((1 / 2) / 3)  # gain 0 is not relevant
    assert average_precision_at_k(["x"], {"z": 0}, 10) == 0.0


def test_our_metrics_equal_trec_eval_on_random_graded_rankings():
    """pytrec_eval runs trec_eval's own C code, which BEIR reports with."""
    pytrec_eval = pytest.importorskip("pytrec_eval", reason="pytrec-eval-terrier is a dev requirement")
    rng = np.random.default_rng(7)
    pool = [f"d{i:03d}" for i in range(150)]
    qrels, ranking = {}, {}
    for q in range(60):
        judged_docs = rng.choice(pool, size=int(rng.integers(1, 12)), replace=False)
        qrels[f"q{q}"] = {doc: int(rng.integers(0, 4)) for doc in judged_docs}
        ranking[f"q{q}"] = list(rng.permutation(pool)[: int(rng.integers(5, 150))])
    qrels = {qid: judged for qid, judged in qrels.items() if any(judged.values())}
    # Distinct scores in our order: trec_eval re-sorts by score (ties by doc id, descending).
    run = {qid: {doc: float(len(docs) - i) for i, doc in enumerate(docs)} for qid, docs in ranking.items()}
    top10 = {qid: dict(list(scores.items())[:10]) for qid, scores in run.items()}
    measures = {"ndcg_cut.10", "recall.10", "recall.100", "map_cut.100"}
    theirs = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate({q: run[q] for q in qrels})
    # trec_eval's recip_rank has no cutoff: MRR@10 is recip_rank over the top 10.
    theirs_rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate({q: top10[q] for q in qrels})
    pairs = {
        "ndcg@10": "ndcg_cut_10",
        "recall@10": "recall_10",
        "recall@100": "recall_100",
        "map@100": "map_cut_100",
    }
    for ours, trec in pairs.items():
        metric, k = METRICS[ours.split("@")[0]], int(ours.split("@")[1])
        mine = per_query(metric, ranking, qrels, k)
        assert mine == pytest.approx({q: theirs[q][trec] for q in qrels}, abs=1e-9), ours
    mine_rr = per_query(reciprocal_rank_at_k, ranking, qrels, 10)
    assert mine_rr == pytest.approx({q: theirs_rr[q]["recip_rank"] for q in qrels}, abs=1e-9)
    assert 0 < sum(mine_rr.values()) < len(mine_rr)  # the cases are neither all hits nor all misses


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
    with pytest.raises(EvaluationError, match="p@10"):
        evaluate(ranking, qrels, ["p@10"])


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


def test_the_shared_cranfield_collection_loads_with_its_documented_counts():
    data = load_beir(shared_dataset("cranfield"))
    assert (len(data.corpus), len(data.queries), len(data.judged_queries)) == (1400, 225, 225)
    assert sum(len(judged) for judged in data.qrels.values()) == 1612  # relevance >= 1, per SOURCE.txt


# --- ranking documents through a store -----------------------------------------------------------


def _doc(name: str, text: str) -> Document:
    return Document(name=name, text=text, doc_type="txt", content_hash=content_hash(text))


def test_a_query_whose_top_chunks_are_one_long_document_is_searched_deeper(tiny_embedder):
    # One document of 300 identical food chunks outscores 100 one-chunk documents: the first page of
    # chunks (40) holds one document, so the search must go deeper to rank 5 documents exactly.
    store = MemoryStore()
    docs = [_doc("big", "\n\n".join(["apple bread cheese soup."] * 300))]
    docs += [_doc(f"small{i:03d}", "alan turing " + "london " * (i % 2) + "apple.") for i in range(100)]
    index_corpus(ReadResult(docs, []), "lib", tiny_embedder, store, ChunkSettings(30, 0, "chars"))
    assert store.index("lib", tiny_embedder.info.name).count() == 400

    ranked = rank_documents({"q": "apple bread cheese soup"}, "lib", tiny_embedder, store, SearchMode.DENSE, depth=5)

    every_chunk = store.index("lib", tiny_embedder.info.name).dense(
        tiny_embedder.encode(["apple bread cheese soup"]), 400
    )[0]
    exact = aggregate_chunk_hits((h.document, h.score) for h in every_chunk)[:5]
    assert [doc for doc, _ in ranked["q"]] == [doc for doc, _ in exact]
    assert [score for _, score in ranked["q"]] == pytest.approx([score for _, score in exact])
    assert ranked["q"][0][0] == "big" and len(ranked["q"]) == 5


def test_reindexing_a_corpus_keeps_unchanged_documents_and_drops_those_it_no_longer_holds(tiny_embedder):
    store = MemoryStore()
    chunking = ChunkSettings(30, 0, "chars")
    first = [_doc("a", "apple bread."), _doc("b", "alan turing."), _doc("c", "soup kitchen.")]
    index_corpus(ReadResult(first, []), "lib", tiny_embedder, store, chunking)
    again = index_corpus(ReadResult(first[:2], []), "lib", tiny_embedder, store, chunking)
    assert again.count(DocumentStatus.UNCHANGED) == 2 and again.chunks_added == 0
    assert [d.name for d in store.index("lib", tiny_embedder.info.name).documents()] == ["a", "b"]


def test_the_corpus_is_read_as_the_app_reads_it_and_named_by_document_id(tmp_path):
    folder = write_collection(tmp_path / "tiny", "q1\td1\t1\n")
    read = corpus_documents(folder, load_beir(folder))
    assert [(d.name, d.text) for d in read.documents] == [("d1", "T1\n\none"), ("d2", "two")]
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "text": "one"}\n{"_id": "d1", "text": "again"}\n')
    with pytest.raises(EvaluationError, match="two documents with id 'd1'"):
        corpus_documents(folder, load_beir(folder))


def test_library_names_say_the_dataset_and_the_chunking():
    assert evaluation_library("scifact", ChunkSettings(128, 26, "tokens")) == "eval:scifact:tokens:128:26"
    assert evaluation_library("scifact", WHOLE_DOCUMENTS) == "eval:scifact:whole"
