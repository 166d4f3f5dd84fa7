"""A server that goes away and comes back: while `python -m core serve` is gone, a client's reads and writes each
fail with one sentence naming the server's URI; once it is back on the same address, the same store answers again,
with no reopening."""

from __future__ import annotations

import os
import select
import sys
from pathlib import Path

import pytest

from core.embed.loading import load_embedder
from core.errors import ServerUnavailableError
from core.search.query import search
from core.storage.milvus import MilvusStore
from core.types import SearchMode
from tests.conftest import BUNDLED_SMALL, SEED_DOCS, index_texts
from tests.servers import ROOT, free_port, serve

pytestmark = pytest.mark.server

SEED = {f"doc{i}.txt": text for i, text in enumerate(SEED_DOCS)}
QUERY = "Where was Alan Turing born?"


def engine_pid(parent: int) -> int:
    """The Milvus Lite engine `serve` (pid `parent`) started."""
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:  # ended meanwhile
            continue
        if stat and int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            return int(entry.name)
    raise AssertionError(f"`serve` ({parent}) has no engine")


def test_a_client_names_the_gone_server_in_one_sentence_and_reconnects_once_it_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    port = free_port()
    command = [sys.executable, "-m", "core", "serve", "--db", tmp_path / "served.db", "--port", port]
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MILVUS_URI", uri)
    embedder = load_embedder(BUNDLED_SMALL)

    with serve(command, ready_text="listening on", cwd=ROOT) as server:
        store = MilvusStore()
        index_texts(store, tmp_path / "docs", "Papers", BUNDLED_SMALL, SEED)
        before = search(QUERY, "Papers", embedder, store, top_k=3)
        engine = os.pidfd_open(engine_pid(server.pid))
        server.kill()  # SIGKILL: its engine ends with it (it watches the lock `serve` held)
        server.wait()
        assert select.select([engine], [], [], 30)[0], "the served engine outlived `serve`"
        os.close(engine)

    try:
        for action in (
            lambda: search(QUERY, "Papers", embedder, store),
            lambda: search(QUERY, "Papers", BUNDLED_SMALL, store, mode=SearchMode.KEYWORD),
            lambda: store.catalog.create("Another"),
        ):
            with pytest.raises(ServerUnavailableError) as raised:
                action()
            message = str(raised.value)
            assert uri in message and "not answering" in message
            assert "\n" not in message and message.count(". ") == 0  # one sentence

        with serve(command, ready_text="listening on", cwd=ROOT):  # back, on the same address and database
            after = search(QUERY, "Papers", embedder, store, top_k=3)
            assert [(h.document, h.chunk) for h in after.hits] == [(h.document, h.chunk) for h in before.hits]
            assert store.index("Papers", BUNDLED_SMALL).count_documents() == len(SEED)
            store.catalog.create("Another")
            assert store.catalog.names() == ["Another", "Papers"]
    finally:
        store.close()
