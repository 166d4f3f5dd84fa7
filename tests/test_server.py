"""The same code against a Milvus server, selected by MILVUS_URI: `python -m core serve` runs the pinned Lite engine."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from core.embed.loading import load_embedder
from core.errors import StoreConfigError
from core.ingest.pipeline import ingest
from core.search.query import search
from core.storage.milvus import MilvusStore
from core.types import SearchMode
from tests.conftest import BUNDLED_SMALL, SEED_DOCS
from tests.servers import free_port, serve, serve_database


@pytest.fixture
def milvus_server(tmp_path: Path):
    """A server of this test's own, on an empty database."""
    with serve_database(tmp_path / "srv" / "served.db") as uri:
        yield uri


def test_milvus_uri_points_ingest_and_every_search_mode_at_a_server(milvus_server, tmp_path, monkeypatch, isolated_env):
    monkeypatch.setenv("MILVUS_URI", milvus_server)
    for i, text in enumerate(SEED_DOCS):
        (tmp_path / f"d{i}.txt").write_text(text, encoding="utf-8")
    store = MilvusStore()
    assert not store.settings.is_lite
    embedder = load_embedder(BUNDLED_SMALL)
    result = ingest(sorted(tmp_path.glob("d*.txt")), "remote", embedder, store)
    assert result.count("indexed") == 3
    for mode in SearchMode:
        hits = search("When was artificial intelligence founded", "remote", embedder, store, mode=mode).hits
        assert hits[0].document == "d0.txt", mode
    store.close()
    assert not any(isolated_env.glob("*.db")), "nothing may be written to the local Lite path"
    assert os.environ["MILVUS_URI"] == milvus_server


def test_stopping_serve_stops_the_engine_it_started(tmp_path):
    command = [sys.executable, "-m", "core", "serve", "--db", tmp_path / "stop.db", "--port", free_port()]
    with serve(command, ready_text="listening on", cwd=Path(__file__).resolve().parents[1]) as server:
        engines = _descendants(server.pid)
        assert engines, "serve runs the engine as a child process"
    # serve() above sent SIGTERM and waited: nothing it started may outlive it, holding the database
    assert [pid for pid in engines if _running(pid)] == []


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        children = Path(f"/proc/{todo.pop()}/task")
        for task in children.iterdir() if children.exists() else []:
            kids = [int(k) for k in (task / "children").read_text().split()]
            found += kids
            todo += kids
    return found


def _running(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def test_a_server_that_does_not_answer_gets_one_message(monkeypatch):
    monkeypatch.setenv("MILVUS_URI", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StoreConfigError, match="Cannot connect to Milvus at http://127.0.0.1"):
        MilvusStore()
