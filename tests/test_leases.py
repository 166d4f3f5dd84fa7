"""A library's lease holds across processes sharing a database: an ingest in one process refuses a drop or a
delete in another, a crashed holder's lease is taken over once it expires, and settings are written key by key so
two processes never undo each other's update."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.errors import LibraryBusyError
from core.ingest.index_time import index_time, record_index_time
from core.service.jobs import JobRunner
from core.service.libraries import delete_document, drop_library
from core.storage.memory import MemoryStore
from core.storage.milvus import MilvusStore
from core.storage.registry import LeaseRow
from tests.conftest import BUNDLED_SMALL
from tests.test_server import milvus_server  # noqa: F401 - the fixture, shared
from tests.test_store import meta

ROOT = Path(__file__).resolve().parents[1]
GUARD_S = 300  # bounds a failing run; a passing one never waits for it


@pytest.fixture(params=["milvus", "memory"])
def any_store(request):
    store = MilvusStore() if request.param == "milvus" else MemoryStore()
    yield store
    store.close()


def test_an_exclusive_holder_is_refused_in_one_sentence_while_another_holds_the_library(any_store):
    with any_store.catalog.lease("Papers", "drop library Papers"):
        with pytest.raises(LibraryBusyError, match=r"^Cannot rebuild m in Papers: drop library Papers is under way"):
            any_store.catalog.leases.acquire("Papers", "rebuild m in Papers")
        with pytest.raises(LibraryBusyError, match="drop library Papers"):
            any_store.catalog.leases.acquire("Papers", "ingest into Papers", shared=True)
        with any_store.catalog.lease("Other", "drop library Other"):  # another library is free
            pass
    with any_store.catalog.lease("Papers", "drop library Papers"):  # free again once released
        pass


def test_ingests_share_a_library_and_keep_drops_and_deletes_out(any_store):
    leases, ingest = any_store.catalog.leases, "ingest into Papers"
    refused = r"^Cannot drop library Papers: ingest into Papers is under way"
    with (
        leases.hold("Papers", ingest, shared=True),
        leases.hold("Papers", ingest, shared=True),  # two CLI writers at once
        pytest.raises(LibraryBusyError, match=refused),
    ):
        leases.acquire("Papers", "drop library Papers")
    assert any_store.catalog.leases.rows("Papers") == []


def test_a_lease_of_a_process_that_died_on_this_machine_is_taken_over_at_once(any_store):
    import socket

    dead = subprocess.Popen([sys.executable, "-c", "pass"])  # a process of this machine that has ended
    dead.wait()
    leases = any_store.catalog.leases
    leases.write(LeaseRow("Papers", f"{socket.gethostname()}:{dead.pid}:x", "ingest into Papers", leases.clock() + 60))
    with any_store.catalog.lease("Papers", "drop library Papers"):
        pass


def test_a_lease_whose_holder_stopped_renewing_is_taken_over(any_store):
    """A crashed holder's row stays behind with its expiry; once that has passed, the next holder takes over."""
    leases = any_store.catalog.leases
    leases.write(LeaseRow("Papers", "crashed-host:1:dead", "ingest into Papers", leases.clock() + 60))
    with pytest.raises(LibraryBusyError):
        leases.acquire("Papers", "drop library Papers")
    leases.write(LeaseRow("Papers", "crashed-host:1:dead", "ingest into Papers", leases.clock() - 1))
    with any_store.catalog.lease("Papers", "drop library Papers"):
        assert [row.holder for row in leases.rows("Papers")] != ["crashed-host:1:dead"]
    assert leases.rows("Papers") == []  # released, and the crashed holder's row is gone too


def test_a_held_lease_is_renewed_while_the_work_goes_on(any_store, monkeypatch):
    leases = any_store.catalog.leases
    monkeypatch.setattr(leases, "seconds", 0.3)  # renewed every 0.1 s
    now = [1000.0]
    monkeypatch.setattr(leases, "clock", lambda: now[0])
    with any_store.catalog.lease("Papers", "ingest into Papers"):
        (first,) = leases.rows("Papers")
        now[0] += 100.0
        renewed = leases.renew  # wait for one renewal by the background thread, without sleeping
        seen = threading.Event()
        monkeypatch.setattr(leases, "renew", lambda lease: (renewed(lease), seen.set()))
        assert seen.wait(GUARD_S)
        (later,) = leases.rows("Papers")
        assert later.expires > first.expires + 99


def test_a_drop_and_a_delete_are_refused_while_a_cli_ingest_in_another_process_writes_the_library(
    milvus_server,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    """The CLI ingest runs in its own process, paused inside its ingest (tests/paused_ingest.py) until told to go."""
    monkeypatch.setenv("MILVUS_URI", milvus_server)
    store = MilvusStore()
    store.catalog.create("Shared")
    (tmp_path / "a.txt").write_text("Wing lift drag stall.", encoding="utf-8")
    command = [sys.executable, str(ROOT / "tests" / "paused_ingest.py"), "ingest", str(tmp_path / "a.txt")]
    command += ["--library", "Shared", "--model", BUNDLED_SMALL, "--json", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "reading", child.stderr.read()[-2000:]
        runner = JobRunner()  # this process runs no job: only the lease can refuse
        with pytest.raises(LibraryBusyError, match="^Cannot drop library Shared: ingest into Shared is under way"):
            drop_library(store, runner, "Shared")
        with pytest.raises(LibraryBusyError, match="ingest into Shared"):
            delete_document(store, runner, "Shared", "a.txt")
    finally:
        out, err = child.communicate("go\n", timeout=GUARD_S)
    assert child.returncode == 0, err[-2000:]
    assert drop_library(store, JobRunner(), "Shared") == 1  # free again once the ingest ended
    store.close()


def test_two_processes_setting_different_keys_of_one_library_keep_both(milvus_server, monkeypatch):  # noqa: F811
    """The second store read the settings before the first wrote (a long revalidation interval stands for that
    interleaving); writing its own key must not put back what it read."""
    monkeypatch.setenv("MILVUS_URI", milvus_server)
    first = MilvusStore()
    first.catalog.ensure(meta("Shared", BUNDLED_SMALL))
    second = MilvusStore()
    second.revalidate_every = 3600.0
    assert second.catalog.settings("Shared") == {}
    first.catalog.set_setting("Shared", "hybrid_default", {"weight": 0.3, "model": BUNDLED_SMALL})
    record_index_time(second, "Shared", BUNDLED_SMALL, 2.0, 10)
    third = MilvusStore()
    assert third.catalog.settings("Shared")["hybrid_default"]["weight"] == 0.3
    assert index_time(third, "Shared", BUNDLED_SMALL).chunks == 10
    for store in (first, second, third):
        store.close()
