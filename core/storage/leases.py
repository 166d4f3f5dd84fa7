"""Leases: who is changing a library right now, recorded in the database so every process sharing it can see.

A job's exclusivity inside one app process (core.service.jobs.JobRunner) cannot stop a CLI ingest in another
process from writing while the app drops the same library. A lease can: each holder records a row with an expiry,
renews it while it works, and removes it when done. A holder that crashed stops renewing, so its lease expires and
the next holder takes it over (at once when the crashed process ran on this machine): no library stays locked.

Ingests hold a shared lease: several may write one library at once (their writes are idempotent upserts), but no
drop, delete or rebuild, which hold an exclusive one, runs beside any of them. Milvus has no compare-and-set, so a
holder first records its row and then looks at everyone's: if a row it conflicts with is there, it withdraws and
is refused. Two holders arriving at the same instant may both withdraw (both are told to try again); they can
never both go ahead, because whichever looks second sees the other's row.
"""

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
    holder: str  # host:pid:random, so a holder that died on this machine is recognised as gone
    what: str
    shared: bool = False


def _died_here(holder: str) -> bool:
    """Whether the holder ran on this machine and its process no longer runs."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # running, as another user
        return False
    return False


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

    def acquire(self, library: str, what: str, shared: bool = False) -> Lease:
        lease = Lease(library, f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}", what, shared)
        now = self.clock()
        self.write(LeaseRow(library, lease.holder, what, now + self.seconds, shared))
        others = [row for row in self.rows(library) if row.holder != lease.holder]
        gone = [row for row in others if row.expires <= now or _died_here(row.holder)]
        conflicting = [row for row in others if row not in gone and not (shared and row.shared)]
        if conflicting:
            self.remove(library, lease.holder)
            raise LibraryBusyError(
                f"Cannot {what}: {conflicting[0].what or 'another change'} is under way; "
                "try again when it has finished."
            )
        for row in gone:  # its holder stopped renewing or is no longer running, so it is taken over
            self.remove(library, row.holder)
        return lease

    def renew(self, lease: Lease) -> None:
        self.write(LeaseRow(lease.library, lease.holder, lease.what, self.clock() + self.seconds, lease.shared))

    def release(self, lease: Lease) -> None:
        self.remove(lease.library, lease.holder)

    @contextmanager
    def hold(self, library: str, what: str, shared: bool = False) -> Iterator[Lease]:
        lease = self.acquire(library, what, shared)
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
