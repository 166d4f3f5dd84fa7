"""Start a server process for a test and know when it is ready, from what it prints (never by sleeping).

Two servers are shared by every test of a session that asks for them: `python -m core serve` (the pinned Lite
engine over gRPC) and a genuine Milvus 2.3 standalone (PyPI package `milvus`, its `milvus-server`) in a venv of
its own under .venv-milvus-server, made once (POTION_MILVUS_SERVER names an installed milvus-server instead).
Without the package index the standalone's tests are skipped, saying why."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STANDALONE_PACKAGE = "milvus==2.3.5"
STANDALONE_VENV = ROOT / ".venv-milvus-server"
STANDALONE_READY = "Welcome to use Milvus!"  # printed once the server's health check answers OK


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(command: Sequence[str], ready_text: str, **popen_kwargs) -> Iterator[subprocess.Popen]:
    """Run `command` until the block ends; yield once a line of its output contains `ready_text`."""
    server = subprocess.Popen(
        [str(part) for part in command], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen_kwargs
    )
    try:
        for line in server.stdout:
            if ready_text in line:
                break
        else:
            pytest.fail(f"{command[0]} exited before printing {ready_text!r}")
        # Keep reading what it prints, or a full pipe would block the server mid-test.
        threading.Thread(target=lambda: server.stdout.read(), daemon=True).start()
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def standalone_executable() -> Path:
    named = os.environ.get("POTION_MILVUS_SERVER")
    if named:
        return Path(named)
    executable = STANDALONE_VENV / "bin" / "milvus-server"
    if not executable.exists():
        made = subprocess.run([sys.executable, "-m", "venv", str(STANDALONE_VENV)], capture_output=True, text=True)
        python = str(STANDALONE_VENV / "bin" / "python")
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        installed = made.returncode == 0 and subprocess.run([*pip, STANDALONE_PACKAGE], capture_output=True, text=True)
        if not installed or installed.returncode != 0:
            reason = (installed.stderr if installed else made.stderr)[-300:]
            pytest.skip(f"could not install {STANDALONE_PACKAGE} into {STANDALONE_VENV}: {reason}")
    return executable


@pytest.fixture(scope="session")
def standalone_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Milvus 2.3 standalone on a free port, for the whole session."""
    data, port = tmp_path_factory.mktemp("milvus-standalone"), free_port()
    command = [str(standalone_executable()), "--data", str(data), "--proxy-port", str(port)]
    # Its own session: milvus-server starts the real server as a child, and teardown must stop both. The server's
    # graceful stop can outlive milvus-server by minutes, holding etcd's fixed peer port (2380) against the next
    # run, so the whole group is killed: its data dir is thrown away anyway.
    with serve(command, STANDALONE_READY, start_new_session=True) as server:
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)


@contextmanager
def serve_database(db: Path) -> Iterator[str]:
    """`python -m core serve` on `db` and a free port, until the block ends; yields its MILVUS_URI."""
    port = free_port()
    command = [sys.executable, "-m", "core", "serve", "--db", db, "--port", port]
    with serve(command, ready_text="listening on", cwd=ROOT):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def served_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m core serve` for the whole session."""
    with serve_database(tmp_path_factory.mktemp("served") / "served.db") as uri:
        yield uri
