"""`python -m core evaluate`: hand-computed scores on a tiny collection, trec_eval's scores on a SciFact
slice, and dense rankings through Milvus equal to exact cosine over the stored vectors."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from core.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from core.evaluate.ranking import DEPTH, aggregate_chunk_hits, rank_documents
from core.evaluate.runs import evaluate_collection, evaluation_library
from core.ingest.pipeline import default_chunking
from core.types import DocumentStatus, SearchMode
from tests.conftest import BUNDLED_SMALL, shared_dataset

METRIC_NAMES = ["ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100"]


def write_tiny_collection(folder: Path) -> Path:
    """Three one-topic documents (the tiny model's topics); q4 asks mostly about Turing but only the AI
    document is judged relevant, so dense search ranks it second."""
    folder.mkdir()
    corpus = [
        {"_id": "d1", "text": "apple bread cheese soup kitchen recipe"},
        {"_id": "d2", "text": "alan turing born maida vale london"},
        {"_id": "d3", "text": "artificial intelligence machine learning research"},
    ]
    queries = {"q1": "apple bread recipe", "q2": "turing london england", "q3": "machine learning research"}
    queries["q4"] = "alan turing research"
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    # TREC layout: query, iteration, document, relevance; no header.
    (folder / "qrels.tsv").write_text("q1 0 d1 1\nq2 0 d2 1\nq3 0 d3 2\nq4 0 d3 1\nq4 0 d1 0\n")
    return folder


def test_evaluate_prints_hand_computed_scores_as_json(tmp_path, tiny_model_dir, capsys):
    folder = write_tiny_collection(tmp_path / "tiny")
    model = str(tiny_model_dir)
    code = main(
        ["evaluate", str(folder), "--model", model, "--mode", "dense", "--mode", "keyword", "--no-chunking", "--json"]
    )
    out, err = capsys.readouterr()
    assert code == EXIT_OK, err
    report = json.loads(out)  # stdout is exactly one JSON object
    assert set(report) == {"dataset", "queries", "results", "comparisons", "runs"}
    assert [len(run["id"]) for run in report["runs"]] == [32, 32]  # each run saved (tests/test_cli_runs.py)
    assert (report["dataset"], report["queries"]) == ("tiny", 4)
    assert [(r["model"], r["mode"], r["chunking"]) for r in report["results"]] == [
        (model, "dense", "whole"),
        (model, "keyword", "whole"),
    ]
    dense = report["results"][0]["metrics"]
    assert set(dense) == set(METRIC_NAMES)
    # q1-q3 find their document first; q4 finds d3 second: nDCG 1/log2(3), reciprocal rank and AP 1/2.
    expected = {
        "ndcg@10": (3 + 1 / math.log2(3)) / 4,
        "recall@10": 1.0,
        "recall@100": 1.0,
        "mrr@10": 3.5 / 4,
        "map@100": 3.5 / 4,
    }
    assert {name: m["mean"] for name, m in dense.items()} == pytest.approx(expected, abs=1e-6)
    assert dense["recall@10"]["ci95"] == [1.0, 1.0]
    low, high = dense["ndcg@10"]["ci95"]
    assert 1 / math.log2(3) <= low < expected["ndcg@10"] < high == 1.0
    comparisons = report["comparisons"]
    assert [c["metric"] for c in comparisons] == METRIC_NAMES  # keyword against dense, metric by metric
    assert comparisons[0]["baseline"] == {"model": model, "mode": "dense", "fusion": None, "weight": None}
    assert comparisons[0]["other"] == {"model": model, "mode": "keyword", "fusion": None, "weight": None}
    assert {"diff", "ci95", "p_value"} <= set(comparisons[0])
    assert "search" in err and "4/4" in err  # the progress bar went to stderr


def untimed(table: str) -> str:
    """The printed tables without the search seconds (the last column of the results table), nor the lines naming
    the runs each evaluation saved (new ids, named by the time)."""
    kept = "\n".join(line for line in table.splitlines() if not line.startswith("saved as run "))
    return re.sub(r"\s+\d+(\.\d+)?$", "", kept, flags=re.MULTILINE)


def test_evaluate_reuses_its_index_and_prints_a_table(tmp_path, tiny_model_dir, capsys):
    folder = write_tiny_collection(tmp_path / "tiny")
    args = ["evaluate", "--model", str(tiny_model_dir), "--mode", "keyword,dense", str(folder)]
    assert main([*args, "--chunk-size", "40", "--chunk-unit", "chars", "--chunk-overlap", "0"]) == EXIT_OK
    first = capsys.readouterr()
    assert "3 documents indexed, 0 unchanged" in first.err
    assert main([*args, "--chunk-size", "40", "--chunk-unit", "chars", "--chunk-overlap", "0"]) == EXIT_OK
    again = capsys.readouterr()
    assert "0 documents indexed, 3 unchanged" in again.err
    assert "library 'eval:tiny:chars:40:0'" in again.err
    assert untimed(again.out) == untimed(first.out)  # the same scores from the reused index
    assert "best chunk" in again.out and "Recall@10" in again.out and not re.search(r"(?<!\w)R@10", again.out)
    assert "p-value" in again.out  # the paired comparison table


def test_the_command_line_prints_the_evaluate_pages_tables(tmp_path, tiny_embedder):
    """One evaluation, two views: every header and cell of the page's tables is what the CLI prints."""
    from core.cli import _evaluation_table
    from core.evaluate.report import comparison_table, results_table
    from core.evaluate.runs import WHOLE_DOCUMENTS
    from core.storage.memory import MemoryStore

    folder = write_tiny_collection(tmp_path / "tiny")
    models = {"tiny": tiny_embedder}
    report = evaluate_collection(folder, models, [SearchMode.DENSE, SearchMode.KEYWORD], MemoryStore(), WHOLE_DOCUMENTS)
    printed = [re.split(r"\s{2,}", line.strip()) for line in _evaluation_table(report).splitlines()]
    for table in (results_table(report), comparison_table(report)):
        start = printed.index(table.columns)
        assert printed[start + 1 : start + 1 + len(table.rows)] == [[str(c) for c in row] for row in table.rows]
    assert results_table(report).columns[2:4] == ["nDCG@10", "Recall@10"]


def test_a_named_baseline_is_compared_against_and_a_missing_one_is_refused(tmp_path, tiny_model_dir, capsys):
    folder = write_tiny_collection(tmp_path / "tiny")
    base = ["evaluate", str(folder), "--model", str(tiny_model_dir), "--mode", "dense,keyword", "--json"]
    assert main([*base, "--quiet", "--baseline", f"{tiny_model_dir}:keyword"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert {c["baseline"]["mode"] for c in report["comparisons"]} == {"keyword"}
    assert {c["other"]["mode"] for c in report["comparisons"]} == {"dense"}

    assert main([*base, "--quiet", "--baseline", f"{tiny_model_dir}:hybrid"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: The baseline") and err.count("\n") == 1
    assert main([*base, "--no-chunking", "--chunk-size", "64"]) == EXIT_USAGE
    with pytest.raises(SystemExit) as usage:
        main([*base, "--baseline", "no-mode-here"])
    assert usage.value.code == EXIT_USAGE


# --- a real run on a SciFact slice ---------------------------------------------------------------


@pytest.fixture
def scifact_slice(tmp_path: Path) -> Path:
    return write_scifact_slice(tmp_path)


def write_scifact_slice(tmp_path: Path) -> Path:
    """The first 300 SciFact documents plus those judged for the first 40 queries, with the queries
    judged among them: ~340 documents, enough to rank 100 deep."""
    scifact = shared_dataset("scifact")
    qrels = [line.split("\t") for line in (scifact / "qrels.tsv").read_text().splitlines()[1:]]
    first_queries = [json.loads(line) for line in (scifact / "queries.jsonl").read_text().splitlines()[:40]]
    wanted_queries = {str(q["id"]) for q in first_queries}
    corpus = [json.loads(line) for line in (scifact / "corpus.jsonl").read_text().splitlines()]
    keep = {str(d["id"]) for d in corpus[:300]} | {doc for qid, doc, _ in qrels if qid in wanted_queries}
    kept_qrels = [row for row in qrels if row[1] in keep and row[0] in wanted_queries]
    judged = {row[0] for row in kept_qrels}
    folder = tmp_path / "scifact-slice"
    folder.mkdir()
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus if str(d["id"]) in keep))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in first_queries if q["id"] in judged))
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join("\t".join(r) + "\n" for r in kept_qrels))
    return folder


def test_a_real_run_scores_as_trec_eval_scores_its_rankings(scifact_slice, capsys):
    pytrec_eval = pytest.importorskip("pytrec_eval", reason="pytrec-eval-terrier is a dev requirement")
    args = ["evaluate", str(scifact_slice), "--model", BUNDLED_SMALL, "--mode", "dense,keyword", "--json"]
    assert main([*args, "--quiet"]) == EXIT_OK
    printed = json.loads(capsys.readouterr().out)
    assert printed["queries"] == 40

    from core.embed.loading import load_embedder
    from core.storage import open_store

    embedder = load_embedder(BUNDLED_SMALL)
    store = open_store()
    modes = [SearchMode.DENSE, SearchMode.KEYWORD]
    report = evaluate_collection(scifact_slice, {BUNDLED_SMALL: embedder}, modes, store, default_chunking())
    indexed = report.indexing[0]  # the command's index is reused: nothing written again
    assert indexed.chunks_added == 0 and indexed.count(DocumentStatus.INDEXED) == 0
    assert indexed.count(DocumentStatus.UNCHANGED) == len(list((scifact_slice / "corpus.jsonl").open()))

    qrels = {}
    for line in (scifact_slice / "qrels.tsv").read_text().splitlines()[1:]:
        qid, doc, rel = line.split("\t")
        qrels.setdefault(qid, {})[doc] = int(rel)
    trec = {"ndcg@10": "ndcg_cut_10", "recall@10": "recall_10", "recall@100": "recall_100", "map@100": "map_cut_100"}
    for run, shown in zip(report.results, printed["results"]):
        if run.mode == SearchMode.DENSE:  # BM25 ranks only documents sharing a word with the query
            assert all(len(docs) == DEPTH for docs in run.ranking.values())
        # Distinct scores in our order (trec_eval breaks ties by doc id, descending; we break them ascending).
        scored = {q: {doc: float(DEPTH - i) for i, (doc, _) in enumerate(docs)} for q, docs in run.ranking.items()}
        theirs = pytrec_eval.RelevanceEvaluator(qrels, set(trec.values()) | {"recip_rank"}).evaluate(scored)
        top10 = {q: dict(list(docs.items())[:10]) for q, docs in scored.items()}
        theirs_rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
        expected = {ours: np.mean([theirs[q][name] for q in qrels]) for ours, name in trec.items()}
        expected["mrr@10"] = np.mean([theirs_rr[q]["recip_rank"] for q in qrels])
        assert {name: m["mean"] for name, m in shown["metrics"].items()} == pytest.approx(expected, abs=1e-6)
        assert 0.2 < expected["ndcg@10"] < 1.0  # a real ranking: neither empty nor perfect


def test_dense_rankings_through_milvus_equal_exact_cosine_over_the_stored_vectors(scifact_slice, capsys):
    from core.embed.loading import load_embedder
    from core.storage import open_store

    assert main(["evaluate", str(scifact_slice), "--model", BUNDLED_SMALL, "--quiet"]) == EXIT_OK
    capsys.readouterr()
    embedder, store = load_embedder(BUNDLED_SMALL), open_store()
    library = evaluation_library(scifact_slice.name, default_chunking())
    meta = store.catalog.require(library, BUNDLED_SMALL)
    store.index(library, BUNDLED_SMALL).count()  # loads the collection
    documents, vectors = [], []
    iterator = store.client.query_iterator(
        meta.collection, batch_size=500, filter="chunk >= 0", output_fields=["document", "vector"]
    )
    while batch := iterator.next():
        documents += [row["document"] for row in batch]
        vectors += [row["vector"] for row in batch]
    iterator.close()
    stored = np.asarray(vectors, dtype=np.float64)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)

    queries = {
        json.loads(line)["id"]: json.loads(line)["text"]
        for line in (scifact_slice / "queries.jsonl").read_text().splitlines()[:5]
    }
    ranked = rank_documents(queries, library, embedder, store, SearchMode.DENSE)
    for (qid, text), query in zip(queries.items(), embedder.encode(list(queries.values()))):
        cosines = stored @ (query / np.linalg.norm(query))
        exact = aggregate_chunk_hits(zip(documents, cosines.tolist()))[:DEPTH]
        ours = ranked[qid]
        assert [score for _, score in ours] == pytest.approx([score for _, score in exact], abs=1e-5), text
        # Same documents in the same order, up to swaps among scores equal to float32 precision: each of our
        # documents carries its own exact score, wherever a near-tie put it.
        every = dict(aggregate_chunk_hits(zip(documents, cosines.tolist())))
        assert [score for _, score in ours] == pytest.approx([every[doc] for doc, _ in ours], abs=1e-5), text
        assert sum(a[0] != b[0] for a, b in zip(ours, exact)) < 5, text


def test_every_model_gets_its_own_index_in_the_library_and_is_compared_with_the_first(tmp_path, tiny_model_dir, capsys):
    folder = write_tiny_collection(tmp_path / "tiny")
    args = ["evaluate", str(folder), "--model", str(tiny_model_dir), "--model", BUNDLED_SMALL, "--json", "--quiet"]
    assert main(args) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["mode"]) for r in report["results"]] == [
        (str(tiny_model_dir), "dense"),
        (BUNDLED_SMALL, "dense"),
    ]
    assert {(c["baseline"]["model"], c["other"]["model"]) for c in report["comparisons"]} == {
        (str(tiny_model_dir), BUNDLED_SMALL)
    }
    assert main(["libraries", "--json"]) == EXIT_OK
    libraries = json.loads(capsys.readouterr().out)
    library = evaluation_library("tiny", default_chunking())
    assert [lib["name"] for lib in libraries] == [library]
    assert sorted(m["documents"] for m in libraries[0]["models"]) == [3, 3]


# --- weighted and tuned hybrid runs ---------------------------------------------------------------


def test_the_tuned_hybrid_scores_each_query_at_a_weight_chosen_on_the_other_folds(scifact_slice):
    from core.embed.loading import load_embedder
    from core.evaluate.tuning import WEIGHTS, best_weight
    from core.storage import open_store

    embedder, store = load_embedder(BUNDLED_SMALL), open_store()
    report = evaluate_collection(
        scifact_slice, {BUNDLED_SMALL: embedder}, [], store, default_chunking(), weights=WEIGHTS, tune=True
    )
    weighted = {r.weight: r for r in report.results if r.fusion == "weighted"}
    assert sorted(weighted) == list(WEIGHTS)
    (tuned,) = [r for r in report.results if r.fusion == "tuned"]
    assert tuned.tuning is not None and tuned.tuning.folds == 5 and len(tuned.tuning.weight_of) == 40
    ndcg = {w: r.per_query["ndcg@10"] for w, r in weighted.items()}
    assert len({round(r.metrics["ndcg@10"].mean, 6) for r in weighted.values()}) > 3  # the weight matters here
    for fold, weight in enumerate(tuned.tuning.fold_weights):
        train = [q for q, f in tuned.tuning.fold_of.items() if f != fold]
        assert weight == best_weight({w: np.mean([s[q] for q in train]) for w, s in ndcg.items()})
    for qid, weight in tuned.tuning.weight_of.items():
        assert tuned.ranking[qid] == weighted[weight].ranking[qid]
        assert {m: tuned.per_query[m][qid] for m in METRIC_NAMES} == {
            m: weighted[weight].per_query[m][qid] for m in METRIC_NAMES
        }
    assert tuned.weight == best_weight({w: r.metrics["ndcg@10"].mean for w, r in weighted.items()})
    assert tuned.metrics["ndcg@10"].mean == pytest.approx(np.mean(list(tuned.per_query["ndcg@10"].values())))


def test_weighted_and_tuned_runs_are_named_in_the_json_and_can_be_the_baseline(tmp_path, tiny_model_dir, capsys):
    folder = write_tiny_collection(tmp_path / "tiny")
    model = str(tiny_model_dir)
    args = ["evaluate", str(folder), "--model", model, "--mode", "keyword", "--weight", "0.3", "--tune-weight"]
    assert main([*args, "--json", "--quiet", "--baseline", f"{model}:hybrid@tuned"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    runs = [(r["mode"], r["fusion"]) for r in report["results"]]
    assert runs == [("keyword", None), ("hybrid", "weighted"), ("hybrid", "tuned")]
    assert report["results"][1]["weight"] == 0.3
    tuned = report["results"][2]
    assert tuned["tuning"]["folds"] == 4  # four queries: each is its own fold
    assert tuned["weight"] in [round(0.1 * i, 1) for i in range(11)]
    assert {c["baseline"]["fusion"] for c in report["comparisons"]} == {"tuned"}
    assert [c["other"]["fusion"] for c in report["comparisons"][:: len(METRIC_NAMES)]] == [None, "weighted"]

    assert main(args) == EXIT_OK  # the text table names every run
    table, err = capsys.readouterr()
    assert "hybrid tuned: weights" in err and "11/11" in err  # the sweep's progress, weight by weight
    assert "hybrid w=0.3" in table and "hybrid tuned" in table and "4 folds chose" in table
    with pytest.raises(SystemExit) as usage:
        main([*args, "--baseline", f"{model}:hybrid@2"])
    assert usage.value.code == EXIT_USAGE
    assert main([*args, "--quiet", "--baseline", f"{model}:hybrid@0.7"]) == EXIT_ERROR
    assert "hybrid w=0.3" in capsys.readouterr().err  # the refusal lists the runs there are
