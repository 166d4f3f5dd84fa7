"""An engine kept warm across restarts of the app (issue 18).

Milvus Lite 2.5 loads a library by inserting every row again, so a process that opens the database waits for it
(the README's Performance section: seconds per 100k chunks, minutes at 1M). The engine is not the app, though: when
the app opens a Lite database it starts `python -m core serve --kept` on it in the background, in a session of its
own, and connects through it at a unix socket that only its owner may connect to (unlike `serve`'s TCP port). A
restarted app (or a CLI run) finds that engine again by a small file beside the database and answers at once, its
libraries still loaded. The kept engine ends itself once no process has used it for POTION_KEEP_ENGINE_MINUTES, or
when told (`python -m core engine --stop`).

Who uses it is told by a lease, not by the engine's connections (gRPC drops an idle connection, and a call can begin
and end between two looks): every process that talks to a kept engine holds a shared `flock` on a clients file for
as long as it does, taken before it looks for the engine, and the kernel drops it when that process ends however it
ends. The engine is idle while it can take that lock exclusively; it then keeps it until it has gone, so a process
arriving meanwhile waits for it to go and starts the next rather than finding one about to end.

Files beside a database `potion.db`: `.potion.db.engine.json` (the engine's process, address and idle limit, written
by the engine once it listens and removed as it ends), `.potion.db.engine.lock` (held while a process starts one,
so two never do), `.potion.db.engine.clients` (the leases), `.potion.db.engine.log` (what it printed, for when it
fails to start) and the engine's socket, `.potion.db.engine.sock` (in a folder of the user's own under the temporary
folder when that path is too long for a socket or holds characters a gRPC address would change)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from core.config import PROJECT_ROOT
from core.errors import StoreConfigError, StoreLockedError

START_TIMEOUT_S = 90.0  # the engine itself starts in about a second; a loaded machine is slower
STOP_TIMEOUT_S = 30.0
_POLL_S = 0.05
IDLE_CHECK_S = 5.0  # how often a kept engine looks whether anyone holds a lease
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
PLAIN_PATH = re.compile(r"^[A-Za-z0-9._/\-]+$")  # what a gRPC "unix:" address carries unchanged (no %, ?, #, space)


@dataclass(frozen=True)
class KeptEngine:
    """A running kept engine, as its file describes it."""

    pid: int
    uri: str  # unix:/path/of/its.sock
    database: str  # the absolute path it serves
    idle_minutes: float  # it ends after this long with no process using it
    started: float  # epoch seconds
    engine_version: str = ""  # the milvus-lite it runs: after an upgrade, a new start runs the new one

    @property
    def socket(self) -> str:
        return self.uri.removeprefix("unix:")

    def as_dict(self) -> dict:
        return asdict(self)


def describe(kept: KeptEngine) -> str:
    """One line on a kept engine, for the CLI and the doctor."""
    return (
        f"The engine of {kept.database} is kept running by process {kept.pid} at {kept.uri}; it stops after "
        f"{kept.idle_minutes:g} minutes with no process using it (`python -m core engine --stop` stops it now)."
    )


def info_path(database: Path) -> Path:
    return _beside(database, "engine.json")


def log_path(database: Path) -> Path:
    return _beside(database, "engine.log")


def socket_path(database: Path) -> Path:
    """Where the kept engine of `database` listens: the same path every time, so a client that lost the engine finds
    the next one at the address it knows."""
    beside = _beside(database, "engine.sock")
    if len(str(beside).encode()) <= SOCKET_PATH_MAX and PLAIN_PATH.match(str(beside)):
        return beside
    digest = hashlib.sha256(str(beside).encode()).hexdigest()[:16]
    return _private_folder() / f"{digest}.sock"


def _private_folder() -> Path:
    """A folder under the temporary one that only this user can enter, for sockets whose own path will not do."""
    folder = Path(tempfile.gettempdir()) / f"potion-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError as exc:
        raise StoreConfigError(f"Cannot make the folder {folder} for the engine's socket ({exc.strerror}).") from exc
    if info.st_uid != os.getuid() or info.st_mode & 0o077 or not folder.is_dir() or folder.is_symlink():
        raise StoreConfigError(
            f"{folder} is not a private folder of this user, so the engine's socket cannot go there: remove it, "
            "or set POTION_DB_PATH to a shorter path of plain characters."
        )
    return folder


def keeps_engines() -> bool:
    """Milvus Lite 3.x reads its persisted segments and index files back and reopens in about a second: nothing to
    keep (bench/ENGINES.md). Lite 2.5 inserts every row again."""
    from core.storage.connection import lite_version

    return lite_version()[0] < 3


def engine_version() -> str:
    from core.storage.connection import lite_version

    return ".".join(str(part) for part in lite_version())


# --- the leases: who uses a kept engine ----------------------------------------------------------------------------


def clients_path(database: Path) -> Path:
    return _beside(database, "engine.clients")


class Lease:
    """This process uses the kept engine of a database: a shared lock held until `release` (or the process ends)."""

    def __init__(self, database: Path) -> None:
        database.absolute().parent.mkdir(parents=True, exist_ok=True)
        self._file = open(clients_path(database), "a")  # noqa: SIM115 - held for the lease's lifetime
        # Blocks while an idle engine holds it exclusively, which it does only on its way out (a few seconds).
        fcntl.flock(self._file, fcntl.LOCK_SH)

    def release(self) -> None:
        if not self._file.closed:
            self._file.close()  # the lock goes with the descriptor


def idle_lock(database: Path) -> TextIO | None:
    """The clients file locked exclusively if nobody holds a lease (keep it open: the lock lasts as long), else
    None."""
    handle = open(clients_path(database), "a")  # noqa: SIM115 - returned open, holding the lock
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _beside(database: Path, suffix: str) -> Path:
    resolved = database.absolute().resolve()
    return resolved.parent / f".{resolved.name}.{suffix}"


# --- finding, starting and stopping one, from a client's side ----------------------------------------------------


def find(database: Path) -> KeptEngine | None:
    """The kept engine of `database`, if one runs and answers; a file left by one that died counts as none."""
    kept = _read(database)
    if kept is None or not _alive(kept.pid) or not listens(kept.uri):
        return None
    return kept


def _read(database: Path) -> KeptEngine | None:
    """The file as a KeptEngine, read leniently: one written by another version of this code still names its
    engine, so that engine can be found and stopped."""
    try:
        data = json.loads(info_path(database).read_text(encoding="utf-8"))
        known = {name: data[name] for name in KeptEngine.__dataclass_fields__ if name in data}
        return KeptEngine(**known)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def ensure(database: Path, idle_minutes: float) -> KeptEngine:
    """The kept engine of `database`, started now if none runs (or if the one running is of another milvus-lite).
    The caller should hold a Lease, so that the engine cannot go idle before it is used. Raises StoreLockedError when
    another process has the database open itself, StoreConfigError when the engine does not start (with what it
    printed)."""
    if not keeps_engines():
        raise StoreConfigError("Milvus Lite 3.x reopens a database at once, so no engine is kept for it.")
    with _starting(database):
        found = find(database)
        if found is not None and found.engine_version == engine_version():
            return found
        if found is not None:  # milvus-lite was upgraded under it: the database is the new engine's to open
            _stop(database, found)
        from core.storage.connection import lite_lock_held

        if lite_lock_held(database):
            raise StoreLockedError(
                f"The database {database} is open in another process that does not share it (a CLI run or an app "
                "started with POTION_KEEP_ENGINE_MINUTES=0), so no engine can be kept for it: wait for that process "
                "to end, then try again."
            )
        try:
            socket_path(database).unlink()  # left by an engine that was killed: the next could not bind it
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreConfigError(
                f"Cannot remove the old engine socket {socket_path(database)} ({exc.strerror}): remove it by hand."
            ) from exc
        return _start(database, idle_minutes)


def stop(database: Path, timeout: float = STOP_TIMEOUT_S) -> KeptEngine | None:
    """Stop the kept engine of `database` (it finishes its calls and closes the database); the one stopped, or None
    if none ran."""
    found = find(database)
    if found is None:
        return None
    return _stop(database, found, timeout)


def _stop(database: Path, found: KeptEngine, timeout: float = STOP_TIMEOUT_S) -> KeptEngine:
    with contextlib.suppress(ProcessLookupError):
        os.kill(found.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(found.pid):
        if time.monotonic() > deadline:
            raise StoreConfigError(
                f"The kept engine of {database} (process {found.pid}) did not stop within {timeout:.0f} s: "
                f"end it with kill {found.pid}."
            )
        time.sleep(_POLL_S)
    return found


@contextlib.contextmanager
def _starting(database: Path) -> Iterator[None]:
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(_beside(database, "engine.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or by the kernel should we die holding it
        yield


def _start(database: Path, idle_minutes: float) -> KeptEngine:
    command = [
        sys.executable,
        "-m",
        "core",
        "serve",
        "--db",
        str(database.absolute().resolve()),
        "--idle-minutes",
        f"{idle_minutes:g}",
        "--kept",
    ]
    with open(log_path(database), "w", encoding="utf-8") as log:
        # A session of its own: a Ctrl-C or a closed terminal that ends the app leaves its engine running.
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        found = find(database)
        if found is not None and found.pid == process.pid:
            threading.Thread(target=process.wait, daemon=True).start()  # reaped whenever it ends, never a zombie
            return found
        if process.poll() is not None:
            raise StoreConfigError(f"The engine for {database} did not start: {_last_line(database)}")
        time.sleep(_POLL_S)
    process.terminate()
    threading.Thread(target=process.wait, daemon=True).start()
    raise StoreConfigError(
        f"The engine for {database} did not answer within {START_TIMEOUT_S:.0f} s; see {log_path(database)}."
    )


def _last_line(database: Path) -> str:
    try:
        lines = [line.strip() for line in log_path(database).read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError:
        lines = []
    return lines[-1] if lines else "it exited without a word"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process took the number
        return False
    return True


def listens(uri: str) -> bool:
    """Whether an engine listens at this unix socket; a dead engine leaves the socket file, which refuses."""
    if not uri:
        return False
    with socket.socket(socket.AF_UNIX) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(uri.removeprefix("unix:"))
        except OSError as exc:
            # A full backlog or a slow accept is a busy engine, not a dead one.
            return exc.errno not in (errno.ECONNREFUSED, errno.ENOENT)
    return True


# --- the kept engine's own side: saying where it is, and ending once idle -----------------------------------------


def announce(database: Path, uri: str, idle_minutes: float) -> None:
    """Written by the engine's process once it listens: how clients find it."""
    resolved = str(database.absolute().resolve())
    kept = KeptEngine(os.getpid(), uri, resolved, idle_minutes, time.time(), engine_version())
    path = info_path(database)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(kept.as_dict()), encoding="utf-8")
    temporary.replace(path)  # a reader sees the old file or the whole new one


def withdraw(database: Path) -> None:
    """Removed by the engine's process as it ends, if the file is still its own (a starter holds the start lock
    while it waits for the next engine's file, so the two cannot cross)."""
    with _starting(database):
        kept = _read(database)
        if kept is not None and kept.pid == os.getpid():
            with contextlib.suppress(OSError):
                info_path(database).unlink()


class IdleClock:
    """When a kept engine has been without clients long enough: every look says how many use it (0 or more)."""

    def __init__(self, idle_minutes: float, now: float) -> None:
        self.limit = idle_minutes * 60
        self.idle_since: float | None = now  # nobody has connected yet

    def expired(self, connected: int, now: float) -> bool:
        if connected > 0:
            self.idle_since = None
            return False
        if self.idle_since is None:
            self.idle_since = now
        return now - self.idle_since >= self.limit


def end_when_idle(database: Path, idle_minutes: float, stop: Callable[[], None]) -> threading.Thread:
    """A thread that calls `stop` once no process has held a lease on `database`'s engine for `idle_minutes`,
    keeping the clients file locked from then on, so that nobody takes a lease on an engine on its way out."""
    clock = IdleClock(idle_minutes, time.monotonic())
    interval = min(IDLE_CHECK_S, max(0.2, idle_minutes * 60 / 10))

    def watch() -> None:
        while True:
            held = idle_lock(database)
            if clock.expired(0 if held is not None else 1, time.monotonic()):
                _HELD.append(held)  # released by the kernel as this process ends
                stop()
                return
            if held is not None:
                held.close()
            time.sleep(interval)

    thread = threading.Thread(target=watch, name="potion-idle-engine", daemon=True)
    thread.start()
    return thread


_HELD: list[TextIO] = []  # the clients file, locked by an engine on its way out
