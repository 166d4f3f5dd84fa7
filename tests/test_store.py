"""The Milvus store against a real Milvus Lite database in a tmp dir."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from core.errors import LibraryNotFoundError, ModelMismatchError
from core.store import ChunkRow, CollectionMeta, MilvusStore, collection_name

DIM = 8


def meta(library="Lib", model="m", dim=DIM, fingerprint="f1", chunking=None):
    return CollectionMeta(library, model, f"/models/{model}", "local", fingerprint, dim, chunking or {"size": 10})


def rows(document, n, doc_hash="h1", seed=0):
    rng = np.random.default_rng(seed)
    return [
        ChunkRow(
            document,
            doc_hash,
            i,
            n,
            f"{document} chunk {i}",
            i * 10,
            i * 10 + 9,
            rng.normal(size=DIM).astype(np.float32),
        )
        for i in range(n)
    ]


def test_collection_names_are_valid_and_unique_per_library_and_model():
    a = collection_name("My Papers!", "minishlab/potion-base-8M")
    assert a.replace("_", "").isalnum() and a.startswith("potion_")
    assert a != collection_name("My Papers?", "minishlab/potion-base-8M")
    assert a != collection_name("My Papers!", "potion-base-8M")


def test_provenance_is_recorded_and_survives_reopening(isolated_env):
    store = MilvusStore()
    store.ensure_collection(meta(chunking={"size": 200, "overlap": 20, "unit": "tokens"}))
    store.write("Lib", "m", rows("a.txt", 3))
    store.flush("Lib", "m")
    store.close()
    reopened = MilvusStore()
    found = reopened.find("Lib", "m")
    assert (found.dim, found.fingerprint, found.model_source) == (DIM, "f1", "/models/m")
    assert found.chunking == {"size": 200, "overlap": 20, "unit": "tokens"} and found.created_at
    # A reopened Lite database has released collections: searching must still work.
    hits = reopened.search("Lib", "m", np.ones((1, DIM), dtype=np.float32), top_k=2)
    assert len(hits[0]) == 2
    reopened.close()


def test_writing_the_same_rows_twice_adds_nothing(store):
    store.ensure_collection(meta())
    store.write("Lib", "m", rows("a.txt", 5))
    store.write("Lib", "m", rows("a.txt", 5))
    assert store.count("Lib", "m") == 5
    assert [d.name for d in store.documents("Lib", "m")] == ["a.txt"]


@pytest.mark.parametrize(
    "change,match",
    [
        ({"dim": 16}, "16"),
        ({"fingerprint": "other"}, "different model weights"),
        ({"chunking": {"size": 99}}, "chunked"),
    ],
)
def test_a_collection_refuses_another_model_dim_or_chunking(store, change, match):
    store.ensure_collection(meta())
    with pytest.raises(ModelMismatchError, match=match):
        store.ensure_collection(meta(**change))


def test_stats_count_documents_and_chunks(store):
    store.ensure_collection(meta())
    store.write("Lib", "m", rows("a.txt", 3) + rows("b.txt", 4))
    stats = store.stats("Lib", "m")
    assert (stats.documents, stats.chunks, stats.meta.dim) == (2, 7, DIM)
    assert stats.vector_bytes == 7 * DIM * 4


def test_a_document_without_its_chunk_zero_is_not_listed_as_present(store):
    # Chunk 0 is written last: a crash before it leaves the document listed as absent, so a re-run rewrites it.
    store.ensure_collection(meta())
    store.write("Lib", "m", rows("partial.txt", 4)[1:])
    assert store.documents("Lib", "m") == []


def test_delete_document_removes_only_its_chunks(store):
    store.ensure_collection(meta())
    store.write("Lib", "m", rows('quote"d \\ name.txt', 3) + rows("b.txt", 2))
    store.delete_document("Lib", "m", 'quote"d \\ name.txt')
    assert [d.name for d in store.documents("Lib", "m")] == ["b.txt"]
    assert store.count("Lib", "m") == 2


def test_search_filters_by_document_and_returns_text_and_offsets(store):
    store.ensure_collection(meta())
    a, b = rows("a.txt", 3, seed=1), rows("b.txt", 3, seed=2)
    store.write("Lib", "m", a + b)
    hits = store.search("Lib", "m", np.stack([a[1].vector, b[2].vector]), top_k=1)
    assert (hits[0][0].document, hits[0][0].chunk, hits[0][0].text) == ("a.txt", 1, "a.txt chunk 1")
    assert (hits[1][0].document, hits[1][0].start, hits[1][0].end) == ("b.txt", 20, 29)
    assert hits[0][0].score == pytest.approx(1.0, abs=1e-5)
    only_b = store.search("Lib", "m", a[1].vector[None, :], top_k=5, document="b.txt")
    assert {h.document for h in only_b[0]} == {"b.txt"}


def test_libraries_group_models_and_drop_library_removes_them_all(store):
    store.ensure_collection(meta("One", "m"))
    store.ensure_collection(meta("One", "n", dim=4))
    store.ensure_collection(meta("Two", "m"))
    libs = {lib.name: lib for lib in store.libraries()}
    assert [c.meta.model_name for c in libs["One"].collections] == ["m", "n"]
    assert store.drop_library("One") == 2
    assert [lib.name for lib in store.libraries()] == ["Two"]
    with pytest.raises(LibraryNotFoundError):
        store.drop_library("One")


def test_operations_on_a_missing_library_say_so(store):
    with pytest.raises(LibraryNotFoundError, match="Nope"):
        store.search("Nope", "m", np.ones((1, DIM), dtype=np.float32), 3)


def test_a_second_process_gets_a_clear_locked_message(store, isolated_env):
    code = (
        "from core.store import MilvusStore\n"
        "from core.errors import StoreLockedError\n"
        "try:\n    MilvusStore()\nexcept StoreLockedError as e:\n    print('LOCKED', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "LOCKED" in out.stdout and "another process" in out.stdout, out.stderr[-2000:]


def test_cached_documents_and_stats_follow_every_write_delete_and_drop(store):
    store.ensure_collection(meta())
    store.write("Lib", "m", rows("a.txt", 2))
    assert (store.stats("Lib", "m").chunks, len(store.documents("Lib", "m"))) == (2, 1)
    store.write("Lib", "m", rows("b.txt", 3))
    assert (store.stats("Lib", "m").chunks, len(store.documents("Lib", "m"))) == (5, 2)
    store.delete_document("Lib", "m", "a.txt")
    assert (store.stats("Lib", "m").documents, [d.name for d in store.documents("Lib", "m")]) == (1, ["b.txt"])
    store.drop_library("Lib")
    assert store.library_names() == []
    store.ensure_collection(meta())
    assert store.stats("Lib", "m").chunks == 0 and store.documents("Lib", "m") == []
