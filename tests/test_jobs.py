"""Background jobs: progress is visible while running, results and errors survive, one job per key."""

from __future__ import annotations

import threading

from core.jobs import JobRunner


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
