"""Judging as you browse: judgments kept per library in the database, exported, evaluated, and a weight sweep."""

from __future__ import annotations

import pytest

from core.embed.loading import load_embedder
from core.evaluate.datasets import read_qrels, read_queries
from core.evaluate.judgment_files import qrels_tsv, queries_jsonl
from core.evaluate.judgments import (
    JudgmentError,
    evaluate_judgments,
    judge,
    judged_collection,
    sweep_hybrid_weight,
    verdicts,
)
from core.evaluate.metrics import ndcg_at_k
from core.ingest.pipeline import ingest
from core.search.query import search
from core.storage.memory import MemoryStore
from core.types import SearchMode
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL

DOCS = {
    "turing.txt": "Alan Turing was born in Maida Vale, London, and raised in southern England.",
    "ai.txt": "Artificial intelligence was founded as an academic discipline in 1956.",
    "bread.txt": "Bake the bread with flour and water, then let the dough rest.",
    "wing.txt": "A swept wing delays the drag rise at transonic speeds.",
}


@pytest.fixture(params=["milvus", "memory"])
def any_store(request, isolated_env):
    from core.storage.milvus import MilvusStore

    s = MilvusStore() if request.param == "milvus" else MemoryStore()
    yield s
    s.close()


def _library(tmp_path, store, models=(BUNDLED_SMALL,)):
    paths = []
    for name, text in DOCS.items():
        paths.append(tmp_path / name)
        paths[-1].write_text(text, encoding="utf-8")
    for model in models:
        ingest(paths, "lib", load_embedder(model), store)


def test_judgments_are_kept_per_library_replaced_by_a_later_verdict_and_dropped_with_it(tmp_path, any_store):
    _library(tmp_path, any_store)
    any_store.catalog.create("other")
    judge(any_store, "lib", "where was  Turing born", "turing.txt", 1, chunk=0, model=BUNDLED_SMALL)
    judge(any_store, "lib", "where was Turing born", "bread.txt", 1)
    assert [j.relevance for j in any_store.judgments.list("lib")] == [1, 1]  # read (and kept) before the change below
    judge(any_store, "lib", "where was Turing born", "bread.txt", 0)  # changed their mind
    judge(any_store, "other", "where was Turing born", "turing.txt", 1)
    kept = any_store.judgments.list("lib")
    assert [(j.query, j.document, j.relevance) for j in kept] == [
        ("where was Turing born", "bread.txt", 0),
        ("where was Turing born", "turing.txt", 1),
    ]
    assert kept[1].chunk == 0 and kept[1].model == BUNDLED_SMALL and kept[1].judged_at
    assert verdicts(kept, "where  was Turing born") == {"bread.txt": 0, "turing.txt": 1}
    any_store.judgments.delete(kept[0])
    assert [j.document for j in any_store.judgments.list("lib")] == ["turing.txt"]
    any_store.catalog.drop("lib")
    assert any_store.judgments.list("lib") == [] and len(any_store.judgments.list("other")) == 1


def test_judgments_survive_reopening_the_database(tmp_path, isolated_env):
    from core.storage.milvus import MilvusStore

    store = MilvusStore()
    store.catalog.create("Résumé café")
    judge(store, "Résumé café", 'a "quoted" query', "x.txt", 1)
    store.close()
    again = MilvusStore()
    assert [(j.query, j.document) for j in again.judgments.list("Résumé café")] == [('a "quoted" query', "x.txt")]
    again.close()


def test_exports_read_back_as_a_beir_collection(tmp_path, any_store):
    judge(any_store, "lib", "where was Turing born", "turing.txt", 1)
    judge(any_store, "lib", "where was Turing born", "bread.txt", 0)
    judge(any_store, "lib", "bread recipe", "bread.txt", 1)
    judgments = any_store.judgments.list("lib")
    (tmp_path / "qrels.tsv").write_text(qrels_tsv(judgments).text, encoding="utf-8")
    (tmp_path / "queries.jsonl").write_text(queries_jsonl(judgments), encoding="utf-8")
    collection = judged_collection(judgments)
    assert read_qrels(tmp_path / "qrels.tsv") == collection.qrels  # relevant ones kept, as BEIR readers keep them
    assert read_queries(tmp_path / "queries.jsonl") == {j.query_id: j.query for j in judgments}
    assert collection.judged_queries == 2 and len(collection.queries) == 2


def test_evaluation_on_the_librarys_own_judgments_matches_the_metric_by_hand(tmp_path, any_store):
    _library(tmp_path, any_store, (BUNDLED_SMALL, BUNDLED_LARGE))
    with pytest.raises(JudgmentError, match="Search page"):
        evaluate_judgments(any_store, "lib", {BUNDLED_SMALL: load_embedder(BUNDLED_SMALL)}, [SearchMode.DENSE])
    queries = {"where was Alan Turing born": "turing.txt", "how to bake bread with flour": "bread.txt"}
    for query, relevant in queries.items():
        judge(any_store, "lib", query, relevant, 1)
    models = {m: load_embedder(m) for m in (BUNDLED_SMALL, BUNDLED_LARGE)}
    report = evaluate_judgments(any_store, "lib", models, [SearchMode.DENSE, SearchMode.KEYWORD])
    assert [(r.model, r.mode) for r in report.results] == [
        (BUNDLED_SMALL, SearchMode.DENSE),
        (BUNDLED_SMALL, SearchMode.KEYWORD),
        (BUNDLED_LARGE, SearchMode.DENSE),
        (BUNDLED_LARGE, SearchMode.KEYWORD),
    ]
    large_dense = report.results[2]
    by_hand = []
    for query, relevant in queries.items():
        hits = search(query, "lib", models[BUNDLED_LARGE], any_store, 40).hits
        ranked = list(dict.fromkeys(h.document for h in hits))
        by_hand.append(ndcg_at_k(ranked, {relevant: 1}, 10))
    assert large_dense.metrics["ndcg@10"].mean == pytest.approx(sum(by_hand) / len(by_hand))
    assert report.queries == 2 and len(report.comparisons) == 3 * 5  # every other row, every metric


def test_the_weight_sweep_spans_keyword_to_dense_and_warns_when_few_queries(tmp_path, any_store):
    _library(tmp_path, any_store)
    judge(any_store, "lib", "swept wing drag", "wing.txt", 1)
    judge(any_store, "lib", "Maida Vale", "turing.txt", 1)
    embedder = load_embedder(BUNDLED_SMALL)
    sweep = sweep_hybrid_weight(any_store, "lib", embedder, weights=(0.0, 0.5, 1.0))
    assert [p.weight for p in sweep.points] == [0.0, 0.5, 1.0] and not sweep.reliable and sweep.queries == 2
    dense = evaluate_judgments(any_store, "lib", {BUNDLED_SMALL: embedder}, [SearchMode.DENSE, SearchMode.KEYWORD])
    dense_ndcg, keyword_ndcg = (r.metrics["ndcg@10"].mean for r in dense.results)
    assert sweep.points[-1].ndcg.mean == pytest.approx(dense_ndcg)  # weight 1: dense only
    assert sweep.points[0].ndcg.mean == pytest.approx(keyword_ndcg)  # weight 0: keyword only
    assert sweep.best.ndcg.mean == max(p.ndcg.mean for p in sweep.points)


def test_the_best_weight_becomes_the_librarys_hybrid_default_and_persists(tmp_path, isolated_env):
    from core.evaluate.judgments import adopt_hybrid_default, hybrid_default
    from core.storage.milvus import MilvusStore

    store = MilvusStore()
    _library(tmp_path, store)
    judge(store, "lib", "swept wing drag", "wing.txt", 1)
    sweep = sweep_hybrid_weight(store, "lib", load_embedder(BUNDLED_SMALL), weights=(0.0, 1.0))
    assert hybrid_default(store, "lib") is None
    chosen = adopt_hybrid_default(store, "lib", sweep)
    assert (chosen.weight, chosen.queries, chosen.judgments) == (sweep.best.weight, 1, 1)
    ingest([tmp_path / "ai.txt"], "lib", load_embedder(BUNDLED_LARGE), store)  # a new model re-registers the library
    store.close()
    again = MilvusStore()
    assert hybrid_default(again, "lib") == chosen and hybrid_default(again, "lib").params.weight == chosen.weight
    again.catalog.drop("lib")
    again.catalog.create("lib")
    assert hybrid_default(again, "lib") is None  # settings go with the library
    again.close()


def test_library_settings_are_kept_per_library_on_both_stores(any_store):
    any_store.catalog.create("a")
    any_store.catalog.set_setting("a", "k", 1)
    any_store.catalog.set_setting("b", "k", 2)  # recording settings makes the library exist
    assert any_store.catalog.settings("a") == {"k": 1} and any_store.catalog.settings("b") == {"k": 2}
    assert any_store.catalog.settings("c") == {} and {"a", "b"} <= set(any_store.catalog.names())
