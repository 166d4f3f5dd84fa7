"""An engine kept warm across restarts of the app (issue 18).

Milvus Lite 2.5 loads a library by inserting every row again, so a restarted process waits for it: 8 s at 100k
chunks, 250 s at 1M (README). The engine is not the app, though: when the app opens a Lite database it starts
`python -m core serve` on it in the background, in a session of its own, and connects through it at a unix socket
(which, unlike a TCP port, only its owner may connect to). A restarted app
(or a CLI run) finds that engine again by a small file beside the database and answers at once, its libraries still
loaded. The kept engine ends itself once no process has been connected to it for POTION_KEEP_ENGINE_MINUTES, or
when told (`python -m core engine --stop`); 0 keeps no engine, as before.

Files beside a database `potion.db`: `.potion.db.engine.json` (the engine's process, address and idle limit, written
by the engine once it listens and removed as it ends), `.potion.db.engine.lock` (held while a process starts one,
so two never do), `.potion.db.engine.log` (what it printed, for when it fails to start) and the engine's socket,
`.potion.db.engine.sock` (in the temporary folder when that path is too long for a socket)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
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

from core.config import PROJECT_ROOT
from core.errors import StoreConfigError, StoreLockedError

START_TIMEOUT_S = 90.0  # the engine itself starts in about a second; a loaded machine is slower
STOP_TIMEOUT_S = 30.0
_POLL_S = 0.05
IDLE_CHECK_S = 5.0  # how often a kept engine counts its connections
CONNECTED = "03"  # the state column of /proc/net/unix (SS_CONNECTED)
SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


@dataclass(frozen=True)
class KeptEngine:
    """A running kept engine, as its file describes it."""

    pid: int
    uri: str  # unix:/path/of/its.sock
    database: str  # the absolute path it serves
    idle_minutes: float  # it ends after this long with no process connected
    started: float  # epoch seconds

    @property
    def socket(self) -> str:
        return self.uri.removeprefix("unix:")

    def as_dict(self) -> dict:
        return asdict(self)


def describe(kept: KeptEngine) -> str:
    """One line on a kept engine, for the CLI and the doctor."""
    return (
        f"The engine of {kept.database} is kept running by process {kept.pid} at {kept.uri}; it stops after "
        f"{kept.idle_minutes:g} minutes with no process connected (`python -m core engine --stop` stops it now)."
    )


def info_path(database: Path) -> Path:
    return _beside(database, "engine.json")


def log_path(database: Path) -> Path:
    return _beside(database, "engine.log")


def socket_path(database: Path) -> Path:
    """Where the kept engine of `database` listens: the same path every time, so a client that lost the engine finds
    the next one at the address it knows."""
    beside = _beside(database, "engine.sock")
    if len(str(beside).encode()) <= SOCKET_PATH_MAX:
        return beside
    digest = hashlib.sha256(str(beside).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"potion-{os.getuid()}-{digest}.sock"


def _beside(database: Path, suffix: str) -> Path:
    resolved = database.absolute().resolve()
    return resolved.parent / f".{resolved.name}.{suffix}"


# --- finding, starting and stopping one, from a client's side ----------------------------------------------------


def find(database: Path) -> KeptEngine | None:
    """The kept engine of `database`, if one runs and answers; a file left by one that died counts as none."""
    try:
        kept = KeptEngine(**json.loads(info_path(database).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    if not _alive(kept.pid) or not listens(kept.uri):
        return None
    return kept


def ensure(database: Path, idle_minutes: float) -> KeptEngine:
    """The kept engine of `database`, started now if none runs. Raises StoreLockedError when another process has the
    database open itself, StoreConfigError when the engine does not start (with what it printed)."""
    from core.storage.connection import lite_version

    if lite_version()[0] >= 3:
        raise StoreConfigError(
            "Milvus Lite 3.x reopens a database at once from its saved segments, so no engine is kept for it."
        )
    with _starting(database):
        found = find(database)
        if found is not None:
            return found
        from core.storage.connection import lite_lock_held

        if lite_lock_held(database):
            raise StoreLockedError(
                f"The database {database} is open in another process, so the app cannot keep its engine warm: stop "
                "that process (a CLI run, or an app started with POTION_KEEP_ENGINE_MINUTES=0), or set "
                "POTION_KEEP_ENGINE_MINUTES=0 here too."
            )
        with contextlib.suppress(FileNotFoundError):
            socket_path(database).unlink()  # left by an engine that was killed: the next could not bind it
        return _start(database, idle_minutes)


def stop(database: Path, timeout: float = STOP_TIMEOUT_S) -> KeptEngine | None:
    """Stop the kept engine of `database` (it finishes its calls and closes the database); the one stopped, or None
    if none ran."""
    found = find(database)
    if found is None:
        return None
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
    """Whether anything accepts connections at this unix socket (a busy engine still does)."""
    with socket.socket(socket.AF_UNIX) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(uri.removeprefix("unix:"))
        except OSError:
            return False
    return True


# --- the kept engine's own side: saying where it is, and ending once idle -----------------------------------------


def announce(database: Path, uri: str, idle_minutes: float) -> None:
    """Written by the engine's process once it listens: how clients find it."""
    kept = KeptEngine(os.getpid(), uri, str(database.absolute().resolve()), idle_minutes, time.time())
    path = info_path(database)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(kept.as_dict()), encoding="utf-8")
    temporary.replace(path)  # a reader sees the old file or the whole new one


def withdraw(database: Path) -> None:
    """Removed by the engine's process as it ends, if the file is still its own."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        if json.loads(info_path(database).read_text(encoding="utf-8"))["pid"] == os.getpid():
            info_path(database).unlink()


def connections(path: Path, table: str = "/proc/net/unix") -> int | None:
    """How many connections the engine listening at unix socket `path` has accepted and holds; None where the
    kernel does not list them (no /proc: not Linux)."""
    try:
        text = Path(table).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return connected_to(text, str(path))


def connected_to(table: str, path: str) -> int:
    """The connected sockets bound to `path`, in the text of /proc/net/unix: an accepted connection carries the
    listening socket's path, a client's end carries none."""
    count = 0
    for line in table.splitlines()[1:]:
        fields = line.split(maxsplit=7)
        if len(fields) == 8 and fields[5] == CONNECTED and fields[7] == path:
            count += 1
    return count


class IdleClock:
    """When a kept engine has been without clients long enough: every look says how many are connected."""

    def __init__(self, idle_minutes: float, now: float) -> None:
        self.limit = idle_minutes * 60
        self.idle_since: float | None = now  # nobody has connected yet

    def expired(self, connected: int | None, now: float) -> bool:
        if connected is None:  # cannot tell: keep running, as a plain `serve` does
            return False
        if connected > 0:
            self.idle_since = None
            return False
        if self.idle_since is None:
            self.idle_since = now
        return now - self.idle_since >= self.limit


def end_when_idle(path: Path, idle_minutes: float, stop: Callable[[], None]) -> threading.Thread:
    """A thread that calls `stop` once nobody has been connected to the unix socket `path` for `idle_minutes`."""
    clock = IdleClock(idle_minutes, time.monotonic())
    interval = min(IDLE_CHECK_S, max(0.2, idle_minutes * 60 / 10))

    def watch() -> None:
        while not clock.expired(connections(path), time.monotonic()):
            time.sleep(interval)
        stop()

    thread = threading.Thread(target=watch, name="potion-idle-engine", daemon=True)
    thread.start()
    return thread
