"""The engine connection a store talks through, and how it comes back after the engine dies.

Milvus Lite 2.5 runs its C++ engine as a child process (`milvus`) reached over a unix socket, and milvus_lite's
server manager remembers that engine per database file for the life of the process. Once the engine dies (the OOM
killer picks the largest process, and at 1M chunks that is the engine), every call fails and even a new store on
the same file is handed the dead socket again. `EngineClient` notices (the socket refuses connections), tells the
server manager to forget the dead engine, starts a new one on the same file and reconnects; the store then retries
reads once and reports interrupted writes (core.storage.state.engine_call).

A database's kept engine (core.storage.keeper: `serve` started by the app, at a unix socket beside the database) is
ours too: when it stops answering, a new one is started at the same socket, and the store carries on as above.

A server (`python -m core serve`, a Milvus standalone) is not ours to start: pymilvus reconnects to it, on channels
that do not wait out gRPC's growing reconnect back-off once it answers again."""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import Settings
from core.errors import EngineRestartFailedError, PotionError

if TYPE_CHECKING:
    from core.storage.keeper import KeptEngine, Lease

# A fresh subchannel per channel, and a short back-off: after a server comes back, the first call reconnects at
# once instead of waiting out gRPC's exponential back-off (up to 2 minutes), shared by every channel by default.
# Not grpc.min_reconnect_backoff_ms: gRPC takes it as the time one connection attempt may take (20 s by default), and
# at 100 ms an engine starting on a busy machine did not finish its handshake in time ("connection attempt timed out
# before receiving SETTINGS frame"), so opening its database failed.
GRPC_OPTIONS = {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
}
ENGINE_READY_TIMEOUT_S = 60.0  # a restarted engine opens its socket within a second here; a loaded machine is slower
_READY_POLL_S = 0.05
_REFUSED_FOR_S = 2.0
DISK_FULL_BYTES = 16 * 1024 * 1024  # below this the engine cannot write its logs and segments
# Milvus Lite 2.5 engines share $HOME/.cache/milvus, and each removes it when it exits: an engine that sets up its
# segment memory while another exits fails its first calls with this (milvus-lite#305, pymilvus#2981), then works.
# Measured here: with several engines starting and stopping at once, a call failed once and passed 50 ms later.
STILL_STARTING = "Mmap manager has not been init"
STILL_STARTING_FOR_S = 10.0


class EngineInterrupted(Exception):
    """The engine was restarted while a store operation ran: a read can run again, a write must be re-run whole."""


# The engine generation the running store operation started on; a call on a later engine interrupts it.
_STARTED_ON: contextvars.ContextVar[int | None] = contextvars.ContextVar("potion_engine_generation", default=None)
_RESTARTING = threading.Lock()  # one restart at a time in the process, whichever store noticed
_ENGINES: dict[str, str] = {}  # database file -> the socket of the engine this process last started for it


class EngineClient:
    """A MilvusClient that can be swapped for a new one on a new engine, under every part of the store at once.

    Every method of MilvusClient is reached through it (`client.search(...)`), on whichever client is current."""

    def __init__(
        self,
        settings: Settings,
        open_client: Callable[[], Any],
        kept: KeptEngine | None = None,
        lease: Lease | None = None,
    ) -> None:
        self.settings = settings
        self._open_client = open_client
        self.kept = kept  # the kept engine this client talks to (settings then name its address), if any
        self._lease = lease  # this process's lease on it, released on close
        self.restartable = kept is not None or (settings.is_lite and _lite_major() < 3)
        self.path = str(Path(settings.milvus_uri).absolute().resolve()) if settings.is_lite else ""
        if self.path and self.path in _ENGINES:
            _revive_known(self.path)  # milvus_lite would hand a new store the dead engine this process started
        self._client = open_client()
        self._socket = kept.uri if kept is not None else _engine_socket(self.path) if self.restartable else ""
        if self.path and self._socket:
            _ENGINES[self.path] = self._socket
        self.generation = 0  # engines started under this client so far
        self.restarts = 0
        self.on_restart: list[Callable[[], None]] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._call(name, args, kwargs)

        return call

    def _call(self, name: str, args: tuple, kwargs: dict) -> Any:
        self.revive()  # a socket probe: microseconds, where a call on a dead engine costs a failed reconnect first
        self.check_generation()
        generation = self.generation
        try:
            return self._once_started(name, args, kwargs)
        except Exception as exc:
            # Restarted here, or by another thread that noticed first while this call failed on the dead engine.
            if self.revive() or self.generation != generation:
                raise EngineInterrupted(name) from exc
            raise

    def _once_started(self, name: str, args: tuple, kwargs: dict) -> Any:
        """The call, asked again while the engine says it is still setting up; the failing check comes before the
        engine changes anything, so asking again is safe for writes too."""
        deadline = time.monotonic() + STILL_STARTING_FOR_S
        while True:
            try:
                return getattr(self._client, name)(*args, **kwargs)
            except Exception as exc:
                if STILL_STARTING not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(_READY_POLL_S)

    # --- the running operation ---------------------------------------------------------------------

    @contextmanager
    def operation(self, started: int) -> Iterator[None]:
        """Mark the calls of one store operation, begun on engine generation `started`: a call made after the engine
        was restarted meanwhile interrupts it, so a write never carries on silently over rows the dead engine may not
        have kept."""
        token = _STARTED_ON.set(started)
        try:
            yield
        finally:
            _STARTED_ON.reset(token)

    def inside_operation(self) -> bool:
        return _STARTED_ON.get() is not None

    def check_generation(self) -> None:
        started = _STARTED_ON.get()
        if started is not None and started != self.generation:
            raise EngineInterrupted("the engine was restarted during the operation")

    # --- coming back ---------------------------------------------------------------------------------

    def revive(self) -> bool:
        """Start the engine again if it died; True if this call restarted it or found it restarted."""
        if not self.restartable or (_answers(self._socket) and not self._kept_replaced()):
            return False
        with _RESTARTING:
            if _answers(self._socket) and not self._kept_replaced():
                return False
            if self.kept is not None:
                self.kept = _restart_kept(self.kept)  # unless another process started it again already
            else:
                known = _ENGINES.get(self.path, "")
                if not (known and known != self._socket and _answers(known)):  # no other store restarted it already
                    _restart_engine(self.path)
            replaced, self._client = self._client, self._open_client()
            if self.kept is None:
                self._socket = _engine_socket(self.path)
            self.generation += 1
            self.restarts += 1
        with contextlib.suppress(Exception):  # the old channel points at a dead socket; nothing to release there
            replaced.close()
        for listener in self.on_restart:
            # In a context of its own: its calls belong to no interrupted operation of the caller's. Should the engine
            # fail again, the read retried next reports it.
            with contextlib.suppress(Exception):
                contextvars.Context().run(listener)
        return True

    def _kept_replaced(self) -> bool:
        """Whether the kept engine answering at our socket is another than the one this client loaded its collections
        on: another process started it again (after `engine --stop`, or when it found it dead first)."""
        if self.kept is None:
            return False
        from core.storage import keeper

        current = keeper.find(Path(self.kept.database))
        return current is not None and current.pid != self.kept.pid

    def close(self) -> None:
        try:
            self._client.close()
        finally:
            if self._lease is not None:
                self._lease.release()


def _lite_major() -> int:
    from core.storage.connection import lite_version

    return lite_version()[0]


def _server_manager() -> Any:
    from milvus_lite.server_manager import server_manager_instance

    return server_manager_instance


def _engine_socket(path: str) -> str:
    """The socket of the engine milvus_lite keeps for `path` (it is already running: asking starts nothing)."""
    return _server_manager().start_and_get_uri(path) or ""


def _answers(uri: str) -> bool:
    """Whether the engine listens at its unix socket (milvus_lite's, or a kept engine's)."""
    from core.storage.keeper import listens

    return listens(uri)


def _revive_known(path: str) -> None:
    with _RESTARTING:
        if not _answers(_ENGINES[path]):
            _restart_engine(path)


def _restart_kept(kept: KeptEngine) -> KeptEngine:
    """Start the kept engine of a database again, at the socket its clients know (the same for every start); one
    that another process started meanwhile is taken as it is."""
    from core.storage import keeper

    database = Path(kept.database)
    _check_space(database)
    try:
        return keeper.ensure(database, kept.idle_minutes)
    except PotionError as exc:
        raise EngineRestartFailedError(
            f"The database engine for {database} stopped, and it cannot start again: {exc}", reason="other"
        ) from exc


def _restart_engine(path: str) -> str:
    """Forget the dead engine of `path` and start a new one on the same file; its socket, once it listens."""
    from core.lifetime import children_keep_interrupts_blocked
    from core.storage.connection import lite_lock_held

    manager = _server_manager()
    manager.release_server(path)  # drops our lock on the file too: milvus_lite takes it again when it starts
    database = Path(path)
    # Asked before starting: a refused start makes milvus_lite delete the lock file the other process holds.
    if lite_lock_held(database):
        raise EngineRestartFailedError(
            f"The database engine for {path} stopped, and it cannot start again: another process has opened the "
            "database meanwhile; stop that process, then try again.",
            reason="locked",
        )
    _check_space(database)
    try:
        with children_keep_interrupts_blocked():
            started = manager.start_and_get_uri(path)
    except OSError as exc:  # the lock file cannot be created
        raise _start_failed(database, exc.strerror or str(exc), exc.errno) from exc
    if not started:
        if lite_lock_held(database):  # it took the lock between our look and the start
            raise EngineRestartFailedError(
                f"The database engine for {path} stopped, and it cannot start again: another process has opened the "
                "database meanwhile; stop that process, then try again.",
                reason="locked",
            )
        raise _start_failed(database, "the engine exited at start", None)
    _wait_until_listening(database, started)
    _ENGINES[path] = started
    return started


def _check_space(database: Path) -> None:
    free = shutil.disk_usage(database.parent).free
    if free < DISK_FULL_BYTES:
        raise _start_failed(database, "", errno.ENOSPC)


def _start_failed(database: Path, reason: str, code: int | None) -> EngineRestartFailedError:
    if code == errno.ENOSPC or shutil.disk_usage(database.parent).free < DISK_FULL_BYTES:
        free = shutil.disk_usage(database.parent).free
        return EngineRestartFailedError(
            f"The database engine for {database} stopped, and it cannot start again: the disk holding it is full "
            f"({free // 1024} KB free); free some space, then try again.",
            reason="disk full",
        )
    return EngineRestartFailedError(
        f"The database engine for {database} stopped, and it cannot start again ({reason}); run "
        "`python -m core doctor` to see why.",
        reason="other",
    )


def _wait_until_listening(database: Path, uri: str) -> None:
    """Wait for the new engine's socket, which it opens once it has read the database; a socket file that refuses
    means the engine died while starting."""
    deadline = time.monotonic() + ENGINE_READY_TIMEOUT_S
    path = uri.removeprefix("unix:")
    refused_since: float | None = None  # a socket is bound a moment before it listens: refusals count for a while
    while time.monotonic() < deadline:
        if _answers(uri):
            return
        if os.path.exists(path):
            refused_since = refused_since or time.monotonic()
            if time.monotonic() - refused_since > _REFUSED_FOR_S:
                break
        time.sleep(_READY_POLL_S)
    _server_manager().release_server(str(database))
    raise _start_failed(database, "the engine stopped while opening the database", None)
