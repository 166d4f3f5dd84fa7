"""What only the Milvus store does: persistence, the registry, old databases, engine errors, the Lite lock."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from core.errors import KeywordUnavailableError, SchemaVersionError, StoreConfigError, StoreError
from core.storage.connection import lite_version
from core.storage.legacy import LEGACY_META_KEY
from core.storage.milvus import MilvusStore, collection_name
from core.storage.registry import REGISTRY
from core.types import SCHEMA_VERSION, SearchMode
from tests.test_store import DIM, TEXTS, meta, rows


@pytest.fixture
def milvus():
    s = MilvusStore()
    yield s
    s.close()


def test_provenance_and_empty_libraries_survive_reopening(isolated_env):
    store = MilvusStore()
    made = store.catalog.ensure(meta(chunking={"size": 200, "overlap": 20, "unit": "tokens"}))
    store.catalog.create("Still empty")
    store.index("Lib", "m").write(rows("a.txt", 3))
    store.index("Lib", "m").flush()
    store.close()
    reopened = MilvusStore()
    found = reopened.catalog.find("Lib", "m")
    assert found == made and found.analyzer in ("english", "standard") and found.schema_version == SCHEMA_VERSION
    assert found.chunking == {"size": 200, "overlap": 20, "unit": "tokens"} and found.created_at
    assert reopened.catalog.names() == ["Lib", "Still empty"]
    # A reopened Lite database has released collections: searching must still work.
    assert len(reopened.index("Lib", "m").dense(np.ones((1, DIM), dtype=np.float32), top_k=2)[0]) == 2
    reopened.close()


def test_a_database_from_a_newer_version_is_refused_with_a_message(isolated_env):
    store = MilvusStore()
    future = meta()
    store.registry.put(type(future)(**{**future.__dict__, "collection": "x", "schema_version": SCHEMA_VERSION + 1}))
    store.close()
    with pytest.raises(SchemaVersionError, match="newer Potion Search"):
        MilvusStore()


def test_a_second_process_gets_one_clear_line_and_no_engine_traceback(milvus):
    code = (
        "from core.storage.milvus import MilvusStore\n"
        "from core.errors import StoreLockedError\n"
        "try:\n    MilvusStore()\nexcept StoreLockedError as e:\n    print('LOCKED', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "LOCKED" in out.stdout and "another process" in out.stdout, out.stderr[-2000:]
    assert "Traceback" not in out.stderr and "ERROR" not in out.stderr, out.stderr[-2000:]


def test_engine_errors_become_store_errors_naming_the_operation(milvus):
    milvus.catalog.ensure(meta())
    milvus.client.drop_collection(milvus.catalog.find("Lib", "m").collection)  # the engine now fails every call on it
    with pytest.raises(StoreError, match="could not search"):
        milvus.index("Lib", "m").dense(np.ones((1, DIM), dtype=np.float32), 3)


def test_a_collection_dropped_behind_the_registry_is_made_again(milvus):
    made = milvus.catalog.ensure(meta())
    milvus.client.drop_collection(made.collection)
    assert milvus.catalog.ensure(meta()) == made
    milvus.index("Lib", "m").write(rows("a.txt", 2))
    assert milvus.index("Lib", "m").count() == 2


def test_a_vanished_schema_1_collection_is_made_again_in_todays_schema(milvus):
    from dataclasses import replace

    made = milvus.catalog.ensure(meta())
    legacy = replace(made, schema_version=1, analyzer="")  # as an adopted schema-1 index is registered
    milvus.registry.put(legacy)
    milvus.state.edit_view(lambda view: view.metas.__setitem__(("Lib", "m"), legacy))
    milvus.client.drop_collection(made.collection)
    again = milvus.catalog.ensure(meta())
    assert again.schema_version == SCHEMA_VERSION and again.has_keyword
    assert milvus.registry.read().metas[("Lib", "m")] == again  # the registry records the new schema too
    milvus.index("Lib", "m").write(rows("wing.txt", 2, texts=TEXTS["wing.txt"]))
    (hits,) = milvus.index("Lib", "m").search(SearchMode.KEYWORD, np.ones((1, DIM)), ["swept wing"], 3)
    assert hits[0].document == "wing.txt"


@pytest.mark.skipif(lite_version()[0] < 3, reason="only Milvus Lite 3.x keeps collection properties")
def test_a_schema_1_database_is_read_as_it_is_and_rebuilt_for_keyword_search(isolated_env):
    """Schema 1 kept provenance in collection properties and had no BM25 field or document keys."""
    store = MilvusStore()
    legacy = collection_name("Old", "m", version=1)
    schema = store.client.create_schema(auto_id=False, enable_dynamic_field=False)
    from pymilvus import DataType

    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    for name, length in (("text", 65_535), ("document", 4_096), ("doc_hash", 64), ("title", 2_048), ("doc_type", 16)):
        schema.add_field(name, DataType.VARCHAR, max_length=length)
    for name in ("chunk", "n_chunks", "start", "end", "page"):
        schema.add_field(name, DataType.INT64)
    index = store.client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="COSINE")
    old_meta = {**meta("Old").__dict__}
    for key in ("analyzer", "collection", "schema_version"):
        old_meta.pop(key)
    props = {LEGACY_META_KEY: json.dumps(old_meta)}
    store.client.create_collection(legacy, schema=schema, index_params=index, properties=props)
    old_rows = rows("wing.txt", 2, texts=TEXTS["wing.txt"]) + rows("Résumé.txt", 1, seed=1, texts=["heat"])
    for r in old_rows:
        record = {k: getattr(r, k) for k in ("text", "document", "doc_hash", "chunk", "n_chunks", "start", "end")}
        extra = {"id": r.id, "vector": r.vector, "title": "", "doc_type": "", "page": -1}
        store.client.insert(legacy, [{**record, **extra}])
    store.client.flush(legacy)
    store.close()

    reopened = MilvusStore()
    found = reopened.catalog.find("Old", "m")
    assert (found.schema_version, found.collection, found.analyzer) == (1, legacy, "")
    assert [d.name for d in reopened.index("Old", "m").documents()] == ["Résumé.txt", "wing.txt"]
    assert reopened.index("Old", "m").dense(old_rows[0].vector[None, :], 1)[0][0].document == "wing.txt"
    with pytest.raises(StoreError, match="rebuild"):
        reopened.index("Old", "m").search(SearchMode.KEYWORD, old_rows[0].vector[None, :], ["wing"], 3)
    events = []
    rebuilt = reopened.index("Old", "m").rebuild(lambda *event: events.append(event))
    assert events[0] == ("rebuild", 0, 3) and events[-1] == ("rebuild", 3, 3)
    assert rebuilt.schema_version == SCHEMA_VERSION and rebuilt.analyzer and rebuilt.collection != legacy
    assert not reopened.client.has_collection(legacy) and reopened.index("Old", "m").count() == 3
    (hits,) = reopened.index("Old", "m").search(SearchMode.KEYWORD, old_rows[0].vector[None, :], ["swept wing"], 3)
    assert hits[0].document == "wing.txt"
    reopened.index("Old", "m").delete_document("Résumé.txt")
    assert reopened.index("Old", "m").count() == 2
    reopened.close()


@pytest.mark.skipif(lite_version()[0] >= 3, reason="Milvus Lite 2.x file-name rules")
@pytest.mark.parametrize("bad", ["my database.db", "x" * 40 + ".db", "potion.sqlite"])
def test_a_lite_file_name_the_engine_cannot_take_gets_one_message(isolated_env, monkeypatch, bad):
    monkeypatch.setenv("POTION_DB_PATH", str(isolated_env / bad))
    with pytest.raises(StoreConfigError, match="POTION_DB_PATH"):
        MilvusStore()


def test_the_registry_is_not_listed_as_a_library(milvus):
    milvus.catalog.ensure(meta())
    assert REGISTRY in milvus.client.list_collections()
    assert [m.library for m in milvus.catalog.collections()] == ["Lib"]


def test_a_server_without_bm25_refuses_keyword_search_naming_its_version_and_dense_works(milvus):
    from core.storage.profile import profile_of_server

    milvus.profile = profile_of_server("v2.3.5")  # what a Milvus 2.3 standalone reports; it has no BM25 function
    made = milvus.catalog.ensure(meta())
    assert made.analyzer == "" and not made.has_keyword
    milvus.index("Lib", "m").write(rows("a.txt", 2))
    for mode in (SearchMode.KEYWORD, SearchMode.HYBRID):
        with pytest.raises(KeywordUnavailableError, match=r"Milvus v2\.3\.5 .* has no BM25"):
            milvus.index("Lib", "m").search(mode, np.ones((1, DIM), dtype=np.float32), ["chunk"], 3)
    assert len(milvus.index("Lib", "m").search(SearchMode.DENSE, np.ones((1, DIM)), ["chunk"], 3)[0]) == 2


def test_warm_up_loads_every_collection_of_a_reopened_database_in_the_background(isolated_env):
    store = MilvusStore()
    for model in ("m", "n"):
        store.catalog.ensure(meta(model=model))
        store.index("Lib", model).write(rows("a.txt", 2))
    store.close()
    reopened = MilvusStore()
    assert reopened.state.loaded == set()  # a reopened database starts with nothing loaded
    reopened.warm_up().join()
    assert reopened.state.loaded == {m.collection for m in reopened.catalog.collections()}
    assert len(reopened.catalog.names()) == 1
    reopened.close()


def test_a_listing_taken_in_the_middle_of_a_write_does_not_outlive_it(milvus, monkeypatch):
    """write() holds no store lock across engine calls, so a listing can run between its batches."""
    from core.storage import milvus_index as milvus_module

    milvus.catalog.ensure(meta())
    monkeypatch.setattr(milvus_module, "WRITE_BATCH", 2)
    insert, seen = milvus.client.insert, []

    def insert_then_list(*args, **kwargs):
        result = insert(*args, **kwargs)
        if not seen:  # after the first batch: a partial listing goes into the cache
            seen.append(milvus.index("Lib", "m").documents())
        return result

    monkeypatch.setattr(milvus.client, "insert", insert_then_list)
    milvus.index("Lib", "m").write([r for d in range(3) for r in rows(f"d{d}.txt", 1, seed=d)], new=True)
    assert len(seen[0]) < 3  # the listing really was partial
    assert [d.name for d in milvus.index("Lib", "m").documents()] == ["d0.txt", "d1.txt", "d2.txt"]


def test_a_schema_2_cosine_index_keeps_working_and_rebuilds_to_unit_vectors(isolated_env):
    """Schema 2 ranked raw vectors under COSINE; schema 3 stores unit vectors under IP, which Lite scans faster."""
    from core.storage.records import to_record as _to_record
    from core.storage.schema import chunk_schema

    store = MilvusStore()
    old = collection_name("Two", "m", version=2)
    schema, index = chunk_schema(store.client, DIM, "standard", metric="COSINE")
    store.client.create_collection(old, schema=schema, index_params=index)
    written = rows("wing.txt", 2, texts=TEXTS["wing.txt"]) + rows("heat.txt", 2, seed=5, texts=TEXTS["heat.txt"])
    store.client.insert(old, [_to_record(r, True, r.vector * 3) for r in written])  # not unit length
    store.client.flush(old)
    registered = {**meta("Two").__dict__, "collection": old, "analyzer": "standard", "schema_version": 2}
    registered.pop("metric")  # schema 2 recorded no metric
    store.registry._upsert("Two", "m", 2, json.dumps(registered))
    store.close()

    reopened = MilvusStore()
    found = reopened.catalog.find("Two", "m")
    assert (found.schema_version, found.metric) == (2, "COSINE")
    query = written[2].vector[None, :]
    (before,) = reopened.index("Two", "m").dense(query, 4)
    assert before[0].chunk_id == written[2].id and before[0].score == pytest.approx(1.0, abs=1e-5)
    rebuilt = reopened.index("Two", "m").rebuild()
    assert (rebuilt.schema_version, rebuilt.metric) == (SCHEMA_VERSION, "IP")
    stored = reopened.client.query(rebuilt.collection, filter="chunk >= 0", output_fields=["vector"])
    assert np.linalg.norm(np.asarray([r["vector"] for r in stored]), axis=1) == pytest.approx(np.ones(4), abs=1e-5)
    (after,) = reopened.index("Two", "m").dense(query, 4)
    assert [h.chunk_id for h in after] == [h.chunk_id for h in before]
    assert [h.score for h in after] == pytest.approx([h.score for h in before], abs=1e-5)
    reopened.close()
