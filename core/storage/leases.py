"""Leases: who is changing a library right now, recorded in the database so every process sharing it can see.

A job's exclusivity inside one app process (core.service.jobs.JobRunner) cannot stop a CLI ingest in another
process from writing while the app drops the same library. A lease can: each holder records a row with an expiry,
renews it while it works, and removes it when done. A holder that crashed stops renewing, so its lease expires and
the next holder takes it over: no library stays locked for ever.

Milvus has no compare-and-set, so a holder first records its row and then looks at everyone's: if another live row
is there, it withdraws and is refused. Two holders arriving at the same instant may both withdraw (both are told to
try again); they can never both go ahead, because each sees the other's row before it starts."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.errors import LibraryBusyError
from core.storage.registry import LeaseRow

LEASE_SECONDS = 30.0  # how long a holder that stopped renewing (it crashed) keeps others out


@dataclass(frozen=True)
class Lease:
    library: str
    holder: str
    what: str


class LeaseBook(ABC):
    """Takes, renews and gives back leases over rows the store keeps; the store supplies the three row calls."""

    seconds = LEASE_SECONDS

    def clock(self) -> float:
        return time.time()  # wall-clock: expiries are compared across processes

    @abstractmethod
    def write(self, row: LeaseRow) -> None: ...

    @abstractmethod
    def rows(self, library: str) -> list[LeaseRow]: ...

    @abstractmethod
    def remove(self, library: str, holder: str) -> None: ...

    def acquire(self, library: str, what: str) -> Lease:
        lease = Lease(library, f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}", what)
        now = self.clock()
        self.write(LeaseRow(library, lease.holder, what, now + self.seconds))
        others = [row for row in self.rows(library) if row.holder != lease.holder]
        live = [row for row in others if row.expires > now]
        if live:
            self.remove(library, lease.holder)
            raise LibraryBusyError(
                f"Cannot {what}: {live[0].what or 'another change'} is under way; try again when it has finished."
            )
        for row in others:  # expired: its holder stopped renewing, so it is taken over
            self.remove(library, row.holder)
        return lease

    def renew(self, lease: Lease) -> None:
        self.write(LeaseRow(lease.library, lease.holder, lease.what, self.clock() + self.seconds))

    def release(self, lease: Lease) -> None:
        self.remove(lease.library, lease.holder)

    @contextmanager
    def hold(self, library: str, what: str) -> Iterator[Lease]:
        lease = self.acquire(library, what)
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew_until, args=(lease, stop), daemon=True, name="lease-renewal")
        renewer.start()
        try:
            yield lease
        finally:
            stop.set()
            renewer.join(self.seconds)  # bounded: a renewal stuck on a silent engine must not hold the release up
            self.release(lease)

    def _renew_until(self, lease: Lease, stop: threading.Event) -> None:
        while not stop.wait(self.seconds / 3):
            try:
                self.renew(lease)
            except Exception:  # the engine stopped answering: the holder's own calls fail and say so
                return


class MemoryLeases(LeaseBook):
    """Leases of one process's in-memory store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], LeaseRow] = {}

    def write(self, row: LeaseRow) -> None:
        with self._lock:
            self._rows[(row.library, row.holder)] = row

    def rows(self, library: str) -> list[LeaseRow]:
        with self._lock:
            return [row for (lib, _), row in self._rows.items() if lib == library]

    def remove(self, library: str, holder: str) -> None:
        with self._lock:
            self._rows.pop((library, holder), None)
