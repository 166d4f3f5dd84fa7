"""The engine kept warm across restarts of the app (core.storage.keeper, issue 18): the app starts it, a restarted
app and the CLI find it with the library still loaded, it comes back when killed, and it ends once idle or told."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.config import PROJECT_ROOT, load_settings
from core.embed.loading import load_embedder
from core.errors import StoreLockedError
from core.search.query import search
from core.storage import keeper, open_store
from core.storage.connection import lite_lock_held
from tests.conftest import BUNDLED_SMALL, SEED_DOCS, index_texts
from tests.test_engine_restart import hold_lock

SEED = {f"doc{i}.txt": text for i, text in enumerate(SEED_DOCS)}
QUERY = "Where was Alan Turing born?"
GONE_WITHIN_S = 60.0


@pytest.fixture
def db(isolated_env: Path, monkeypatch: pytest.MonkeyPatch):
    """The test's database, with the app's keeping on (the suite keeps none); its kept engine stopped after."""
    if not keeper.keeps_engines():
        pytest.skip("Milvus Lite 3.x reopens a database at once: no engine is kept")
    monkeypatch.setenv("POTION_KEEP_ENGINE_MINUTES", "30")
    path = isolated_env / "test.db"
    yield path
    keeper.stop(path)


def wait_gone(pid: int) -> None:
    """Return once process `pid` has ended (its pidfd becomes readable), failing after GONE_WITHIN_S."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        assert select.select([handle], [], [], GONE_WITHIN_S)[0], f"process {pid} still alive"
    finally:
        os.close(handle)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except OSError:  # ended meanwhile
                continue
    return found


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_app_opens_its_database_through_an_engine_it_keeps(db):
    import streamlit as st

    from pages import shared

    st.cache_resource.clear()
    opened = shared.store(load_settings())
    try:
        kept = keeper.find(db)
        assert kept is not None and opened.uri == kept.uri
        # Still Lite 2.5's one engine, which runs one call at a time: pages say a load holds it rather than hang.
        assert opened.load_blocks_engine
    finally:
        opened.close()
        st.cache_resource.clear()


def test_a_restarted_app_finds_its_library_loaded_in_the_engine_kept_by_the_first(db, tmp_path):
    first = open_store(load_settings(), keep_engine=True)
    index_texts(first, tmp_path / "docs", "Papers", BUNDLED_SMALL, SEED)
    embedder = load_embedder(BUNDLED_SMALL)
    before = [(h.document, h.chunk) for h in search(QUERY, "Papers", embedder, first, top_k=3).hits]
    kept = keeper.find(db)
    assert kept is not None and first.uri == kept.uri and kept.pid != os.getpid()
    first.close()  # the app's process ends; its engine does not

    again = open_store(load_settings(), keep_engine=True)
    try:
        assert keeper.find(db) == kept  # the same engine, found by its file
        collection = again.catalog.require("Papers", BUNDLED_SMALL).collection
        assert str(again.client.get_load_state(collection)["state"]) == "Loaded"  # before anything asked to load it
        after = [(h.document, h.chunk) for h in search(QUERY, "Papers", embedder, again, top_k=3).hits]
        assert after == before
    finally:
        again.close()


def test_the_cli_joins_the_kept_engine_where_the_database_would_be_locked(db, tmp_path):
    app = open_store(load_settings(), keep_engine=True)
    try:
        index_texts(app, tmp_path / "docs", "Papers", BUNDLED_SMALL, SEED)
        listed = cli("libraries", "--json")
        assert listed.returncode == 0, listed.stderr
        assert "Papers" in [entry["name"] for entry in json.loads(listed.stdout)]
        status = cli("engine", "--json")  # and names the engine the app started
        assert json.loads(status.stdout)["kept"]["pid"] == keeper.find(db).pid
    finally:
        app.close()


def test_a_killed_kept_engine_is_started_again_at_the_same_address_and_searches(db, tmp_path):
    store = open_store(load_settings(), keep_engine=True)
    try:
        index_texts(store, tmp_path / "docs", "Papers", BUNDLED_SMALL, SEED)
        embedder = load_embedder(BUNDLED_SMALL)
        before = [(h.document, h.chunk) for h in search(QUERY, "Papers", embedder, store, top_k=3).hits]
        killed = keeper.find(db)
        engines = children(killed.pid)
        assert engines, "the kept engine's process runs no engine"
        os.kill(killed.pid, signal.SIGKILL)  # its engine ends with it: the kernel frees the lock the engine watches
        for pid in [killed.pid, *engines]:
            wait_gone(pid)

        after = [(h.document, h.chunk) for h in search(QUERY, "Papers", embedder, store, top_k=3).hits]

        assert after == before
        revived = keeper.find(db)
        assert revived is not None and revived.pid != killed.pid and revived.uri == killed.uri
        assert store.engine_restarts == 1
    finally:
        store.close()


def test_a_kept_engine_nobody_uses_ends_itself_and_frees_the_database(db):
    lease = keeper.Lease(db)  # held while it starts, as every client does, so it cannot end before it is seen
    kept = keeper.ensure(db, idle_minutes=0.01)  # 0.6 s without a lease
    lease.release()
    wait_gone(kept.pid)
    assert keeper.find(db) is None and not keeper.info_path(db).exists()
    assert not lite_lock_held(db)  # the engine closed the database: a process of its own may open it now


def test_two_processes_opening_at_once_share_one_kept_engine(db):
    found: list[keeper.KeptEngine] = []
    threads = [threading.Thread(target=lambda: found.append(keeper.ensure(db, 30))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 2 and found[0] == found[1]


def test_with_keeping_off_the_app_opens_the_database_itself(isolated_env, monkeypatch):
    monkeypatch.setenv("POTION_KEEP_ENGINE_MINUTES", "0")
    db = isolated_env / "test.db"
    store = open_store(load_settings(), keep_engine=True)
    try:
        assert store.uri == str(db) and keeper.find(db) is None and not keeper.info_path(db).exists()
    finally:
        store.close()


def test_a_database_open_in_another_process_is_not_kept_and_says_what_to_do(db):
    holder = hold_lock(db.parent / f".{db.name}.lock")  # a CLI run with keeping off, holding the database itself
    try:
        with pytest.raises(StoreLockedError, match="open in another process.*POTION_KEEP_ENGINE_MINUTES=0"):
            open_store(load_settings(), keep_engine=True)
        assert keeper.find(db) is None
    finally:
        holder.communicate("")


def test_the_engine_command_shows_starts_and_stops_the_kept_engine(db):
    assert json.loads(cli("engine", "--json").stdout) == {"kept": None}
    started = cli("engine", "--start", "--idle-minutes", "5", "--json")
    assert started.returncode == 0, started.stderr
    kept = json.loads(started.stdout)["kept"]
    assert kept["idle_minutes"] == 5 and keeper.find(db).pid == kept["pid"]
    assert f"kept running by process {kept['pid']}" in cli("engine").stdout

    stopped = cli("engine", "--stop")

    assert stopped.returncode == 0 and f"Stopped the kept engine of {db} (process {kept['pid']})" in stopped.stdout
    assert keeper.find(db) is None and not lite_lock_held(db)


# --- the idle rule ------------------------------------------------------------------------------------------------


def test_the_idle_clock_counts_from_the_last_moment_a_client_held_a_lease():
    clock = keeper.IdleClock(idle_minutes=1, now=0)
    assert not clock.expired(0, now=59) and clock.expired(0, now=60)  # nobody ever came
    clock = keeper.IdleClock(idle_minutes=1, now=0)
    assert not clock.expired(1, now=50)  # in use: the clock stops
    assert not clock.expired(1, now=500)
    assert not clock.expired(0, now=501) and not clock.expired(0, now=560) and clock.expired(0, now=561)


def test_an_open_store_holds_a_lease_so_its_engine_is_never_idle_under_it(db):
    lease = keeper.Lease(db)
    kept = keeper.ensure(db, idle_minutes=0.01)
    store = open_store(load_settings())  # joins it, as the CLI does, and takes a lease of its own
    lease.release()
    try:
        # The engine's own test of idleness: it cannot lock the clients file while a lease is held, however long the
        # store stays idle (gRPC may drop an idle connection; the lease stays).
        assert keeper.idle_lock(db) is None
        assert store.catalog.names() == [] and keeper.find(db) == kept
    finally:
        store.close()
    wait_gone(kept.pid)  # and it ends once the last lease is gone


def test_an_engine_started_again_by_another_process_is_noticed_and_its_libraries_load_again(db, tmp_path):
    store = open_store(load_settings(), keep_engine=True)
    try:
        index_texts(store, tmp_path / "docs", "Papers", BUNDLED_SMALL, SEED)
        embedder = load_embedder(BUNDLED_SMALL)
        before = [(h.document, h.chunk) for h in search(QUERY, "Papers", embedder, store, top_k=3).hits]
        first = keeper.stop(db)  # `engine --stop`, then another process starts the next engine at the same socket
        second = keeper.ensure(db, 30)
        assert second.pid != first.pid and second.uri == first.uri

        after = [(h.document, h.chunk) for h in search(QUERY, "Papers", embedder, store, top_k=3).hits]

        assert after == before and store.engine_restarts == 1
    finally:
        store.close()


def test_serve_refused_a_database_open_elsewhere_leaves_that_process_its_lock(isolated_env):
    db = isolated_env / "test.db"
    lock_file = db.parent / f".{db.name}.lock"
    holder = hold_lock(lock_file)
    try:
        refused = cli("serve", "--db", str(db), "--port", "0")
        assert refused.returncode != 0 and "another process has it open" in refused.stderr
        # milvus_lite deletes the lock file after a refused start; the holder would then lose the database to the next
        assert lock_file.exists() and lite_lock_held(db)
    finally:
        holder.communicate("")
