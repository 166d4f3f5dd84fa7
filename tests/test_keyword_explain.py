"""BM25 split over query terms: the analyzer, the stemmer, the parts and how they add up, against both stores."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from core.ingest.pipeline import ingest
from core.search.keyword_explain import corpus_stats, explain_keyword, explain_keywords, keyword_spans
from core.search.query import search
from core.storage.bm25 import BM25_B, BM25_K1, analyze, stem
from core.storage.memory import MemoryStore
from core.types import SearchMode
from tests.conftest import BUNDLED_SMALL

CORPUS = [
    "The kitchen bakes bread every morning; bread and soup are served at noon.",
    "Yeast ferments the dough, and the bread rises in the warm kitchen.",
    "Turing studied mathematics in Cambridge and worked on codebreaking.",
    "The bakery sells bread, cakes and pastries to the village.",
]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("running", "run"),
        ("generously", "generous"),
        ("connection", "connect"),
        ("boundary", "boundari"),
        ("speeds", "speed"),
        ("intelligence", "intellig"),
        ("caresses", "caress"),
        ("ponies", "poni"),
        ("ties", "tie"),
        ("hoping", "hope"),
        ("hopping", "hop"),
        ("agreed", "agre"),
        ("relational", "relat"),
        ("gas", "gas"),
        ("dying", "die"),
        ("news", "news"),
    ],
)
def test_the_stemmer_gives_the_porter2_stems(word, expected):
    assert stem(word) == expected


def test_the_english_analyzer_lowercases_drops_stop_words_and_stems_with_offsets():
    text = "The Bakers were BAKING bread_rolls, and it rises!"
    terms = analyze(text, "english")
    assert [t.term for t in terms] == ["baker", "were", "bake", "bread", "roll", "rise"]
    assert all(text[t.start : t.end] == t.word for t in terms)
    assert [t.term for t in analyze(text, "standard")] == [
        "the", "bakers", "were", "baking", "bread", "rolls", "and", "it", "rises",
    ]  # fmt: skip


def bm25(query_terms: list[str], doc_terms: list[str], docs_terms: list[list[str]]) -> float:
    """BM25 written out independently: the textbook formula with Milvus' idf and parameters."""
    n, avgdl = len(docs_terms), sum(map(len, docs_terms)) / len(docs_terms)
    score = 0.0
    for term in query_terms:  # repeated query terms count again
        df = sum(term in d for d in docs_terms)
        tf = doc_terms.count(term)
        if tf:
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            score += idf * tf * (BM25_K1 + 1) / (tf + BM25_K1 * (1 - BM25_B + BM25_B * len(doc_terms) / avgdl))
    return score


@pytest.mark.parametrize("analyzer", ["english", "standard"])
def test_the_terms_parts_add_up_to_the_bm25_score_and_the_shares_to_one(analyzer):
    stats = corpus_stats(CORPUS, analyzer)
    docs_terms = [[t.term for t in analyze(text, analyzer)] for text in CORPUS]
    query = "bread from the kitchen, bread with yeast"
    query_terms = [t.term for t in analyze(query, analyzer)]
    for text, doc_terms in zip(CORPUS, docs_terms):
        explanation = explain_keyword(query, text, stats)
        assert explanation.score == pytest.approx(bm25(query_terms, doc_terms, docs_terms), rel=1e-12)
    second = explain_keyword(query, CORPUS[1], stats)
    by_term = {t.term: t for t in second.terms}
    assert by_term["bread"].query_count == 2 and by_term["bread"].words == ["bread"]
    assert [t.term for t in second.terms][0] == "bread"  # query order


def test_the_rarer_word_gets_the_larger_share():
    stats = corpus_stats(CORPUS, "english")
    # "bread" is in three chunks, "yeast" in one; each occurs once in this chunk
    explanation = explain_keyword("yeast bread", CORPUS[1], stats)
    parts = {t.term: t for t in explanation.terms}
    assert (parts["bread"].df, parts["yeast"].df) == (3, 1)
    assert (parts["bread"].tf, parts["yeast"].tf) == (1, 1)
    assert parts["yeast"].share > parts["bread"].share > 0


def test_a_term_the_chunk_lacks_scores_nothing_and_is_still_listed():
    stats = corpus_stats(CORPUS, "english")
    explanation = explain_keyword("Turing bread", CORPUS[0], stats)
    assert [(t.term, t.tf, t.score) for t in explanation.terms][0] == ("ture", 0, 0.0)
    assert explanation.terms[1].share == pytest.approx(1.0)
    nothing = explain_keyword("zeppelin", CORPUS[0], stats)
    assert nothing.score == 0.0 and nothing.terms[0].share == 0.0 and keyword_spans(nothing) == []


def test_spans_mark_every_occurrence_of_a_matched_term_weighted_by_its_part():
    stats = corpus_stats(CORPUS, "english")
    text = CORPUS[0]
    (explanation,) = explain_keywords("bread soup", [text], stats)
    spans = keyword_spans(explanation)
    assert [text[s:e] for s, e, _ in spans] == ["bread", "bread", "soup"]
    assert max(w for _, _, w in spans) == 1.0  # soup: rarer, so it weighs most


def test_the_score_matches_the_engines_bm25(tmp_path: Path, store):
    from core.embed.loading import load_embedder

    embedder = load_embedder(BUNDLED_SMALL)
    for i, text in enumerate(CORPUS):
        (tmp_path / f"doc{i}.txt").write_text(text, encoding="utf-8")
    ingest(sorted(tmp_path.glob("doc*.txt")), "bake", embedder, store)
    meta = store.catalog.find("bake", embedder.info.name)
    stats = corpus_stats((r["text"] for r in store.index("bake", embedder.info.name).chunk_rows()), meta.analyzer)
    assert stats.chunks == len(CORPUS)
    for query in ("bread from the kitchen", "yeast rising", "bakeries selling cakes"):
        result = search(query, "bake", embedder, store, top_k=4, mode=SearchMode.KEYWORD)
        assert result.hits
        for hit in result.hits:
            ours = explain_keyword(query, hit.text, stats).score
            # the engine stores BM25 term weights as float32
            assert ours == pytest.approx(hit.score, rel=1e-3), (query, hit.text, meta.analyzer)


def test_the_score_matches_the_reference_stores_bm25(tmp_path: Path, tiny_embedder):
    memory = MemoryStore()
    for i, text in enumerate(CORPUS):
        (tmp_path / f"doc{i}.txt").write_text(text, encoding="utf-8")
    ingest(sorted(tmp_path.glob("doc*.txt")), "bake", tiny_embedder, memory)
    meta = memory.catalog.find("bake", tiny_embedder.info.name)
    assert meta.analyzer == "standard"
    stats = corpus_stats((r["text"] for r in memory.index("bake", tiny_embedder.info.name).chunk_rows()), meta.analyzer)
    query = "bread from the kitchen, bread"
    result = search(query, "bake", tiny_embedder, memory, top_k=4, mode=SearchMode.KEYWORD)
    assert len(result.hits) == 3
    for hit in result.hits:
        assert explain_keyword(query, hit.text, stats).score == pytest.approx(hit.score, rel=1e-9)


def test_the_reference_store_splits_words_as_the_explainer_does(tmp_path: Path, tiny_embedder):
    """Underscores split words and over-long tokens are dropped, in the store's ranking and in the explanation."""
    memory = MemoryStore()
    texts = ["bread_rolls and soup", "bread " + "x" * 41, "soup of the day, bread"]
    for i, text in enumerate(texts):
        (tmp_path / f"doc{i}.txt").write_text(text, encoding="utf-8")
    ingest(sorted(tmp_path.glob("doc*.txt")), "split", tiny_embedder, memory)
    stats = corpus_stats((r["text"] for r in memory.index("split", tiny_embedder.info.name).chunk_rows()), "standard")
    assert stats.df["bread"] == 3 and "x" * 41 not in stats.df
    result = search("rolls bread", "split", tiny_embedder, memory, top_k=3, mode=SearchMode.KEYWORD)
    assert {hit.text for hit in result.hits} == set(texts)
    for hit in result.hits:
        assert explain_keyword("rolls bread", hit.text, stats).score == pytest.approx(hit.score, rel=1e-9)


def test_bm25_is_written_once():
    """Its constants and idf live in core.storage.bm25; no other module of core spells them out."""
    core = Path(__file__).resolve().parents[1] / "core"
    for path in core.rglob("*.py"):
        if path.name == "bm25.py":
            continue
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"BM25_(K1|B)\s*(,\s*BM25_\w+\s*)?=", source), path
        assert "df + 0.5" not in source and "df[term] + 0.5" not in source, path
        assert r"[^\W_]+" not in source, path  # the engine's word pattern
