"""Timing and output helpers every bench script shares: stderr progress, wall time, rounding, ratios."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

T0 = time.perf_counter()


def log(message: str) -> None:
    """Progress on stderr with seconds since the script started, so stdout carries only the JSON."""
    print(f"[{time.perf_counter() - T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def rnd(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else float(round(x, digits))


def ratio(ours: float, raw: float) -> float | None:
    """ours / raw, as the README's targets state them; None when raw took no time."""
    return rnd(ours / raw, 3) if raw > 0 else None


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Anything a library or the engine's child process prints (even from C) goes to stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run_in_workdir(prefix: str, keep: bool, run: Callable[[Path], dict]) -> int:
    """Run a benchmark in a fresh temporary folder with everything it prints sent to stderr, then print its
    result as the one JSON object on stdout; the folder goes afterwards unless `keep` asks to look at it."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    log(f"working in {workdir}")
    try:
        with stdout_to_stderr():
            result = run(workdir)
    finally:
        if keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0
