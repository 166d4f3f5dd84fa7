"""Two stores on one server, as two processes sharing `python -m core serve` are: what one writes, the other
sees on its next read, however much it had cached."""

from __future__ import annotations

import pytest

from core.embed.loading import load_embedder
from core.ingest.pipeline import ingest
from core.storage.milvus import MilvusStore
from core.types import Judgment
from tests.conftest import BUNDLED_SMALL, SEED_DOCS
from tests.test_server import milvus_server  # noqa: F401 - the fixture, shared


@pytest.fixture
def two_stores(milvus_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MILVUS_URI", milvus_server)
    writer, reader = MilvusStore(), MilvusStore()
    reader.revalidate_every = 0.0  # check on every read, so the test needs no waiting
    yield writer, reader
    writer.close()
    reader.close()


def test_a_store_sees_what_another_process_wrote_through_the_server(two_stores, tmp_path):
    writer, reader = two_stores
    assert reader.catalog.names() == []  # cached empty
    for i, text in enumerate(SEED_DOCS):
        (tmp_path / f"d{i}.txt").write_text(text, encoding="utf-8")
    embedder = load_embedder(BUNDLED_SMALL)
    ingest(sorted(tmp_path.glob("d*.txt")), "Shared", embedder, writer)

    assert reader.catalog.names() == ["Shared"]
    assert reader.catalog.find("Shared", BUNDLED_SMALL) == writer.catalog.find("Shared", BUNDLED_SMALL)
    assert reader.index("Shared", BUNDLED_SMALL).count() == writer.index("Shared", BUNDLED_SMALL).count() > 0
    assert [d.name for d in reader.index("Shared", BUNDLED_SMALL).documents()] == ["d0.txt", "d1.txt", "d2.txt"]

    writer.index("Shared", BUNDLED_SMALL).delete_document("d1.txt")
    writer.index("Shared", BUNDLED_SMALL).flush()
    assert [d.name for d in reader.index("Shared", BUNDLED_SMALL).documents()] == ["d0.txt", "d2.txt"]
    assert reader.index("Shared", BUNDLED_SMALL).count_documents() == 2

    writer.catalog.set_setting("Shared", "hybrid_default", {"weight": 0.3})
    assert reader.catalog.settings("Shared")["hybrid_default"] == {"weight": 0.3}
    judgment = Judgment("Shared", "wing", "d0.txt", 1, chunk=0, model=BUNDLED_SMALL)
    writer.judgments.put(judgment)
    assert [j.document for j in reader.judgments.list("Shared")] == ["d0.txt"]

    writer.catalog.drop("Shared")
    assert reader.catalog.names() == [] and reader.catalog.find("Shared", BUNDLED_SMALL) is None


def test_between_checks_a_store_answers_from_its_cache(two_stores, tmp_path):
    writer, reader = two_stores
    reader.revalidate_every = 3600.0  # a TTL no test outlives: reads in between are served from the cache
    reader.catalog.names()
    writer.catalog.create("Later")
    assert reader.catalog.names() == []  # not yet checked again
    reader.revalidate_every = 0.0
    assert reader.catalog.names() == ["Later"]


def test_a_stale_store_adopts_an_index_another_process_just_made_and_never_drops_its_rows(two_stores):
    from tests.test_store import meta, rows

    writer, late = two_stores
    late.revalidate_every = 3600.0  # its caches stay as they are unless it decides to look again
    assert late.catalog.find("Lib", "m") is None  # cached: no such index
    writer.catalog.ensure(meta())
    writer.index("Lib", "m").write(rows("a.txt", 4))
    writer.index("Lib", "m").flush()
    # The late store still believes there is no index, finds a collection it does not know, and must not take
    # it for the debris of an interrupted create: it is the writer's, with the writer's rows in it.
    adopted = late.catalog.ensure(meta())
    assert adopted.collection == writer.catalog.find("Lib", "m").collection
    assert writer.index("Lib", "m").count() == late.index("Lib", "m").count() == 4


def test_two_stores_making_one_index_at_once_both_write_into_it(two_stores):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from tests.test_store import meta, rows

    start = threading.Barrier(2)

    def make_and_write(store, document, seed):
        start.wait()  # both find no index, then race to create it
        store.catalog.ensure(meta())
        return store.index("Lib", "m").write(rows(document, 5, seed=seed))

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = [pool.submit(make_and_write, s, f"{i}.txt", i) for i, s in enumerate(two_stores)]
        assert [d.result() for d in done] == [5, 5]
    writer, reader = two_stores
    writer.index("Lib", "m").flush()
    assert reader.index("Lib", "m").count() == 10 and [d.name for d in reader.index("Lib", "m").documents()] == [
        "0.txt",
        "1.txt",
    ]
    assert [lib.name for lib in reader.libraries()] == ["Lib"]
