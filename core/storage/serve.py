"""Serve a Milvus Lite database over gRPC, so the app and any number of CLI runs can share it via MILVUS_URI."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from core.errors import StoreConfigError, StoreLockedError
from core.storage.connection import lite_version

READY_TIMEOUT_S = 60


def serve(db_path: Path, port: int, host: str = "127.0.0.1", on_ready: Callable[[str], None] | None = None) -> int:
    """Run the installed Milvus Lite engine on `db_path` at host:port until it stops; returns its exit code."""
    address = f"{host}:{port}"
    # SIGTERM would end this process without running the `finally` below, leaving the engine running
    # (orphaned) with the database open; turning it into SystemExit stops the engine first.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    if lite_version()[0] >= 3:
        cli = shutil.which("milvus-lite", path=str(Path(sys.executable).parent)) or "milvus-lite"
        process = subprocess.Popen([cli, "server", "--data-dir", str(db_path), "--host", host, "--port", str(port)])
        return _run(process, None, address, on_ready)
    from milvus_lite.server import Server

    try:
        server = Server(str(db_path), address=address)
    except RuntimeError as exc:  # the engine's own check of the file name
        raise StoreConfigError(f"Cannot serve {db_path}: {exc}.") from exc
    db_path.parent.mkdir(parents=True, exist_ok=True)
    if not server.init() or not server.start():
        raise StoreLockedError(f"Cannot serve {db_path}: another process has it open, or the engine failed to start.")
    return _run(server._p, server, address, on_ready)


def _run(process: subprocess.Popen, server: object | None, address: str, on_ready: Callable[[str], None] | None) -> int:
    import grpc

    try:
        grpc.channel_ready_future(grpc.insecure_channel(address)).result(timeout=READY_TIMEOUT_S)
        if on_ready is not None:
            on_ready(f"http://{address}")
        return process.wait()
    except grpc.FutureTimeoutError as exc:
        raise StoreConfigError(f"Milvus Lite did not start listening on {address} within {READY_TIMEOUT_S} s.") from exc
    finally:
        if server is not None:
            server.stop()  # releases the lock file and stops the engine
        elif process.poll() is None:
            process.terminate()
            process.wait(timeout=30)
