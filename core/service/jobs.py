"""Background jobs for long operations, so a page rerun or switch in the middle loses nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from core.errors import LibraryBusyError
from core.types import ProgressCallback


def library_job_key(library: str) -> str:
    """The one job key of a library: every page that writes to it (Library, Compare) starts its job under it,
    so a second job on the library cannot start and each page finds the running one, whoever started it."""
    return f"library|{library}"


def query_set_job_key(library: str, name: str) -> str:
    """One run of a set at a time, whichever session asked: a run writes nothing, so it needs no library lease."""
    return f"query-set|{library}|{name}"


def duration_text(seconds: float) -> str:
    """A wait as people read it: 40 s, 3 min, 1 h 20 min."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


class JobStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class JobState:
    id: str
    key: str
    label: str
    kind: str = ""  # what the work is ("ingest", "reindex", …), so a page knows how to show its result
    status: JobStatus = JobStatus.RUNNING
    stage: str = "starting"
    done: int = 0
    total: int = 0
    started: float = 0.0
    stage_started: float = 0.0
    finished: float | None = None
    result: Any = None
    error: str | None = None
    cancel_requested: bool = False  # the user asked it to stop; work that can stop polls JobRunner.cancel_requested

    @property
    def running(self) -> bool:
        return self.status == JobStatus.RUNNING

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    def rate(self, now: float | None = None) -> float:
        """Items per second in the current stage."""
        elapsed = (now or time.time()) - self.stage_started
        return self.done / elapsed if elapsed > 0 else 0.0

    def elapsed(self, now: float | None = None) -> float:
        return (self.finished or now or time.time()) - self.started

    def remaining(self, now: float | None = None) -> float | None:
        """Seconds left in the current stage at its rate so far; None until the stage has a rate."""
        rate = self.rate(now)
        return max(0.0, (self.total - self.done) / rate) if rate > 0 and self.total else None


class JobRunner:
    """Runs one job per key at a time in a daemon thread; state is read by polling snapshots.

    A key can also be held for a short synchronous change (a drop, a delete) that must not overlap a job:
    see `exclusive`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, JobState] = {}
        self._held: dict[str, str] = {}  # key -> what the synchronous change holding it does

    def start(
        self, key: str, label: str, work: Callable[[ProgressCallback], Any], kind: str = "", join: bool = True
    ) -> JobState:
        """Start `work(progress)` unless a job with this key is running; returns that job then, or with
        `join=False` raises LibraryBusyError (the caller's work would otherwise be silently dropped).

        Raises LibraryBusyError too while a change holds the key (`exclusive`)."""
        with self._lock:
            current = self._jobs.get(key)
            if current is not None and current.running:
                if join:
                    return current
                raise LibraryBusyError(
                    f"Cannot start {label}: {current.label} is still running; try again when it has finished."
                )
            if key in self._held:
                raise LibraryBusyError(f"Cannot start {label}: {self._held[key]} is under way; try again in a moment.")
            now = time.time()
            job = JobState(id=uuid.uuid4().hex[:12], key=key, label=label, kind=kind, started=now, stage_started=now)
            self._jobs[key] = job
        threading.Thread(target=self._run, args=(job.id, key, work), daemon=True, name=f"job-{key}").start()
        return job

    def _update(self, job_id: str, key: str, **changes: Any) -> None:
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.id == job_id:
                self._jobs[key] = replace(job, **changes)

    def _run(self, job_id: str, key: str, work: Callable[[ProgressCallback], Any]) -> None:
        def progress(stage: str, done: int, total: int) -> None:
            with self._lock:
                job = self._jobs[key]
                if job.id != job_id:
                    return
                stage_started = time.time() if stage != job.stage else job.stage_started
                self._jobs[key] = replace(job, stage=stage, done=done, total=total, stage_started=stage_started)

        try:
            result = work(progress)
        except Exception as exc:  # a job must end in a state the page can show, whatever went wrong
            self._update(
                job_id, key, status=JobStatus.FAILED, error=str(exc) or type(exc).__name__, finished=time.time()
            )
        else:
            self._update(job_id, key, status=JobStatus.DONE, result=result, finished=time.time())

    def get(self, key: str) -> JobState | None:
        with self._lock:
            return self._jobs.get(key)

    def cancel(self, key: str) -> None:
        """Ask the job running under this key to stop; the work itself decides when it can (cancel_requested)."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.running:
                self._jobs[key] = replace(job, cancel_requested=True)

    def cancel_requested(self, key: str) -> bool:
        with self._lock:
            job = self._jobs.get(key)
            return job is not None and job.running and job.cancel_requested

    def busy(self, key: str) -> JobState | None:
        """The job running under this key, if any."""
        with self._lock:
            job = self._jobs.get(key)
            return job if job is not None and job.running else None

    @contextmanager
    def exclusive(self, key: str, what: str) -> Iterator[None]:
        """Hold the key while the block runs: refused (LibraryBusyError) if a job or another change has it, and
        no job under it can start until the block ends; so a drop or delete is never half-done under a job."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.running:
                raise LibraryBusyError(f"Cannot {what}: {job.label} is still running; try again when it has finished.")
            if key in self._held:
                raise LibraryBusyError(f"Cannot {what}: {self._held[key]} is under way; try again in a moment.")
            self._held[key] = what
        try:
            yield
        finally:
            with self._lock:
                del self._held[key]

    def active(self, prefix: str = "") -> list[JobState]:
        with self._lock:
            return [j for k, j in self._jobs.items() if j.running and k.startswith(prefix)]

    def forget(self, key: str) -> None:
        """Drop a finished job's state once its outcome has been shown."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and not job.running:
                del self._jobs[key]
