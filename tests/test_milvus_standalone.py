"""The same code against a genuine Milvus 2.3 standalone (PyPI package `milvus`, its `milvus-server`), run in a
venv of its own on a free localhost port: ingest, search, re-ingest, delete, sharing between stores, and the
features 2.3 lacks (BM25) refused with a message rather than crashed into.
The store contract runs there too (tests/test_store.py); the server is made by tests/servers.py."""

from __future__ import annotations

import pytest

from core.embed.loading import load_embedder
from core.errors import KeywordUnavailableError
from core.ingest.pipeline import ingest
from core.search.query import search
from core.storage.milvus import MilvusStore
from core.types import DocumentStatus, SearchMode
from tests.conftest import BUNDLED_SMALL, SEED_DOCS, SEED_QUERIES

pytestmark = pytest.mark.server  # run by scripts/test-servers.sh, not the main suite: see there


@pytest.fixture
def on_standalone(standalone_uri, monkeypatch) -> str:
    monkeypatch.setenv("MILVUS_URI", standalone_uri)
    return standalone_uri


def test_ingest_search_reingest_and_delete_on_milvus_2_3(on_standalone, tmp_path):
    for i, text in enumerate(SEED_DOCS):
        (tmp_path / f"d{i}.txt").write_text(text, encoding="utf-8")
    store = MilvusStore()
    try:
        assert store.profile.version.startswith("v2.3") and not store.profile.has_bm25
        embedder = load_embedder(BUNDLED_SMALL)
        library = f"standalone-{tmp_path.name}"
        first = ingest(sorted(tmp_path.glob("d*.txt")), library, embedder, store)
        assert first.count(DocumentStatus.INDEXED) == 3 and not first.failures
        assert store.catalog.find(library, BUNDLED_SMALL).analyzer == ""  # no BM25 field on 2.3
        hits = search(SEED_QUERIES[0], library, embedder, store, 3).hits
        assert hits[0].document == "d0.txt"
        again = ingest(sorted(tmp_path.glob("d*.txt")), library, embedder, store)
        assert again.count(DocumentStatus.UNCHANGED) == 3 and again.chunks_added == 0
        store.index(library, BUNDLED_SMALL).delete_document("d0.txt")
        store.index(library, BUNDLED_SMALL).flush()
        assert [d.name for d in store.index(library, BUNDLED_SMALL).documents()] == ["d1.txt", "d2.txt"]
        assert store.index(library, BUNDLED_SMALL).count() == 2

        for mode in (SearchMode.KEYWORD, SearchMode.HYBRID):  # explained, not crashed into
            with pytest.raises(KeywordUnavailableError, match="v2.3"):
                search(SEED_QUERIES[0], library, embedder, store, 3, mode=mode)
        assert store.catalog.drop(library) == 1
    finally:
        store.close()


def test_a_second_store_sees_what_the_first_wrote_on_milvus_2_3(on_standalone, tmp_path):
    writer, reader = MilvusStore(), MilvusStore()
    reader.revalidate_every = 0.0
    try:
        library = f"shared-{tmp_path.name}"
        assert library not in reader.catalog.names()
        (tmp_path / "a.txt").write_text(SEED_DOCS[1], encoding="utf-8")
        ingest([tmp_path / "a.txt"], library, load_embedder(BUNDLED_SMALL), writer)
        assert library in reader.catalog.names()
        assert [d.name for d in reader.index(library, BUNDLED_SMALL).documents()] == ["a.txt"]
        writer.catalog.drop(library)
        assert library not in reader.catalog.names()
    finally:
        writer.close()
        reader.close()


def test_doctor_names_the_server_and_its_version(on_standalone, capsys):
    import json

    from core.cli import EXIT_OK, main

    assert main(["doctor", "--json"]) == EXIT_OK
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert on_standalone in checks["engine"]["detail"] and "server v2.3.5" in checks["database"]["detail"]
