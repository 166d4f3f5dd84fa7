"""The embedded engine comes back by itself: the Milvus Lite `milvus` process is SIGKILLed (what the OOM killer
does) under an open store, and the next operation starts it again on the same file. Reads are retried once, an
interrupted write says in one line that a re-run converges (and it does, exactly), a new store in the same process
works, a page says so once per session, and a restart that cannot happen says why."""

from __future__ import annotations

import functools
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.embed.loading import load_embedder
from core.errors import EngineRestartedError, EngineRestartFailedError
from core.ingest import workers
from core.ingest.pipeline import ingest
from core.search.query import search
from core.storage.milvus import MilvusStore
from tests.apptest_helpers import SEARCH, hit_headers, new_app, no_exception, open_page, pick_model, values
from tests.conftest import BUNDLED_SMALL, SEED_DOCS, index_texts

SEED = {f"doc{i}.txt": text for i, text in enumerate(SEED_DOCS)}
QUERY = "Where was Alan Turing born?"


def engine_pid(db: Path) -> int:
    """The pid of the `milvus` engine this process started for `db` (milvus_lite passes the file as an argument)."""
    wanted = str(db.resolve()).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # ended meanwhile
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and command[0].endswith(b"/milvus") and wanted in command:
            return int(entry.name)
    raise AssertionError(f"no milvus engine of this process serves {db}")


def kill_engine(db: Path) -> int:
    """SIGKILL the engine, as the OOM killer would, and return once the kernel has ended it (its pidfd is readable)."""
    pid = engine_pid(db)
    handle = os.pidfd_open(pid)
    try:
        os.kill(pid, signal.SIGKILL)
        assert select.select([handle], [], [], 30)[0], f"engine {pid} still alive 30 s after SIGKILL"
    finally:
        os.close(handle)
    return pid


@pytest.fixture
def db(isolated_env: Path) -> Path:
    return isolated_env / "test.db"


def test_search_works_after_the_engine_is_killed_and_the_engine_runs_again_on_the_same_file(store, db, tmp_path):
    index_texts(store, tmp_path / "docs", "Papers", BUNDLED_SMALL, SEED)
    embedder = load_embedder(BUNDLED_SMALL)
    before = search(QUERY, "Papers", embedder, store, top_k=3)

    killed = kill_engine(db)
    after = search(QUERY, "Papers", embedder, store, top_k=3)

    assert [(h.document, h.chunk) for h in after.hits] == [(h.document, h.chunk) for h in before.hits]
    assert engine_pid(db) != killed  # a new engine, on the same database file
    assert store.engine_restarts == 1
    assert store.index("Papers", BUNDLED_SMALL).count_documents() == len(SEED)
    assert store.revive() is False and store.engine_restarts == 1  # alive now: nothing more to do


def test_a_search_whose_index_was_never_loaded_gets_it_loaded_on_the_new_engine(db, tmp_path):
    first = MilvusStore()
    index_texts(first, tmp_path / "docs", "Papers", BUNDLED_SMALL, SEED)
    first.close()
    store = MilvusStore()  # a reopened store has loaded nothing yet: the first call after the kill is a load
    try:
        kill_engine(db)
        assert search(QUERY, "Papers", load_embedder(BUNDLED_SMALL), store).hits
        assert store.engine_restarts == 1
    finally:
        store.close()


def test_a_new_store_in_the_same_process_works_after_the_engine_died(store, db, tmp_path):
    index_texts(store, tmp_path / "docs", "Papers", BUNDLED_SMALL, SEED)
    kill_engine(db)

    fresh = MilvusStore()  # milvus_lite remembers the dead engine for this file: the store must not be handed it
    try:
        assert fresh.catalog.names() == ["Papers"]
        assert search(QUERY, "Papers", load_embedder(BUNDLED_SMALL), fresh).hits
        # The first store reconnects to the engine the second one started, without starting a third.
        pid = engine_pid(db)
        assert search(QUERY, "Papers", load_embedder(BUNDLED_SMALL), store).hits
        assert engine_pid(db) == pid
    finally:
        fresh.close()


def test_a_write_in_flight_says_the_engine_restarted_and_a_rerun_converges_exactly(
    store, db, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    # Many small write batches, so the engine dies with writes still to come.
    monkeypatch.setattr(workers, "batches", functools.partial(workers.batches, max_chars=4_000))
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(60):
        (folder / f"report-{i:02d}.txt").write_text(f"Report {i}. " + SEED_DOCS[i % len(SEED_DOCS)] * 8)
    embedder = load_embedder(BUNDLED_SMALL)
    expected = ingest([folder], "Whole", embedder, store)  # the uninterrupted run, beside it

    killed: list[int] = []

    def kill_once_written(stage: str, done: int, total: int) -> None:
        if stage == "ingest" and done > 0 and not killed:
            killed.append(kill_engine(db))

    with pytest.raises(EngineRestartedError) as raised:
        ingest([folder], "Killed", embedder, store, progress=kill_once_written)
    message = str(raised.value)
    assert "\n" not in message and "started again" in message and "re-run converges" in message

    again = ingest([folder], "Killed", embedder, store)
    index, whole = store.index("Killed", BUNDLED_SMALL), store.index("Whole", BUNDLED_SMALL)
    assert (index.count_documents(), index.count()) == (whole.count_documents(), whole.count())
    assert index.count() == expected.chunks_total == again.chunks_total
    assert [(d.name, d.doc_hash, d.chunks) for d in index.documents()] == [
        (d.name, d.doc_hash, d.chunks) for d in whole.documents()
    ]
    assert ingest([folder], "Killed", embedder, store).chunks_added == 0  # converged: a third run adds nothing


def test_a_page_says_once_that_the_database_restarted_and_then_searches(app_store, db, tmp_path):
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, SEED)
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, SEARCH)
    assert not at.toast

    kill_engine(db)
    at.main.text_input(key="search_query").input(QUERY)
    at.main.button(key="FormSubmitter:search-Search").click().run()
    no_exception(at)
    assert values(at.toast) == [shared_notice()]
    assert hit_headers(at) and not at.main.error  # the hits are there

    at.run()  # the next rerun: no second notice
    no_exception(at)
    assert not at.toast


def shared_notice() -> str:
    from pages.shared import RESTARTED_NOTICE

    return RESTARTED_NOTICE


def hold_lock(lock_file: Path) -> subprocess.Popen:
    """Another process holding the database's lock, as a second app or CLI run opening it would."""
    code = (
        "import fcntl, sys\n"
        f"f = open({str(lock_file)!r}, 'a')\n"
        "fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_restart_refused_by_another_process_holding_the_database_says_so(store, db, tmp_path):
    from milvus_lite.server_manager import server_manager_instance

    index_texts(store, tmp_path / "docs", "Papers", BUNDLED_SMALL, SEED)
    kill_engine(db)
    # The dead engine's lock released, and taken by another process before this one restarts the engine.
    server_manager_instance.release_server(str(db))
    holder = hold_lock(db.parent / f".{db.name}.lock")
    try:
        with pytest.raises(EngineRestartFailedError) as raised:
            search(QUERY, "Papers", load_embedder(BUNDLED_SMALL), store)
        assert raised.value.reason == "locked"
        assert "another process" in str(raised.value) and str(db) in str(raised.value)
        assert (db.parent / f".{db.name}.lock").exists()  # the other process's lock file is left alone
    finally:
        holder.communicate("")
    assert search(QUERY, "Papers", load_embedder(BUNDLED_SMALL), store).hits  # once it is gone, the engine returns


@pytest.fixture
def small_disk(tmp_path: Path) -> Path:
    """A 48 MB tmpfs: a disk that can really fill up (needs root, as CI runs)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_restart_on_a_full_disk_says_the_disk_is_full(small_disk: Path, tmp_path, monkeypatch):
    monkeypatch.setenv("POTION_DB_PATH", str(small_disk / "full.db"))
    store = MilvusStore()
    try:
        index_texts(store, tmp_path / "docs", "Papers", BUNDLED_SMALL, SEED)
        kill_engine(small_disk / "full.db")
        filler = small_disk / "filler"
        with filler.open("wb", buffering=0) as out, pytest.raises(OSError):  # until the disk says it is full
            while True:
                out.write(b"\0" * (1 << 20))
        with pytest.raises(EngineRestartFailedError) as raised:
            search(QUERY, "Papers", load_embedder(BUNDLED_SMALL), store)
        assert raised.value.reason == "disk full" and "disk holding it is full" in str(raised.value)

        filler.unlink()
        assert search(QUERY, "Papers", load_embedder(BUNDLED_SMALL), store).hits
    finally:
        store.close()


def test_a_verdict_interrupted_by_the_engine_restart_says_so_in_one_line_and_the_next_one_is_kept(
    app_store, db, tmp_path
):
    # Found by bench/soak.py: the Search page's verdict buttons save in a callback, where a PotionError showed as a
    # traceback (st.exception) instead of the one line every other action gives.
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, SEED)
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, SEARCH)
    at.main.text_input(key="search_query").input(QUERY)
    at.main.button(key="FormSubmitter:search-Search").click().run()
    no_exception(at)

    # The engine dies, and comes back during the save: its write belongs to the engine that died.
    app_store.judgments.put = interrupted_once(app_store.judgments.put, db)
    at.main.button(key="judge-yes-1").click().run()
    no_exception(at)
    (message,) = values(at.error)
    assert "started again" in message and "\n" not in message
    assert app_store.judgments.list("Papers") == []

    at.main.button(key="judge-yes-1").click().run()  # clicked again: kept, and the line is gone
    no_exception(at)
    assert not at.error
    assert [j.document for j in app_store.judgments.list("Papers")] == [hit_documents(at)[0]]


def interrupted_once(put, db: Path):
    """`put`, with the engine killed just before its first call (the call then finds a restarted engine)."""
    calls = []

    def wrapper(judgment):
        if not calls:
            calls.append(kill_engine(db))
        return put(judgment)

    return wrapper


def hit_documents(at) -> list[str]:
    return [t.value for t in at.main.text]
