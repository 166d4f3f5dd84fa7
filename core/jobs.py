"""Background jobs for long operations, so a page rerun or switch in the middle loses nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class JobState:
    id: str
    key: str
    label: str
    status: str = "running"  # "running", "done" or "failed"
    stage: str = "starting"
    done: int = 0
    total: int = 0
    started: float = 0.0
    stage_started: float = 0.0
    finished: float | None = None
    result: Any = None
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    def rate(self, now: float | None = None) -> float:
        """Items per second in the current stage."""
        elapsed = (now or time.time()) - self.stage_started
        return self.done / elapsed if elapsed > 0 else 0.0

    def elapsed(self, now: float | None = None) -> float:
        return (self.finished or now or time.time()) - self.started


class JobRunner:
    """Runs one job per key at a time in a daemon thread; state is read by polling snapshots."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, JobState] = {}

    def start(self, key: str, label: str, work: Callable[[ProgressCallback], Any]) -> JobState:
        """Start `work(progress)` unless a job with this key is running; returns that job then."""
        with self._lock:
            current = self._jobs.get(key)
            if current is not None and current.running:
                return current
            now = time.time()
            job = JobState(id=uuid.uuid4().hex[:12], key=key, label=label, started=now, stage_started=now)
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
            self._update(job_id, key, status="failed", error=str(exc) or type(exc).__name__, finished=time.time())
        else:
            self._update(job_id, key, status="done", result=result, finished=time.time())

    def get(self, key: str) -> JobState | None:
        with self._lock:
            return self._jobs.get(key)

    def active(self, prefix: str = "") -> list[JobState]:
        with self._lock:
            return [j for k, j in self._jobs.items() if j.running and k.startswith(prefix)]

    def forget(self, key: str) -> None:
        """Drop a finished job's state once its outcome has been shown."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and not job.running:
                del self._jobs[key]
