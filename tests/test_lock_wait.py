"""No store lock is held across an engine scan, copy or flush: a search from another session goes on while one
session lists documents, reads rows or vectors, flushes or rebuilds. Each engine call is held inside the engine
(waiting on an Event) while a search runs; the timeouts only bound a failure, they never synchronise."""

from __future__ import annotations

import json
import threading

import pytest

from core.storage.milvus import MilvusStore, collection_name
from tests.test_store import DIM, meta, rows

GUARD_S = 60  # a failing run waits this long instead of hanging; a passing one never does


def _schema_2_index(store: MilvusStore) -> None:
    """A registered schema-2 index (COSINE, raw vectors), which `rebuild` copies into the current schema."""
    from core.storage.records import to_record
    from core.storage.schema import chunk_schema

    old = collection_name("Lib", "m", version=2)
    schema, index = chunk_schema(store.client, DIM, "standard", metric="COSINE")
    store.client.create_collection(old, schema=schema, index_params=index)
    store.client.insert(old, [to_record(r, True, r.vector) for r in rows("a.txt", 3)])
    store.client.flush(old)
    registered = {**meta().__dict__, "collection": old, "analyzer": "standard", "schema_version": 2}
    registered.pop("metric")
    store.registry._upsert("Lib", "m", 2, json.dumps(registered))


OPERATIONS = {  # what a session does -> the engine call it spends its time in
    "documents": ("query_iterator", lambda index: index.documents()),
    "chunk_rows": ("query_iterator", lambda index: index.chunk_rows()),
    "chunk_vectors": ("query_iterator", lambda index: index.chunk_vectors()),
    "count": ("query", lambda index: index.count()),
    "flush": ("flush", lambda index: index.flush()),
    "rebuild": ("query_iterator", lambda index: index.rebuild()),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_search_completes_while_another_session_is_inside_a_long_engine_call(isolated_env, operation):
    store = MilvusStore()
    if operation == "rebuild":
        _schema_2_index(store)
        store.close()
        store = MilvusStore()
    else:
        store.catalog.ensure(meta())
        store.index("Lib", "m").write(rows("a.txt", 3))
    index = store.index("Lib", "m")
    query = rows("a.txt", 1)[0].vector[None, :]
    assert index.dense(query, 1)[0]  # loaded and answering before the engine is held
    engine_call, run = OPERATIONS[operation]
    entered, release = threading.Event(), threading.Event()
    original = getattr(store.client, engine_call)

    def held(*args, **kwargs):
        if not entered.is_set() and threading.current_thread() is slow:
            entered.set()
            release.wait(GUARD_S)
        return original(*args, **kwargs)

    setattr(store.client, engine_call, held)
    slow = threading.Thread(target=run, args=(index,), name=f"slow-{operation}")
    slow.start()
    try:
        assert entered.wait(GUARD_S), f"{operation} never reached the engine"
        found: list = []
        searcher = threading.Thread(target=lambda: found.append(index.dense(query, 1)), daemon=True)
        searcher.start()
        searcher.join(GUARD_S)
        assert found and found[0][0], f"a search waited for another session's {operation}"
        assert not release.is_set() and slow.is_alive()  # the search really ran while the engine was held
    finally:
        release.set()
        slow.join(GUARD_S)
        store.close()
