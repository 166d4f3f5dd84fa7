"""Query sets: the storage face on every local engine, the readers, the service (refusals, audit) and running a set
over several columns against plain searches of each."""

from __future__ import annotations

import json

import pytest

from core.access import READ_ONLY_REASON, Actor, Identity
from core.embed.loading import load_embedder
from core.errors import LibraryNotFoundError, QuerySetError, ReadOnlyError
from core.evaluate.judgments import NOT_RELEVANT, RELEVANT, judge
from core.evaluate.query_sets import MAX_QUERY_CHARS, file_queries, judged_queries, typed_queries
from core.evaluate.results import run_key
from core.search.agreement import document_ranking, rank_biased_overlap, topk_overlap
from core.search.query import search
from core.service.audit import AuditAction
from core.service.jobs import JobRunner
from core.service.libraries import create_library, drop_library
from core.service.query_sets import create_query_set, delete_query_set, run_query_set
from core.types import Fusion, HybridParams, QuerySet, SearchMode, SetQuery
from tests.conftest import BUNDLED_SMALL, index_texts

READER = Actor("visitor", Identity.ANONYMOUS, False, READ_ONLY_REASON)
DOCS = {
    "turing.txt": "Alan Turing was born in Maida Vale, London, and raised in southern England.",
    "ai.txt": "Artificial intelligence was founded as an academic discipline in 1956.",
    "bread.txt": "Bake the bread with flour and water, then let the dough rest.",
    "soup.txt": "A soup recipe: onions, stock and bread, simmered in the kitchen for an hour.",
}
QUERIES = ["Where was Alan Turing born?", "when was artificial intelligence founded", "how to bake bread"]


def a_set(library: str, name: str, count: int) -> QuerySet:
    queries = tuple(SetQuery(f"q{i}", f"question {i} — ünïcode “quoted” \\ back\tslash") for i in range(count))
    return QuerySet(library, name, queries, "typed", "2026-01-01T00:00:00+00:00", "alice")


# --- storage: the contract on Milvus Lite and the in-memory reference --------------------------------------------


def test_a_set_is_kept_whole_and_in_order_listed_by_name_and_per_library(any_store):
    assert any_store.query_sets.list("L") == [] and any_store.query_sets.get("L", "x") is None
    big = a_set("L", "zeta", 1_200)  # more rows than one page of reads and writes
    small = a_set("L", "alpha", 2)
    other = a_set("M", "zeta", 1)
    for made in (big, small, other):
        any_store.query_sets.put(made)
    assert any_store.query_sets.get("L", "zeta") == big
    assert [s.name for s in any_store.query_sets.list("L")] == ["alpha", "zeta"]
    assert any_store.query_sets.list("M") == [other]


def test_putting_a_set_again_replaces_it_and_delete_and_drop_remove_only_theirs(any_store):
    any_store.query_sets.put(a_set("L", "s", 30))
    shorter = a_set("L", "s", 3)
    any_store.query_sets.put(shorter)  # no row of the longer set may linger
    assert any_store.query_sets.get("L", "s") == shorter
    any_store.query_sets.put(a_set("L", "t", 1))
    any_store.query_sets.put(a_set("M", "s", 1))
    assert any_store.query_sets.delete("L", "s") is True
    assert any_store.query_sets.delete("L", "s") is False
    assert [s.name for s in any_store.query_sets.list("L")] == ["t"]
    any_store.query_sets.drop("L")
    assert any_store.query_sets.list("L") == []
    assert [s.name for s in any_store.query_sets.list("M")] == ["s"]


def test_sets_survive_closing_and_reopening_the_lite_database():
    from core.storage.milvus import MilvusStore

    first = MilvusStore()
    made = a_set("L", "kept", 250)
    first.query_sets.put(made)
    first.close()
    again = MilvusStore()
    try:
        assert again.query_sets.get("L", "kept") == made
        assert again.query_sets.list("L") == [made]
    finally:
        again.close()


# --- readers ---------------------------------------------------------------------------------------------------


def test_typed_and_text_queries_are_one_per_line_trimmed_with_repeats_left_out():
    found = typed_queries("  Where   was Turing born?\n\n how to bake bread \nWhere was Turing born?\n")
    assert [q.text for q in found] == ["Where was Turing born?", "how to bake bread"]
    assert file_queries(b"a\nb\n", "mine.txt") == typed_queries("a\nb")


def test_beir_jsonl_keeps_its_ids_and_a_bad_line_is_named():
    lines = [{"_id": "7", "text": "first"}, {"id": 8, "text": "second", "metadata": {}}, {"text": "no id"}]
    found = file_queries("\n".join(json.dumps(x) for x in lines).encode("utf-8-sig"), "queries.jsonl")
    assert [(q.id, q.text) for q in found][:2] == [("7", "first"), ("8", "second")]
    assert found[2].text == "no id" and found[2].id.startswith("q")  # the qrels id judgments export
    with pytest.raises(QuerySetError, match=r"^queries.jsonl line 2 is not JSON"):
        file_queries(b'{"_id": "1", "text": "ok"}\n{"_id": "2", text}\n', "queries.jsonl")
    with pytest.raises(QuerySetError, match=r'^queries.jsonl line 1 has no "text"'):
        file_queries(b'{"_id": "1"}\n', "queries.jsonl")
    with pytest.raises(QuerySetError, match=r"^q.jsonl line 2 uses the id '1' of an earlier, different query"):
        file_queries(b'{"_id": "1", "text": "a"}\n{"_id": "1", "text": "b"}\n', "q.jsonl")


def test_empty_undecodable_or_oversized_input_is_refused_in_one_sentence():
    with pytest.raises(QuerySetError, match=r"^empty.txt holds no query"):
        file_queries(b"\n  \n", "empty.txt")
    with pytest.raises(QuerySetError, match=r"^latin.txt is not UTF-8"):
        file_queries("café".encode("latin-1"), "latin.txt")
    with pytest.raises(QuerySetError, match=r"line 2 has a query of"):
        typed_queries("fine\n" + "x" * (MAX_QUERY_CHARS + 1))


def test_judged_queries_are_every_query_with_a_verdict(any_store):
    create_library(any_store, "L")
    with pytest.raises(QuerySetError, match="has no judgments yet"):
        judged_queries(any_store.judgments.list("L"), "L")
    judge(any_store, "L", "how to bake bread", "bread.txt", RELEVANT)
    judge(any_store, "L", "how to bake bread", "soup.txt", NOT_RELEVANT)
    judge(any_store, "L", "Where was Turing born?", "soup.txt", NOT_RELEVANT)  # not relevant only: still a query
    found = judged_queries(any_store.judgments.list("L"), "L")
    assert sorted(q.text for q in found) == ["Where was Turing born?", "how to bake bread"]
    assert {q.id for q in found} == {j.query_id for j in any_store.judgments.list("L")}


# --- the service ---------------------------------------------------------------------------------------------


def test_making_and_deleting_a_set_is_logged_and_a_taken_name_is_refused(any_store):
    create_library(any_store, "L")
    made = create_query_set(any_store, "L", " Mine ", typed_queries("a\nb"), "typed")
    assert made.name == "Mine" and made.created_by and made.created_at
    with pytest.raises(QuerySetError, match=r"^Library 'L' already has a query set named 'Mine'"):
        create_query_set(any_store, "L", "Mine", typed_queries("c"), "typed")
    with pytest.raises(QuerySetError, match="needs a name"):
        create_query_set(any_store, "L", "  ", typed_queries("c"), "typed")
    with pytest.raises(QuerySetError, match="no query set named 'Other': its sets are 'Mine'"):
        delete_query_set(any_store, "L", "Other")
    delete_query_set(any_store, "L", "Mine")
    assert any_store.query_sets.list("L") == []
    log = [(e.action, e.what, e.counts) for e in reversed(any_store.audit.list())]
    assert log == [
        (str(AuditAction.CREATE_QUERY_SET), "'Mine' from typed", {"queries": 2}),
        (str(AuditAction.DELETE_QUERY_SET), "'Mine'", {"queries": 2}),
    ]


def test_a_reader_can_neither_make_nor_delete_a_set_and_nothing_is_logged(any_store):
    create_library(any_store, "L")
    create_query_set(any_store, "L", "Mine", typed_queries("a"), "typed")
    logged = len(any_store.audit.list())
    with pytest.raises(ReadOnlyError, match=r"^Cannot make a query set in library 'L': .*POTION_READ_ONLY"):
        create_query_set(any_store, "L", "Theirs", typed_queries("a"), "typed", READER)
    with pytest.raises(ReadOnlyError, match=r"^Cannot delete query set 'Mine' of library 'L'"):
        delete_query_set(any_store, "L", "Mine", READER)
    assert [s.name for s in any_store.query_sets.list("L")] == ["Mine"]
    assert len(any_store.audit.list()) == logged


def test_a_set_needs_an_existing_library_and_dropping_the_library_drops_its_sets(any_store):
    with pytest.raises(LibraryNotFoundError, match="There is no library named .Nowhere."):
        create_query_set(any_store, "Nowhere", "Mine", typed_queries("a"), "typed")
    create_library(any_store, "L")
    create_query_set(any_store, "L", "Mine", typed_queries("a"), "typed")
    drop_library(any_store, JobRunner(), "L")
    create_library(any_store, "L")  # a new library of the name starts with no set
    assert any_store.query_sets.list("L") == []


# --- running a set --------------------------------------------------------------------------------------------


@pytest.fixture
def indexed(any_store, tmp_path):
    index_texts(any_store, tmp_path / "docs", "L", BUNDLED_SMALL, DOCS)
    create_query_set(any_store, "L", "Mine", typed_queries("\n".join(QUERIES)), "typed")
    return any_store


def test_each_column_shows_what_a_plain_search_of_it_gives_with_agreement_between_them(indexed):
    embedder = load_embedder(BUNDLED_SMALL)
    weighted = HybridParams(fusion=Fusion.WEIGHTED, weight=0.3)
    columns = [
        run_key(BUNDLED_SMALL, SearchMode.DENSE),
        run_key(BUNDLED_SMALL, SearchMode.KEYWORD),
        run_key(BUNDLED_SMALL, SearchMode.HYBRID, weighted),
    ]
    seen = []
    found = run_query_set(
        indexed, "L", "Mine", columns, {BUNDLED_SMALL: embedder}, top_k=3, progress=lambda *a: seen.append(a)
    )
    assert [row.query.text for row in found.rows] == QUERIES
    assert found.labels == [f"{BUNDLED_SMALL} dense", f"{BUNDLED_SMALL} keyword", f"{BUNDLED_SMALL} hybrid w=0.3"]
    for row in found.rows:
        rankings = []
        for column, hits in zip(columns, row.hits):
            plain = search(row.query.text, "L", embedder, indexed, 3, mode=column.mode, params=column.params)
            assert [(h.document, h.chunk) for h in hits] == [(h.document, h.chunk) for h in plain.hits]
            assert [h.score for h in hits] == pytest.approx([h.score for h in plain.hits])
            rankings.append(document_ranking(plain.hits))
        dense_keyword = row.agreement[0]
        assert dense_keyword.overlap == pytest.approx(topk_overlap(rankings[0], rankings[1], 3))
        assert dense_keyword.rbo == pytest.approx(rank_biased_overlap(rankings[0], rankings[1], 0.9, 3))
        assert len(row.agreement) == 3  # every pair of three columns
    assert seen[-1] == (f"{BUNDLED_SMALL} hybrid w=0.3: search", len(QUERIES), len(QUERIES))


def test_unjudged_counts_drop_as_hits_are_judged(indexed):
    columns = [run_key(BUNDLED_SMALL, SearchMode.DENSE), run_key(BUNDLED_SMALL, SearchMode.KEYWORD)]
    embedders = {BUNDLED_SMALL: load_embedder(BUNDLED_SMALL)}
    before = run_query_set(indexed, "L", "Mine", columns, embedders, top_k=2)
    row = before.rows[0]
    assert before.unjudged == sum(len(r.unjudged) for r in before.rows) > 0
    assert all(h.verdict is None for column in row.hits for h in column)
    document = row.hits[0][0].document
    judge(indexed, "L", row.query.text, document, RELEVANT)
    after = run_query_set(indexed, "L", "Mine", columns, embedders, top_k=2)
    assert after.unjudged == before.unjudged - 1  # a verdict covers the document in every column
    assert document not in after.rows[0].unjudged
    assert all(h.verdict == RELEVANT for column in after.rows[0].hits for h in column if h.document == document)
    assert before.with_verdicts(indexed.judgments.list("L")).unjudged == after.unjudged  # no search needed
    payload = after.as_dict()
    assert payload["unjudged"] == after.unjudged and payload["queries"][0]["unjudged"] == len(after.rows[0].unjudged)


def test_a_run_takes_two_to_four_distinct_columns_and_a_known_set(indexed):
    dense = run_key(BUNDLED_SMALL, SearchMode.DENSE)
    embedders = {BUNDLED_SMALL: load_embedder(BUNDLED_SMALL)}
    with pytest.raises(QuerySetError, match="2 to 4 columns"):
        run_query_set(indexed, "L", "Mine", [dense], embedders)
    with pytest.raises(QuerySetError, match="given twice"):
        run_query_set(indexed, "L", "Mine", [dense, dense], embedders)
    with pytest.raises(QuerySetError, match="no query set named 'Other'"):
        run_query_set(indexed, "L", "Other", [dense, run_key(BUNDLED_SMALL, SearchMode.KEYWORD)], embedders)
