"""How far a collection's load has got, as an estimate: the engine does not say.

Milvus Lite 2.5.1 loads a collection by re-inserting every stored row into one in-memory segment, on one thread,
and says nothing until the end: `get_load_state` is loaded or not, `get_loading_progress` gives no step in between
(measured here). So a load's progress is its time elapsed against the time it should take: the rows to load (the
engine's statistics, read before the load starts) scaled from what an earlier load of this database took. Each
finished load of at least MIN_ROWS_TO_LEARN rows is kept in its library's settings (`load_time:<model>`), so the
estimate learns this machine; before any load was measured it uses DEFAULT_LOAD.

The app's progress bar and the CLI's line read the same `LoadProgress` and the same `load_text`."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Lite 2.5.1, this project's schema (vector, BM25 text and 12 more fields), 2 cores, measured 2026-12-05:
# 100k rows load in 6.4 s and 1M in 134 s, so time grows about as rows ** 1.3 (log(134 / 6.4) / log(10)).
DEFAULT_ROWS, DEFAULT_SECONDS = 1_000_000, 134.0
GROWTH = 1.3
MIN_ROWS_TO_LEARN = 10_000  # below this a load is mostly fixed cost and says little about the rate
SETTING = "load_time"
SHOWN_AT_MOST = 0.99  # a bar never reads "done" before the engine says so
# A load expected to take less than this is waited for as part of the call that asked, and shown only if it
# outlasts it: a progress bar, or a queued search, for a load of milliseconds (an engine restart's reload of a
# small library, say) would cost more than the wait.
NOTICEABLE_SECONDS = 1.0


def setting_key(model: str) -> str:
    """The library setting holding the last load of one model's index."""
    return f"{SETTING}:{model}"


@dataclass(frozen=True)
class LoadRecord:
    """One finished load: how many rows it loaded and how long it took."""

    rows: int
    seconds: float

    def expect(self, rows: int) -> float:
        """The seconds a load of `rows` should take at this record's rate."""
        return self.seconds * (max(rows, 1) / self.rows) ** GROWTH

    def as_setting(self) -> dict:
        return {"rows": self.rows, "seconds": round(self.seconds, 3)}

    @classmethod
    def from_setting(cls, value: Any) -> LoadRecord | None:
        try:
            record = cls(int(value["rows"]), float(value["seconds"]))
        except (KeyError, TypeError, ValueError):  # written by another version: no record rather than a crash
            return None
        return record if record.rows > 0 and record.seconds > 0 else None


DEFAULT_RECORD = LoadRecord(DEFAULT_ROWS, DEFAULT_SECONDS)


@dataclass(frozen=True)
class Estimate:
    seconds: float
    basis: str  # where the figure comes from, said next to it


def estimate(rows: int, library: str, model: str, records: dict[tuple[str, str], LoadRecord]) -> Estimate:
    """The expected seconds to load `rows` rows of (library, model): from that index's last load, else from the
    largest load this database recorded (small loads are mostly fixed cost), else from DEFAULT_LOAD."""
    own = records.get((library, model))
    if own is not None:
        return Estimate(own.expect(rows), f"this index's last load: {own.rows:,} rows in {own.seconds:.0f} s")
    if records:
        (lib, mod), other = max(records.items(), key=lambda item: item[1].rows)
        return Estimate(other.expect(rows), f"the load of {lib} ({mod}): {other.rows:,} rows in {other.seconds:.0f} s")
    return Estimate(
        DEFAULT_RECORD.expect(rows),
        f"default, no load measured here yet: {DEFAULT_ROWS:,} rows in {DEFAULT_SECONDS:.0f} s on 2 cores",
    )


@dataclass(frozen=True)
class LoadProgress:
    """A collection being loaded right now, and the time it should take."""

    library: str
    model: str
    collection: str
    rows: int
    started: float  # time.time() when the load began
    expected_seconds: float
    basis: str

    def elapsed(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.started)

    def left(self, now: float | None = None) -> float:
        return max(0.0, self.expected_seconds - self.elapsed(now))

    def noticeable(self, now: float | None = None) -> bool:
        """Whether the load is worth showing (and a search worth queueing behind it) rather than simply waited for."""
        return max(self.expected_seconds, self.elapsed(now)) >= NOTICEABLE_SECONDS

    def fraction(self, now: float | None = None) -> float:
        if self.expected_seconds <= 0:
            return SHOWN_AT_MOST
        return min(SHOWN_AT_MOST, self.elapsed(now) / self.expected_seconds)


def load_text(progress: LoadProgress, now: float | None = None) -> str:
    """The one wording of a running load, for the app's bar and the CLI's line."""
    p, elapsed = progress, progress.elapsed(now)
    if elapsed <= p.expected_seconds:
        when = f"about {_duration(p.left(now))} left (estimate from {p.basis})"
    else:
        when = f"longer than the {_duration(p.expected_seconds)} estimated from {p.basis}"
    rows = f"{p.rows:,} rows · {_duration(elapsed)} so far"
    return f"Loading library {p.library} ({p.model}) into the engine: {rows} · {when}"


def loaded_text(progress: LoadProgress, now: float | None = None) -> str:
    """The line that closes a load's progress: what it took against what was estimated."""
    p = progress
    return (
        f"Loaded library {p.library} ({p.model}): {p.rows:,} rows in {_duration(p.elapsed(now))} "
        f"(estimated {_duration(p.expected_seconds)})"
    )


def waiting_text(progress: LoadProgress) -> str:
    """Why a page that needs the engine waits rather than hanging in it while a load holds the engine."""
    return (
        f"The database engine is loading library {progress.library} ({progress.model}) and answers nothing else "
        f"until that is done, about {_duration(progress.left())} from now (estimate; Milvus Lite runs one call at a "
        "time)."
    )


def _duration(seconds: float) -> str:
    from core.service.jobs import duration_text

    return duration_text(seconds)


class LoadTracker:
    """The loads running in this process, and the record of each finished one.

    `describe(collection)` names the (library, model) of a chunk collection (None for the store's own collections,
    which are small and not tracked); `records()` reads every recorded load of the database; `record(...)` keeps one.
    `clock` is time.time, replaceable in tests."""

    def __init__(
        self,
        describe: Callable[[str], tuple[str, str] | None],
        records: Callable[[], dict[tuple[str, str], LoadRecord]],
        record: Callable[[str, str, LoadRecord], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.describe, self.records, self.record, self.clock = describe, records, record, clock
        self._lock = threading.Lock()
        self._running: dict[str, LoadProgress] = {}
        self._learned: dict[tuple[str, str], LoadRecord] = {}  # this process's loads, kept if recording fails
        # Told of each load as it begins (True) and ends (False): the CLI prints from them.
        self.watchers: list[Callable[[LoadProgress, bool], None]] = []

    def loading(self) -> list[LoadProgress]:
        with self._lock:
            return sorted(self._running.values(), key=lambda p: p.started)

    def track(self, collection: str, rows: Callable[[], int], listed: threading.Event | None = None) -> _Tracked:
        """A context for one load of `collection`: listed while the block runs (`listed` is set once it is),
        recorded when it ends well."""
        return _Tracked(self, collection, rows, listed)

    def _begin(self, collection: str, rows: int, library: str, model: str) -> LoadProgress:
        known = {**self.records(), **self._learned}
        guess = estimate(rows, library, model, known)
        progress = LoadProgress(library, model, collection, rows, self.clock(), guess.seconds, guess.basis)
        with self._lock:
            self._running[collection] = progress
        for watch in list(self.watchers):
            watch(progress, True)
        return progress

    def _end(self, progress: LoadProgress, ok: bool) -> None:
        with self._lock:
            self._running.pop(progress.collection, None)
        for watch in list(self.watchers):
            watch(progress, False)
        if not ok or progress.rows < MIN_ROWS_TO_LEARN:
            return
        done = LoadRecord(progress.rows, max(progress.elapsed(self.clock()), 1e-3))
        self._learned[(progress.library, progress.model)] = done
        # A load that finished must not fail its search for want of a settings write.
        with contextlib.suppress(Exception):
            self.record(progress.library, progress.model, done)


class _Tracked:
    def __init__(
        self, tracker: LoadTracker, collection: str, rows: Callable[[], int], listed: threading.Event | None
    ) -> None:
        self.tracker, self.collection, self.rows, self.listed = tracker, collection, rows, listed
        self.progress: LoadProgress | None = None

    def __enter__(self) -> _Tracked:
        try:
            named = self.tracker.describe(self.collection)
            if named is not None:
                self.progress = self.tracker._begin(self.collection, self.rows(), *named)
        finally:
            if self.listed is not None:
                self.listed.set()
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if self.progress is not None:
            self.tracker._end(self.progress, ok=kind is None)


def records_in(settings_of: Callable[[str], dict], libraries: list[str]) -> dict[tuple[str, str], LoadRecord]:
    """Every load recorded in the libraries' settings, by (library, model)."""
    found: dict[tuple[str, str], LoadRecord] = {}
    for library in libraries:
        for key, value in settings_of(library).items():
            if key.startswith(SETTING + ":") and (record := LoadRecord.from_setting(value)) is not None:
                found[(library, key.split(":", 1)[1])] = record
    return found
