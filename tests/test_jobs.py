"""Background jobs: progress is visible while running, results and errors survive, one job per key."""

from __future__ import annotations

import threading

import pytest

from core.errors import LibraryBusyError
from core.service.jobs import JobRunner, library_job_key


def test_progress_result_and_single_job_per_key():
    runner = JobRunner()
    gate, reported = threading.Event(), threading.Event()

    def work(progress):
        progress("embed", 3, 10)
        reported.set()
        gate.wait(timeout=30)
        return "ok"

    job = runner.start("lib|m", "Indexing", work)
    assert reported.wait(timeout=30)
    state = runner.get("lib|m")
    assert (state.status, state.stage, state.done, state.total) == ("running", "embed", 3, 10)
    assert state.fraction == 0.3 and state.rate() >= 0
    assert runner.start("lib|m", "again", lambda p: "second").id == job.id  # still running: no second job
    assert [j.key for j in runner.active("lib|")] == ["lib|m"]
    gate.set()
    _wait_finished(runner, "lib|m")
    assert runner.get("lib|m").result == "ok" and runner.active() == []


def test_a_failing_job_keeps_its_error_message():
    runner = JobRunner()

    def work(progress):
        raise ValueError("broken.pdf is corrupt")

    runner.start("k", "x", work)
    _wait_finished(runner, "k")
    state = runner.get("k")
    assert state.status == "failed" and state.error == "broken.pdf is corrupt"
    runner.forget("k")
    assert runner.get("k") is None


def _wait_finished(runner: JobRunner, key: str) -> None:
    for thread in threading.enumerate():
        if thread.name == f"job-{key}":
            thread.join(timeout=30)
    assert not runner.get(key).running


def test_one_job_per_library_whichever_page_starts_it():
    runner = JobRunner()
    gate, started = threading.Event(), threading.Event()

    def work(progress):
        started.set()
        gate.wait(timeout=30)
        return "ok"

    key = library_job_key("Papers")
    job = runner.start(key, "Indexing 2 file(s)", work, kind="ingest")
    assert started.wait(timeout=30)
    assert runner.busy(key) == runner.get(key) and runner.busy(key).kind == "ingest"
    assert runner.busy(library_job_key("Other")) is None
    # Compare asking for its job on the same library: refused with the running job named, nothing started.
    with pytest.raises(LibraryBusyError, match=r"Cannot start Indexing with m: Indexing 2 file\(s\) is still running"):
        runner.start(key, "Indexing with m", lambda p: "second", kind="reindex", join=False)
    assert runner.start(key, "Indexing with m", lambda p: "second").id == job.id
    gate.set()
    _wait_finished(runner, key)
    assert runner.busy(key) is None and runner.get(key).result == "ok"


def test_exclusive_is_refused_during_a_job_and_holds_off_new_jobs_while_it_runs():
    runner = JobRunner()
    key = library_job_key("Papers")
    gate = threading.Event()
    runner.start(key, "Indexing", lambda p: gate.wait(timeout=30))
    refused = pytest.raises(LibraryBusyError, match="Cannot drop library Papers: Indexing is still running")
    with refused, runner.exclusive(key, "drop library Papers"):
        raise AssertionError("ran under a job")
    gate.set()
    _wait_finished(runner, key)

    inside, release = threading.Event(), threading.Event()

    def change() -> None:
        with runner.exclusive(key, "drop library Papers"):
            inside.set()
            release.wait(timeout=30)

    holder = threading.Thread(target=change)
    holder.start()
    assert inside.wait(timeout=30)
    with pytest.raises(LibraryBusyError, match="Cannot start Indexing: drop library Papers is under way"):
        runner.start(key, "Indexing", lambda p: "late")
    refused = pytest.raises(LibraryBusyError, match="Cannot delete a.txt: drop library Papers is under way")
    with refused, runner.exclusive(key, "delete a.txt"):
        raise AssertionError("two changes at once")
    release.set()
    holder.join(timeout=30)
    runner.start(key, "Indexing", lambda p: "after")  # free again
    _wait_finished(runner, key)
    assert runner.get(key).result == "after"
