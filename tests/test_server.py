"""The same code against a Milvus server, selected by MILVUS_URI (here: Milvus Lite's gRPC server)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from core.ingest import ingest
from core.models import load_embedder
from core.search import search
from core.storage.milvus import MilvusStore
from tests.conftest import BUNDLED_SMALL, SEED_DOCS
from tests.servers import free_port, serve


@pytest.fixture
def milvus_server(tmp_path: Path):
    port = free_port()
    command = [Path(sys.executable).parent / "milvus-lite", "server", "--data-dir", tmp_path / "srv", "--port", port]
    with serve(command, ready_text="listening"):
        yield f"http://127.0.0.1:{port}"


def test_milvus_uri_points_ingest_and_search_at_a_server(milvus_server, tmp_path, monkeypatch, isolated_env):
    monkeypatch.setenv("MILVUS_URI", milvus_server)
    for i, text in enumerate(SEED_DOCS):
        (tmp_path / f"d{i}.txt").write_text(text, encoding="utf-8")
    store = MilvusStore()
    assert not store.settings.is_lite
    embedder = load_embedder(BUNDLED_SMALL)
    result = ingest(sorted(tmp_path.glob("d*.txt")), "remote", embedder, store)
    assert result.count("indexed") == 3
    assert search("When was artificial intelligence founded", "remote", embedder, store).hits[0].document == "d0.txt"
    store.close()
    assert not any(isolated_env.glob("*.db")), "nothing may be written to the local Lite path"
    assert os.environ["MILVUS_URI"] == milvus_server
