"""The store contract, run against Milvus Lite in a tmp dir, the exact in-memory reference, and two servers reached
through MILVUS_URI: `python -m core serve` and a genuine Milvus 2.3 standalone, which has no BM25 and must say so."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from core.errors import KeywordUnavailableError, LibraryNotFoundError, ModelMismatchError
from core.storage.memory import MemoryStore
from core.storage.milvus import collection_name
from core.types import ChunkRow, CollectionMeta, Fusion, HybridParams, SearchMode
from tests.conftest import ALL_STORES

DIM = 8
NAMES = [
    "Résumé café.txt",
    "Привет мир.txt",
    "日本語の文書.txt",
    "party 🎉 notes.txt",
    'say "hi".txt',
    "back\\slash.txt",
    "two\nlines.txt",
    "it's.md",
    # Filter-expression syntax: a name must never change which rows a filter selects.
    'x" or document != "',
    "a' || 1 == 1 || 'b",
    "name) or (chunk >= 0",
    'end\\" and true or "',
]


def meta(library="Lib", model="m", dim=DIM, fingerprint="f1", chunking=None):
    return CollectionMeta(library, model, f"/models/{model}", "local", fingerprint, dim, chunking or {"size": 10})


def rows(document, n, doc_hash="h1", seed=0, texts=None):
    rng = np.random.default_rng(seed)
    return [
        ChunkRow(
            document,
            doc_hash,
            i,
            n,
            texts[i] if texts else f"{document} chunk {i}",
            i * 10,
            i * 10 + 9,
            rng.normal(size=DIM).astype(np.float32),
        )
        for i in range(n)
    ]


# The contract holds on every engine: widen conftest's any_store to the servers (which run under -m server).
STORES = ALL_STORES


def needs_bm25(any_store) -> None:
    """On an engine without BM25 (Milvus 2.3), check keyword search is refused with the reason, then skip the rest."""
    if any_store.profile.has_bm25:
        return
    with pytest.raises(KeywordUnavailableError, match="no BM25"):
        any_store.index("Lib", "m").keyword(["anything"], top_k=1)
    with pytest.raises(KeywordUnavailableError, match="no BM25"):
        any_store.index("Lib", "m").search(SearchMode.HYBRID, np.ones((1, DIM), dtype=np.float32), ["anything"], 1)
    pytest.skip(f"{any_store.profile.label} has no BM25: keyword and hybrid are refused, saying so (checked)")


def test_collection_names_are_valid_and_unique_per_library_and_model():
    a = collection_name("My Papers!", "minishlab/potion-base-8M")
    assert a.replace("_", "").isalnum() and a.startswith("potion_")
    assert a != collection_name("My Papers?", "minishlab/potion-base-8M")
    assert a != collection_name("My Papers!", "potion-base-8M")


def test_new_collections_work_at_once_without_pymilvus_index_wait(any_store, monkeypatch):
    """A library's collection and the store's own ones are made without pymilvus' wait for the index build (it
    sleeps 0.5 s per index before it first asks), and their indexes answer at once."""
    from pymilvus.client.grpc_handler import GrpcHandler

    def waited(*args, **kwargs):
        raise AssertionError("waited in pymilvus' index poll")

    monkeypatch.setattr(GrpcHandler, "wait_for_creating_index", waited)
    any_store.catalog.ensure(meta())
    index = any_store.index("Lib", "m")
    index.write(rows("a.txt", 3))
    index.flush()
    assert len(index.dense(np.ones((1, DIM), dtype=np.float32), top_k=2)[0]) == 2
    run_id = "a" * 32
    any_store.runs.put(run_id, {"id": run_id}, {"id": run_id, "per_query": {}})  # made on its first write
    assert any_store.runs.get(run_id) == {"id": run_id, "per_query": {}}


def test_writing_the_same_rows_twice_adds_nothing(any_store):
    any_store.catalog.ensure(meta())
    any_store.index("Lib", "m").write(rows("a.txt", 5))
    any_store.index("Lib", "m").write(rows("a.txt", 5))
    assert any_store.index("Lib", "m").count() == 5
    assert [d.name for d in any_store.index("Lib", "m").documents()] == ["a.txt"]


@pytest.mark.parametrize(
    "change,match",
    [
        ({"dim": 16}, "16"),
        ({"fingerprint": "other"}, "different model weights"),
        ({"chunking": {"size": 99}}, "chunked"),
    ],
)
def test_a_collection_refuses_another_model_dim_or_chunking(any_store, change, match):
    any_store.catalog.ensure(meta())
    with pytest.raises(ModelMismatchError, match=match):
        any_store.catalog.ensure(meta(**change))


def test_stats_count_documents_and_chunks(any_store):
    any_store.catalog.ensure(meta())
    any_store.index("Lib", "m").write(rows("a.txt", 3) + rows("b.txt", 4))
    stats = any_store.index("Lib", "m").stats()
    assert (stats.documents, stats.chunks, stats.meta.dim) == (2, 7, DIM)
    assert stats.vector_bytes == 7 * DIM * 4


def test_a_document_without_its_chunk_zero_is_not_listed_as_present(any_store):
    # Chunk 0 is written last: a crash before it leaves the document listed as absent, so a re-run rewrites it.
    any_store.catalog.ensure(meta())
    any_store.index("Lib", "m").write(rows("partial.txt", 4)[1:])
    assert any_store.index("Lib", "m").documents() == []


@pytest.mark.parametrize("name", NAMES)
def test_any_name_is_stored_filtered_changed_and_deleted_exactly(any_store, name):
    any_store.catalog.ensure(meta())
    first = rows(name, 3, doc_hash="v1", seed=1)
    any_store.index("Lib", "m").write(first + rows("other.txt", 2, seed=2))
    assert name in [d.name for d in any_store.index("Lib", "m").documents()]
    only = any_store.index("Lib", "m").dense(first[1].vector[None, :], top_k=10, document=name)[0]
    assert {h.document for h in only} == {name} and len(only) == 3
    # A changed version replaces the old one: delete by name, then write.
    any_store.index("Lib", "m").delete_documents([name])
    any_store.index("Lib", "m").write(rows(name, 2, doc_hash="v2", seed=3))
    docs = {d.name: d for d in any_store.index("Lib", "m").documents()}
    assert (docs[name].doc_hash, docs[name].chunks, any_store.index("Lib", "m").count()) == ("v2", 2, 4)
    any_store.index("Lib", "m").delete_document(name)
    assert [d.name for d in any_store.index("Lib", "m").documents()] == ["other.txt"]
    assert any_store.index("Lib", "m").count() == 2


def test_dense_search_filters_by_document_and_returns_text_and_offsets(any_store):
    any_store.catalog.ensure(meta())
    a, b = rows("a.txt", 3, seed=1), rows("b.txt", 3, seed=2)
    any_store.index("Lib", "m").write(a + b)
    hits = any_store.index("Lib", "m").dense(np.stack([a[1].vector, b[2].vector]), top_k=1)
    assert (hits[0][0].document, hits[0][0].chunk, hits[0][0].text) == ("a.txt", 1, "a.txt chunk 1")
    assert (hits[1][0].document, hits[1][0].start, hits[1][0].end) == ("b.txt", 20, 29)
    assert hits[0][0].score == pytest.approx(1.0, abs=1e-5) == hits[0][0].dense_score
    assert hits[0][0].keyword_score is None and hits[0][0].chunk_id == a[1].id
    only_b = any_store.index("Lib", "m").dense(a[1].vector[None, :], top_k=5, document="b.txt")
    assert {h.document for h in only_b[0]} == {"b.txt"}


def test_dense_scores_are_the_exact_cosine_whatever_the_vectors_length(any_store):
    any_store.catalog.ensure(meta())
    written = rows("a.txt", 6, seed=3)
    scaled = [ChunkRow(**{**r.__dict__, "vector": r.vector * (0.01 + 4 * i)}) for i, r in enumerate(written)]
    any_store.index("Lib", "m").write(scaled)
    query = np.random.default_rng(9).normal(size=DIM).astype(np.float32) * 7
    (hits,) = any_store.index("Lib", "m").dense(query[None, :], top_k=6)

    def unit(v):
        return v / np.linalg.norm(v)

    exact = {r.id: float(unit(r.vector) @ unit(query)) for r in scaled}
    assert [h.chunk_id for h in hits] == sorted(exact, key=exact.get, reverse=True)
    assert [h.score for h in hits] == pytest.approx([exact[h.chunk_id] for h in hits], abs=1e-5)


TEXTS = {
    "wing.txt": ["laminar flow over a swept wing", "turbulent boundary layer on the wing surface"],
    "heat.txt": ["heat transfer in a hypersonic nozzle", "the boundary layer heats the nozzle wall quickly"],
    "misc.txt": ["a recipe for bread with flour and water", "notes about nothing in particular at all"],
}


def _keyword_library(any_store):
    any_store.catalog.ensure(meta())
    needs_bm25(any_store)
    for seed, (name, texts) in enumerate(TEXTS.items()):
        any_store.index("Lib", "m").write(rows(name, 2, seed=seed, texts=texts))
    any_store.index("Lib", "m").flush()


def test_keyword_search_ranks_by_bm25_and_keeps_the_score(any_store):
    _keyword_library(any_store)
    (hits,) = any_store.index("Lib", "m").keyword(["nozzle heat"], top_k=5)
    assert [(h.document, h.chunk) for h in hits] == [("heat.txt", 0), ("heat.txt", 1)]
    assert hits[0].score > hits[1].score > 0 and hits[0].keyword_score == hits[0].score
    assert hits[0].dense_score is None
    (none,) = any_store.index("Lib", "m").keyword(["zeppelin"], top_k=5)
    assert none == []
    (filtered,) = any_store.index("Lib", "m").keyword(["boundary layer"], top_k=5, document="wing.txt")
    assert [(h.document, h.chunk) for h in filtered] == [("wing.txt", 1)]


def test_hybrid_fuses_both_rankings_and_keeps_each_component(any_store):
    _keyword_library(any_store)
    target = rows("misc.txt", 2, seed=2, texts=TEXTS["misc.txt"])[0]  # dense favours misc.txt chunk 0
    (rrf,) = any_store.index("Lib", "m").search(SearchMode.HYBRID, target.vector[None, :], ["boundary layer"], top_k=10)
    by_key = {(h.document, h.chunk): h for h in rrf}
    both = by_key[("wing.txt", 1)]
    assert both.dense_score is not None and both.keyword_score is not None
    assert by_key[("misc.txt", 0)].keyword_score is None and by_key[("misc.txt", 0)].dense_score is not None
    expected = 1 / (60 + 1)  # misc.txt chunk 0 is the dense top hit and in no keyword list
    assert by_key[("misc.txt", 0)].score == pytest.approx(expected)
    assert [h.rank for h in rrf] == list(range(1, len(rrf) + 1))
    dense_only = HybridParams(fusion=Fusion.WEIGHTED, weight=1.0)
    (weighted,) = any_store.index("Lib", "m").hybrid(target.vector[None, :], ["boundary layer"], 3, params=dense_only)
    (dense,) = any_store.index("Lib", "m").dense(target.vector[None, :], 3)
    assert [h.chunk_id for h in weighted] == [h.chunk_id for h in dense]
    keyword_only = HybridParams(fusion=Fusion.WEIGHTED, weight=0.0)
    (weighted,) = any_store.index("Lib", "m").hybrid(target.vector[None, :], ["boundary layer"], 2, params=keyword_only)
    assert {h.document for h in weighted} == {"wing.txt", "heat.txt"} and weighted[0].score == pytest.approx(1.0)


def test_a_query_with_a_zero_vector_gets_no_dense_hits_and_keyword_hits_in_hybrid(any_store):
    _keyword_library(any_store)  # a zero vector: the query had no word the model knows
    zero = np.zeros((1, DIM), dtype=np.float32)
    assert any_store.index("Lib", "m").search(SearchMode.DENSE, zero, ["boundary layer"], 5) == [[]]
    (hybrid,) = any_store.index("Lib", "m").search(SearchMode.HYBRID, zero, ["boundary layer"], 5)
    assert {h.document for h in hybrid} == {"wing.txt", "heat.txt"}
    assert all(h.dense_score is None and h.keyword_score > 0 for h in hybrid)


def test_libraries_group_models_and_drop_library_removes_them_all(any_store):
    any_store.catalog.ensure(meta("One", "m"))
    any_store.catalog.ensure(meta("One", "n", dim=4))
    any_store.catalog.ensure(meta("Two", "m"))
    libs = {lib.name: lib for lib in any_store.libraries()}
    assert [c.meta.model_name for c in libs["One"].collections] == ["m", "n"]
    assert any_store.catalog.models("One") == ["m", "n"] and any_store.catalog.models("Nope") == []
    counted = []
    index = any_store.index
    any_store.index = lambda library, model: counted.append(library) or index(library, model)
    assert any_store.library_stats("One") == libs["One"].collections
    assert set(counted) == {"One"}  # a page showing one library does not count the others
    del any_store.index
    assert any_store.catalog.drop("One") == 2
    assert [lib.name for lib in any_store.libraries()] == ["Two"]
    with pytest.raises(LibraryNotFoundError):
        any_store.catalog.drop("One")


def test_an_empty_library_exists_until_dropped(any_store):
    any_store.catalog.create("Empty Ünïcode 📚")
    assert any_store.catalog.names() == ["Empty Ünïcode 📚"]
    assert [(lib.name, lib.collections) for lib in any_store.libraries()] == [("Empty Ünïcode 📚", [])]
    assert any_store.catalog.drop("Empty Ünïcode 📚") == 0
    assert any_store.catalog.names() == []


def test_library_names_with_filter_syntax_touch_only_their_own_library(any_store):
    sly, plain = 'x" or key != "', "Plain"
    any_store.catalog.ensure(meta(sly, "m"))
    any_store.catalog.ensure(meta(plain, "m"))
    any_store.index(sly, "m").write(rows("a.txt", 2, seed=1))
    any_store.index(plain, "m").write(rows("b.txt", 3, seed=2))
    assert any_store.catalog.names() == sorted([sly, plain])
    assert any_store.catalog.drop(sly) == 1
    assert any_store.catalog.names() == [plain] and any_store.index(plain, "m").count() == 3


def test_operations_on_a_missing_library_say_so(any_store):
    with pytest.raises(LibraryNotFoundError, match="Nope"):
        any_store.index("Nope", "m").dense(np.ones((1, DIM), dtype=np.float32), 3)
    with pytest.raises(LibraryNotFoundError, match="Nope"):
        any_store.index("Nope", "m").search(SearchMode.KEYWORD, np.ones((1, DIM)), ["x"], 3)


def test_cached_documents_and_stats_follow_every_write_delete_and_drop(any_store):
    any_store.catalog.ensure(meta())
    any_store.index("Lib", "m").write(rows("a.txt", 2))
    assert (any_store.index("Lib", "m").stats().chunks, len(any_store.index("Lib", "m").documents())) == (2, 1)
    any_store.index("Lib", "m").write(rows("b.txt", 3))
    assert (any_store.index("Lib", "m").stats().chunks, len(any_store.index("Lib", "m").documents())) == (5, 2)
    any_store.index("Lib", "m").delete_document("a.txt")
    assert (
        any_store.index("Lib", "m").stats().documents,
        [d.name for d in any_store.index("Lib", "m").documents()],
    ) == (
        1,
        ["b.txt"],
    )
    any_store.catalog.drop("Lib")
    assert any_store.catalog.names() == []
    any_store.catalog.ensure(meta())
    assert any_store.index("Lib", "m").stats().chunks == 0 and any_store.index("Lib", "m").documents() == []


def test_writes_from_several_threads_at_once_keep_every_row_and_exact_counts(any_store):
    """Ingest writes two batches at once: every row lands, and counts and listings agree afterwards."""
    any_store.catalog.ensure(meta())
    batches = [[r for d in range(b * 25, b * 25 + 25) for r in rows(f"d{d}.txt", 3, seed=d)] for b in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        writes = [pool.submit(any_store.index("Lib", "m").write, batch, new=True) for batch in batches]
        listings = [pool.submit(any_store.index("Lib", "m").documents) for _ in range(4)]
        assert sum(w.result() for w in writes) == 300
        for listing in listings:  # the listings ran without error; see the next test
            listing.result()
    any_store.index("Lib", "m").flush()
    assert any_store.index("Lib", "m").count() == 300
    assert len(any_store.index("Lib", "m").documents()) == any_store.index("Lib", "m").count_documents() == 100


def test_an_index_without_keyword_search_refuses_it_and_dense_still_works():
    from dataclasses import replace

    any_store = MemoryStore()
    made = any_store.catalog.ensure(meta())
    any_store.catalog.indexes[("Lib", "m")].meta = replace(made, analyzer="")
    any_store.index("Lib", "m").write(rows("a.txt", 2))
    with pytest.raises(KeywordUnavailableError, match="rebuild"):
        any_store.index("Lib", "m").search(SearchMode.HYBRID, np.ones((1, DIM)), ["chunk"], 3)
    assert len(any_store.index("Lib", "m").search(SearchMode.DENSE, np.ones((1, DIM)), ["chunk"], 3)[0]) == 2
