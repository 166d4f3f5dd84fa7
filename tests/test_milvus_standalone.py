"""The same code against a genuine Milvus 2.3 standalone (PyPI package `milvus`, its `milvus-server`), run in a
venv of its own on free localhost ports: ingest, search, re-ingest, delete, sharing between stores, and the
features 2.3 lacks (BM25) refused with a message rather than crashed into.

The venv is made once under .venv-milvus-server (POTION_MILVUS_SERVER names an installed milvus-server
instead). Without the package index this module is skipped, saying why."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import KeywordUnavailableError
from core.ingest import ingest
from core.models import load_embedder
from core.search import search
from core.storage.milvus import MilvusStore
from core.types import DocumentStatus, SearchMode
from tests.conftest import BUNDLED_SMALL, SEED_DOCS, SEED_QUERIES
from tests.servers import free_port, serve

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "milvus==2.3.5"
VENV = ROOT / ".venv-milvus-server"
READY = "Welcome to use Milvus!"  # printed once the server's health check answers OK


def server_executable() -> Path:
    named = os.environ.get("POTION_MILVUS_SERVER")
    if named:
        return Path(named)
    executable = VENV / "bin" / "milvus-server"
    if not executable.exists():
        made = subprocess.run([sys.executable, "-m", "venv", str(VENV)], capture_output=True, text=True)
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        installed = made.returncode == 0 and subprocess.run([*pip, PACKAGE], capture_output=True, text=True)
        if not installed or installed.returncode != 0:
            pytest.skip(
                f"could not install {PACKAGE} into {VENV}: {(installed.stderr if installed else made.stderr)[-300:]}"
            )
    return executable


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data, port = tmp_path_factory.mktemp("milvus-standalone"), free_port()
    command = [str(server_executable()), "--data", str(data), "--proxy-port", str(port)]
    # Its own session: milvus-server starts the real server as a child, and teardown must stop both. The server's
    # graceful stop can outlive milvus-server by minutes, holding etcd's fixed peer port (2380) against the next
    # run, so the whole group is killed: its data dir is thrown away anyway.
    with serve(command, READY, start_new_session=True) as server:
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)


@pytest.fixture
def on_standalone(standalone, monkeypatch) -> str:
    monkeypatch.setenv("MILVUS_URI", standalone)
    return standalone


def test_ingest_search_reingest_and_delete_on_milvus_2_3(on_standalone, tmp_path):
    for i, text in enumerate(SEED_DOCS):
        (tmp_path / f"d{i}.txt").write_text(text, encoding="utf-8")
    store = MilvusStore()
    try:
        assert store.server_version.startswith("v2.3") and not store.engine_has_bm25
        embedder = load_embedder(BUNDLED_SMALL)
        library = f"standalone-{tmp_path.name}"
        first = ingest(sorted(tmp_path.glob("d*.txt")), library, embedder, store)
        assert first.count(DocumentStatus.INDEXED) == 3 and not first.failures
        assert store.find(library, BUNDLED_SMALL).analyzer == ""  # no BM25 field on 2.3
        hits = search(SEED_QUERIES[0], library, embedder, store, 3).hits
        assert hits[0].document == "d0.txt"
        again = ingest(sorted(tmp_path.glob("d*.txt")), library, embedder, store)
        assert again.count(DocumentStatus.UNCHANGED) == 3 and again.chunks_added == 0
        store.delete_document(library, BUNDLED_SMALL, "d0.txt")
        store.flush(library, BUNDLED_SMALL)
        assert [d.name for d in store.documents(library, BUNDLED_SMALL)] == ["d1.txt", "d2.txt"]
        assert store.count(library, BUNDLED_SMALL) == 2

        for mode in (SearchMode.KEYWORD, SearchMode.HYBRID):  # explained, not crashed into
            with pytest.raises(KeywordUnavailableError, match="v2.3"):
                search(SEED_QUERIES[0], library, embedder, store, 3, mode=mode)
        assert store.drop_library(library) == 1
    finally:
        store.close()


def test_a_second_store_sees_what_the_first_wrote_on_milvus_2_3(on_standalone, tmp_path):
    writer, reader = MilvusStore(), MilvusStore()
    reader.revalidate_every = 0.0
    try:
        library = f"shared-{tmp_path.name}"
        assert library not in reader.library_names()
        (tmp_path / "a.txt").write_text(SEED_DOCS[1], encoding="utf-8")
        ingest([tmp_path / "a.txt"], library, load_embedder(BUNDLED_SMALL), writer)
        assert library in reader.library_names()
        assert [d.name for d in reader.documents(library, BUNDLED_SMALL)] == ["a.txt"]
        writer.drop_library(library)
        assert library not in reader.library_names()
    finally:
        writer.close()
        reader.close()


def test_doctor_names_the_server_and_its_version(on_standalone, capsys):
    import json

    from core.cli import EXIT_OK, main

    assert main(["doctor", "--json"]) == EXIT_OK
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert on_standalone in checks["engine"]["detail"] and "server v2.3.5" in checks["database"]["detail"]
