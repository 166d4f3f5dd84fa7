"""Serve a Milvus Lite database over gRPC, so the app and any number of CLI runs can share it via MILVUS_URI."""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from core.errors import StoreConfigError, StoreLockedError
from core.lifetime import children_keep_interrupts_blocked, die_with_parent
from core.storage import keeper
from core.storage.connection import lite_lock_held, lite_version, silence_engine_logs

READY_TIMEOUT_S = 60
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the engine on this machine: a loopback address (127.0.0.0/8, ::1) or
    localhost. Any other name or address, 0.0.0.0 and :: above all, reaches other machines."""
    if host.strip().lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to a public address, so it counts as exposed


def exposure_warning(address: str) -> str:
    """What `serve --expose` says before it listens beyond loopback."""
    return (
        f"warning: serving on {address} with no authentication: anyone who can reach this port can read, change and "
        "drop every library; for a shared deployment use a Milvus server with a token (MILVUS_URI and MILVUS_TOKEN, "
        "see the README)."
    )


def serve(
    db_path: Path,
    port: int,
    host: str = "127.0.0.1",
    on_ready: Callable[[str], None] | None = None,
    expose: bool = False,
    idle_minutes: float = 0.0,
    kept: bool = False,
) -> int:
    """Run the installed Milvus Lite engine on `db_path` at host:port until it stops; returns its exit code.

    The engine has no authentication, so a host beyond loopback is refused unless `expose` says it is meant.
    `kept` makes it the database's kept engine (core.storage.keeper): at its unix socket rather than host:port, found
    by clients through a file beside the database, and stopping once no process has held a lease on it for
    `idle_minutes`."""
    address = f"unix:{keeper.socket_path(db_path)}" if kept else f"{host}:{port}"
    if not kept and not expose and not is_loopback(host):
        raise StoreConfigError(
            f"Refusing to serve {db_path} on {address}: the engine has no authentication, so anyone who can reach "
            "that address could read, change and drop every library; bind to 127.0.0.1, add --expose if it is "
            "meant, or use a Milvus server with a token (see the README)."
        )

    def ready(uri: str) -> None:
        if kept:
            # Stopped as a signal would stop it: the main thread unwinds, and the engine stops in _run's `finally`.
            keeper.end_when_idle(db_path, idle_minutes, lambda: os.kill(os.getpid(), signal.SIGTERM))
            keeper.announce(db_path, uri, idle_minutes)
        if on_ready is not None:
            on_ready(uri)

    if kept:
        # The engine creates its socket with this process's umask: owner only, whatever the app was started with,
        # since whoever can connect can read and drop every library.
        os.umask(0o077)
    try:
        return _serve(db_path, address, host, port, ready)
    finally:
        if kept:
            keeper.withdraw(db_path)


def _serve(db_path: Path, address: str, host: str, port: int, on_ready: Callable[[str], None]) -> int:
    silence_engine_logs()  # Milvus Lite 2.5's import warns about pkg_resources on stderr
    # Stop signals must unwind this process (core.lifetime.stop_on_signals, as the CLI sets) for the `finally`
    # below to stop the engine; the engine also ends by itself should this process die without unwinding.
    if lite_version()[0] >= 3:
        cli = shutil.which("milvus-lite", path=str(Path(sys.executable).parent)) or "milvus-lite"
        command = [cli, "server", "--data-dir", str(db_path), "--host", host, "--port", str(port)]
        # The parent-death signal follows the starting thread, which here waits for the engine till it ends.
        with children_keep_interrupts_blocked():
            process = subprocess.Popen(command, preexec_fn=die_with_parent())
        return _run(process, None, address, on_ready)
    # Asked before anything: milvus_lite's server deletes the lock file when it is dropped after a refused start,
    # taking the lock from the process that holds it (core.storage.connection asks the same before opening).
    if lite_lock_held(db_path):
        raise StoreLockedError(f"Cannot serve {db_path}: another process has it open.")
    try:
        server = _lite_server(db_path, address)
    except RuntimeError as exc:  # the engine's own check of the file name
        raise StoreConfigError(f"Cannot serve {db_path}: {exc}.") from exc
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with children_keep_interrupts_blocked():
        started = server.init() and server.start()
    if not started:
        server.forget()
        raise StoreLockedError(f"Cannot serve {db_path}: another process has it open, or the engine failed to start.")
    return _run(server._p, server, address, on_ready)


def _lite_server(db_path: Path, address: str) -> object:
    """Milvus Lite 2.5's server, whose engine is told the path of the lock this process holds, as milvus_lite does
    for a database opened in-process (at a socket) but not for one served at an address.

    The engine ends itself once the lock is free (measured: within 0.01 s), and the kernel frees the lock when
    this process dies, whatever killed it; without the path, a SIGKILLed `serve` left its engine running."""
    from milvus_lite.server import Server

    class WatchfulServer(Server):
        forgotten = False

        @property
        def args(self) -> list:
            return [*super().args, self._lock_path]

        def forget(self) -> None:
            """After a refused start: close our descriptor of the lock file, and never delete the file (Server.stop,
            also called by __del__, would), since another process may hold it."""
            if self._lock_fd:
                self._lock_fd.close()
                self._lock_fd = None
            self.forgotten = True

        def stop(self) -> None:
            if not self.forgotten:
                super().stop()

    return WatchfulServer(str(db_path), address=address)


def _run(process: subprocess.Popen, server: object | None, address: str, on_ready: Callable[[str], None] | None) -> int:
    import grpc

    try:
        grpc.channel_ready_future(grpc.insecure_channel(address)).result(timeout=READY_TIMEOUT_S)
        if on_ready is not None:
            on_ready(address if address.startswith("unix:") else f"http://{address}")
        return process.wait()
    except grpc.FutureTimeoutError as exc:
        raise StoreConfigError(f"Milvus Lite did not start listening on {address} within {READY_TIMEOUT_S} s.") from exc
    finally:
        if server is not None:
            server.stop()  # releases the lock file and stops the engine
        elif process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
