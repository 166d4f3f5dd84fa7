"""answer(): one call gives the hits with why each matched, the model's coverage and the library's verdicts;
a keyword answer runs with no model at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ModelUnavailableError
from core.evaluate.judgments import NOT_RELEVANT, RELEVANT, judge
from core.ingest.pipeline import ingest
from core.search.answer import KeywordStatsCache, answer, index_keyword_stats
from core.search.dense_explain import explain_matches, vocabulary_coverage
from core.search.keyword_explain import explain_keywords
from core.search.query import search
from core.storage.memory import MemoryStore
from core.types import Fusion, HybridParams, SearchMode

DOCS = {
    "bread.txt": "Bake the bread with flour in the kitchen.",
    "soup.txt": "A soup recipe: cheese, bread and apple from the kitchen.",
    "turing.txt": "Alan Turing was born in Maida Vale, London.",
    "ai.txt": "Artificial intelligence was founded as an academic discipline.",
}
LIBRARY = "kitchen"


@pytest.fixture
def library(tmp_path: Path, tiny_embedder):
    store = MemoryStore()
    for name, text in DOCS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    ingest(sorted(tmp_path.glob("*.txt")), LIBRARY, tiny_embedder, store)
    return store


def test_a_dense_answer_explains_each_hit_by_words_with_coverage_and_verdicts(library, tiny_embedder):
    name = tiny_embedder.info.name
    judge(library, LIBRARY, "bread from the kitchen", "bread.txt", RELEVANT)
    judge(library, LIBRARY, "bread  from the kitchen", "soup.txt", NOT_RELEVANT)  # the same query, spaced out
    judge(library, LIBRARY, "another question", "turing.txt", RELEVANT)
    found = answer("bread from the kitchen", LIBRARY, name, library, embedder=tiny_embedder, top_k=3)

    expected = search("bread from the kitchen", LIBRARY, tiny_embedder, library, 3)
    assert [h.hit for h in found.hits] == expected.hits and found.result.query_dim == 8
    texts = [h.text for h in expected.hits]
    assert [h.dense for h in found.hits] == explain_matches(tiny_embedder, "bread from the kitchen", texts)
    assert all(h.keyword is None for h in found.hits) and found.keyword_stats is None
    assert [h.coverage for h in found.hits] == [vocabulary_coverage(tiny_embedder, t) for t in texts]
    assert found.query_coverage == vocabulary_coverage(tiny_embedder, "bread from the kitchen")
    verdicts = {h.hit.document: h.verdict for h in found.hits}
    assert verdicts.get("bread.txt") == RELEVANT and verdicts.get("soup.txt") == NOT_RELEVANT
    assert verdicts.get("turing.txt") is None  # judged for another query only
    assert all(h.highlights() for h in found.hits if h.hit.document in {"bread.txt", "soup.txt"})


def test_a_hybrid_answer_explains_both_scores_from_the_index_statistics(library, tiny_embedder):
    name = tiny_embedder.info.name
    params = HybridParams(Fusion.WEIGHTED, 0.5)
    found = answer(
        "soup kitchen", LIBRARY, name, library, embedder=tiny_embedder, mode=SearchMode.HYBRID, params=params
    )
    assert found.hits and all(h.dense is not None and h.keyword is not None for h in found.hits)
    stats = index_keyword_stats(library, LIBRARY, name, library.catalog.find(LIBRARY, name).analyzer)
    assert found.keyword_stats == stats and stats.chunks == len(DOCS)
    assert [h.keyword for h in found.hits] == explain_keywords("soup kitchen", [h.hit.text for h in found.hits], stats)


def test_a_keyword_answer_needs_no_model(library, tiny_embedder, monkeypatch):
    import core.embed.loading

    def refuse(*args, **kwargs):
        raise AssertionError("a keyword answer loaded a model")

    monkeypatch.setattr(core.embed.loading, "load_embedder", refuse)
    name = tiny_embedder.info.name
    found = answer("bread soup", LIBRARY, name, library, mode=SearchMode.KEYWORD)  # no embedder given
    assert [h.hit.document for h in found.hits][:1] == ["soup.txt"]
    assert all(h.keyword is not None and h.keyword.score > 0 for h in found.hits)
    assert all(h.dense is None and h.coverage is None for h in found.hits) and found.query_coverage is None
    assert [h.hit for h in found.hits] == search("bread soup", LIBRARY, tiny_embedder, library, mode="keyword").hits
    with pytest.raises(ModelUnavailableError, match="needs the model"):  # a dense answer does need one
        answer("bread soup", LIBRARY, name, library)


def test_keyword_statistics_are_counted_once_per_set_of_documents(library, tiny_embedder, tmp_path):
    counted = []

    def count(store, library_name, model, analyzer):
        counted.append(library_name)
        return index_keyword_stats(store, library_name, model, analyzer)

    cache = KeywordStatsCache(count=count)
    name = tiny_embedder.info.name
    for query in ("bread", "soup kitchen", "cheese"):
        answer(query, LIBRARY, name, library, mode=SearchMode.KEYWORD, keyword_stats=cache)
    assert counted == [LIBRARY]
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "cake.txt").write_text("A cake of flour and apple.", encoding="utf-8")
    ingest([tmp_path / "more" / "cake.txt"], LIBRARY, tiny_embedder, library)
    found = answer("flour", LIBRARY, name, library, mode=SearchMode.KEYWORD, keyword_stats=cache)
    assert counted == [LIBRARY, LIBRARY] and found.keyword_stats.chunks == len(DOCS) + 1


def test_a_judgment_updates_the_answer_without_asking_again(library, tiny_embedder):
    found = answer("bread", LIBRARY, tiny_embedder.info.name, library, mode=SearchMode.KEYWORD)
    judged = found.judged("bread.txt", RELEVANT)
    assert {h.hit.document: h.verdict for h in judged.hits}["bread.txt"] == RELEVANT
    assert all(h.verdict is None for h in found.hits)  # the answer itself is unchanged
    assert [h.hit for h in judged.hits] == [h.hit for h in found.hits]
