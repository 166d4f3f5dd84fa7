"""No process outlives its parent: a CLI ingest stopped by SIGTERM, SIGINT or SIGKILL at a random moment leaves
no descendant behind (its embedding worker, multiprocessing's resource tracker, the Milvus Lite engine), and the
next run converges to exactly what an uninterrupted run gives; Ctrl-C prints one line and exits 130."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.cli import main
from core.storage.milvus import MilvusStore
from tests.conftest import BUNDLED_SMALL
from tests.servers import free_port
from tests.worker_ingest import WORKER_MARK

ROOT = Path(__file__).resolve().parents[1]
GONE_WITHIN_S = 5.0
RUN_DEADLINE_S = 240.0  # an ingest that has not finished by then is stuck: the test fails rather than hang
POLL_S = 0.01
DOCUMENTS = 400  # ~830 KB in ~20 batches: with tests.worker_ingest's small batches, a worker embeds them
TAG = "POTION_ORPHAN_TRIAL"  # every descendant inherits the environment, so this finds them once reparented
WORDS = ["wing", "lift", "drag", "stall", "flow", "layer", "pressure", "shock", "wave", "nozzle", "thrust", "blade"]


def write_corpus(folder: Path, version: int) -> None:
    """The same documents each time, their text stamped with `version`: every version changes every document."""
    folder.mkdir(exist_ok=True)
    rng = random.Random(0)
    for i in range(DOCUMENTS):
        body = ". ".join(" ".join(rng.choice(WORDS) for _ in range(12)).capitalize() for _ in range(25))
        (folder / f"r{i:04d}.txt").write_text(f"Report {i}, version {version}. {body}.", encoding="utf-8")


@dataclass
class Run:
    """One CLI run: what it printed, how it ended, and every process descended from it while it ran."""

    returncode: int
    stderr: str
    stdout: str
    seen: dict[tuple[int, int], str] = field(default_factory=dict)  # (pid, start time) -> command line
    left: dict[tuple[int, int], str] = field(default_factory=dict)  # still running GONE_WITHIN_S after the signal
    stage: str = ""  # the progress stage the run was in when it was stopped
    timeline: dict[str, float] = field(default_factory=dict)  # seconds from start: read, worker, exit


def _stat(pid: int) -> tuple[str, int] | None:
    """The state letter and start time of a process, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            found += [int(k) for k in (task / "children").read_text().split()]
    return found


def _descendants(pid: int) -> dict[tuple[int, int], str]:
    found, todo = {}, _children(pid)
    while todo:
        kid = todo.pop()
        stat = _stat(kid)
        if stat is not None:
            try:
                found[(kid, stat[1])] = Path(f"/proc/{kid}/cmdline").read_text().replace("\0", " ")[:160]
            except (FileNotFoundError, ProcessLookupError):
                continue
            todo += _children(kid)
    return found


def _tagged(tag: str) -> dict[tuple[int, int], str]:
    """Every process whose environment carries the trial's tag, wherever it was reparented to."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if f"{TAG}={tag}".encode() in (proc / "environ").read_bytes().split(b"\0"):
                stat = _stat(int(proc.name))
                if stat is not None:
                    found[(int(proc.name), stat[1])] = (proc / "cmdline").read_text().replace("\0", " ")[:160]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return found


def _running(key: tuple[int, int]) -> bool:
    stat = _stat(key[0])
    return stat is not None and stat[1] == key[1] and stat[0] not in "ZX"  # a zombie holds nothing


def _stage(stderr: str) -> str:
    """The last progress stage on stderr (ingest, flush), or "start" before the first."""
    marks = {stage: stderr.rfind(f"{stage}:") for stage in ("ingest", "flush")}
    last = max(marks, key=marks.get)
    return last if marks[last] >= 0 else "start"


def run_cli(folder: Path, library: str, tmp: Path, stop: tuple[signal.Signals, str, float] | None = None, **kw) -> Run:
    """Run the ingest (through tests.worker_ingest, so it starts a worker), recording its process tree; with
    `stop` (signal, anchor, delay), send the signal `delay` s after the anchor: "ingest" (the first progress line)
    or "worker" (a spawned worker appears), then wait for every descendant to be gone."""
    tag = uuid.uuid4().hex
    err_path, out_path = tmp / f"{tag}.err", tmp / f"{tag}.out"
    command = [sys.executable, "-m", "tests.worker_ingest", "ingest", str(folder), "--library", library]
    command += ["--model", BUNDLED_SMALL, *kw.get("extra", ())]
    with open(err_path, "wb") as err, open(out_path, "wb") as out:  # files: an orphan holding a pipe blocks no read
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=err, env={**os.environ, TAG: tag}, **kw.get("popen", {})
        )
    run = Run(0, "", "")
    started = time.monotonic()
    sent_at = None
    while process.poll() is None:
        now = time.monotonic() - started
        assert now < RUN_DEADLINE_S, f"the ingest did not end in {RUN_DEADLINE_S} s: {err_path.read_text()[-400:]}"
        run.seen.update({**_descendants(process.pid), **_tagged(tag)})
        stderr = err_path.read_text(errors="replace")
        if "ingest" not in run.timeline and "ingest:" in stderr:
            run.timeline["ingest"] = now
        if "worker" not in run.timeline and WORKER_MARK in stderr:  # the worker says so: no poll can miss it
            run.timeline["worker"] = now
        if stop is not None and stop[1] in run.timeline and now >= run.timeline[stop[1]] + stop[2]:
            run.stage = _stage(stderr)
            (os.killpg if kw.get("group") else os.kill)(process.pid, stop[0])
            sent_at = time.monotonic()
            break
        time.sleep(POLL_S)  # a bounded poll of the process tree, not synchronisation
    process.wait(timeout=RUN_DEADLINE_S)
    run.timeline["exit"] = time.monotonic() - started
    run.returncode = process.returncode
    if sent_at is not None:
        watched = {**run.seen, **_tagged(tag)}
        while any(_running(k) for k in {**watched, **_tagged(tag)}) and time.monotonic() - sent_at < GONE_WITHIN_S:
            watched.update(_tagged(tag))
            time.sleep(POLL_S)
        run.left = {k: c for k, c in {**watched, **_tagged(tag)}.items() if _running(k)}
        for pid, _ in run.left:  # leave nothing behind for the next test, even when this one fails
            os.kill(pid, signal.SIGKILL)
    run.stderr, run.stdout = err_path.read_text(errors="replace"), out_path.read_text(errors="replace")
    return run


def stored(store: MilvusStore, library: str) -> tuple[int, int, set]:
    index = store.index(library, BUNDLED_SMALL)
    rows = index.chunk_rows()
    assert len({(r["document"], r["chunk"]) for r in rows}) == len(rows), "no chunk may be written twice"
    return index.count(), index.count_documents(), {(d.name, d.doc_hash, d.chunks) for d in index.documents()}


def kill_at_random_moments(tmp_path: Path, trials: int, seed: int) -> None:
    """`trials` CLI ingests, each of a new version of every document, stopped by SIGTERM, SIGINT and SIGKILL in
    turn at seeded random moments; then an uninterrupted re-run must equal an uninterrupted run exactly."""
    folder = tmp_path / "reports"
    write_corpus(folder, version=0)
    reference = run_cli(folder, "Reference", tmp_path, extra=["--json"])
    assert reference.returncode == 0, reference.stderr[-800:]
    assert WORKER_MARK in reference.stderr, reference.stderr[-2000:]
    spans = {a: reference.timeline["exit"] - reference.timeline[a] for a in ("ingest", "worker")}

    rng = random.Random(seed)
    signals = [signal.SIGTERM, signal.SIGINT, signal.SIGKILL]
    expected = {signal.SIGTERM: 143, signal.SIGINT: 130, signal.SIGKILL: -signal.SIGKILL}
    report = []
    for trial in range(trials):
        write_corpus(folder, version=trial + 1)  # every document changed: each trial replaces them all
        sig = signals[trial % 3]
        anchor = rng.choice(["ingest", "worker", "worker"])
        delay = rng.uniform(0, 0.9 * spans[anchor])
        run = run_cli(folder, "Killed", tmp_path, stop=(sig, anchor, delay))
        finished = "documents indexed" in run.stdout  # before the moment came; a signal may still end its exit
        if finished and anchor in run.timeline:
            # The reference run (the first, with cold caches) can be slower than the trials: aim the next moments
            # inside the span a trial really takes, so that most of them still land while the ingest runs.
            spans[anchor] = min(spans[anchor], run.timeline["exit"] - run.timeline[anchor])
        report.append((sig.name, anchor, round(delay, 2), "finished" if finished else run.stage, run.returncode))
        assert run.left == {}, f"trial {trial} ({sig.name} {delay:.2f} s after {anchor}, {run.stage}) left {run.left}"
        assert run.returncode in ((0, -sig) if finished else (expected[sig],)), (report[-1], run.stderr[-800:])
        if sig != signal.SIGKILL and not finished:
            lines = [line for line in run.stderr.replace("\r", "\n").splitlines() if line.startswith("error")]
            assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr[-800:]
    print("trials (signal, anchor, delay s, stage, exit):", report)
    stopped = sum(1 for r in report if r[3] != "finished")
    assert stopped >= trials * 2 // 3, f"most trials must stop a running ingest: {report}"

    write_corpus(folder, version=0)
    rerun = run_cli(folder, "Killed", tmp_path, extra=["--json"])
    assert rerun.returncode == 0, rerun.stderr[-800:]
    summary = json.loads(rerun.stdout)
    assert summary["documents_indexed"] + summary["documents_unchanged"] == DOCUMENTS
    store = MilvusStore()
    try:
        assert stored(store, "Killed") == stored(store, "Reference")
        assert stored(store, "Killed")[1] == DOCUMENTS
    finally:
        store.close()


def test_an_ingest_stopped_by_any_signal_at_random_moments_leaves_no_process_and_converges(tmp_path):
    kill_at_random_moments(tmp_path, trials=6, seed=17)


@pytest.mark.long
def test_twenty_one_stops_at_random_moments_leave_no_process_and_converge(tmp_path):
    kill_at_random_moments(tmp_path, trials=21, seed=1917)


def test_ctrl_c_in_the_terminal_prints_one_line_and_exits_130(tmp_path):
    # A terminal sends Ctrl-C to its whole foreground group: the CLI, its worker, its engine alike.
    folder = tmp_path / "reports"
    write_corpus(folder, version=0)
    stop = (signal.SIGINT, "worker", 0.3)
    run = run_cli(folder, "Interrupted", tmp_path, stop=stop, extra=["--quiet"], popen={"start_new_session": True})
    assert run.left == {}
    assert run.returncode == 130, run.stderr
    # The worker's mark is tests.worker_ingest's own; the CLI itself prints one line.
    printed = [line for line in run.stderr.strip().splitlines() if not line.startswith(WORKER_MARK)]
    assert printed == ["error: interrupted; run the same command again to finish (it resumes where it stopped)."]


def test_a_killed_serve_takes_its_engine_with_it(tmp_path):
    for sig in (signal.SIGKILL, signal.SIGINT):
        tag = uuid.uuid4().hex
        command = [sys.executable, "-m", "core", "serve", "--db", str(tmp_path / "srv.db"), "--port", str(free_port())]
        server = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, TAG: tag}
        )
        try:
            assert "listening on" in server.stdout.readline()
            engines = _descendants(server.pid)
            assert any("milvus" in c for c in engines.values()), engines
            server.send_signal(sig)
            server.wait(timeout=60)
            sent = time.monotonic()
            while any(_running(k) for k in _tagged(tag)) and time.monotonic() - sent < GONE_WITHIN_S:
                time.sleep(POLL_S)
            left = {k: c for k, c in _tagged(tag).items() if _running(k)}
            for pid, _ in left:
                os.kill(pid, signal.SIGKILL)
            assert left == {}, f"{sig.name} of serve left {left}"
            if sig == signal.SIGINT:
                assert server.returncode == 130
                assert server.stderr.read().strip().splitlines() == [
                    "error: interrupted; run the same command again to finish (it resumes where it stopped)."
                ]
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()


def test_a_stop_signal_while_a_command_runs_ends_it_with_one_line_and_128_plus_the_signal(monkeypatch, capsys):
    import core.cli
    import core.lifetime

    def interrupted(args, settings):
        raise KeyboardInterrupt

    monkeypatch.setattr(core.cli, "cmd_libraries", interrupted)
    assert main(["libraries"]) == 130
    assert capsys.readouterr().err == (
        "error: interrupted; run the same command again to finish (it resumes where it stopped).\n"
    )

    def stopped_then_failed(args, settings):  # the engine went with the same signal, so the clean-up failed too
        core.lifetime._received.append(signal.SIGTERM)
        try:
            raise core.lifetime.Stopped(signal.SIGTERM)
        finally:
            raise RuntimeError("Fail connecting to server")

    monkeypatch.setattr(core.lifetime, "_received", [])
    monkeypatch.setattr(core.cli, "cmd_libraries", stopped_then_failed)
    assert main(["libraries"]) == 143
    assert capsys.readouterr().err.splitlines() == [
        "error: stopped by SIGTERM; run the same command again to finish (it resumes where it stopped)."
    ]
