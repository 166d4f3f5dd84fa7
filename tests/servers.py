"""Start a server process for a test and know when it is ready, from what it prints (never by sleeping)."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest


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
