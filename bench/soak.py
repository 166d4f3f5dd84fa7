"""A soak under faults (issue 17, item 3): app sessions and a CLI ingest loop for `--minutes`, with a fault injected
every `--fault-every` seconds in rotation, then one JSON object on stdout (logs on stderr).

    .venv/bin/python bench/soak.py > bench/results/soak.json                 # 10 minutes, a fault a minute
    .venv/bin/python bench/soak.py --minutes 1 --fault-every 15              # one fault of each kind

What runs, all started here and all stopped here (Ctrl-C included):

- the app: one process (as `streamlit run` is one process) holding the Milvus Lite database `app.db` in-process, its
  embedded `milvus` engine a child of it, with `--sessions` AppTest sessions in threads, each searching, judging and
  comparing on the library `Samples` (the bundled sample documents, indexed with both bundled models). AppTest is
  not thread-safe (measured: two runs at once swap Streamlit's global Runtime under each other and fail with
  "Runtime hasn't been created!"), so the sessions take turns, one page run at a time, in one process: the engine,
  the store and the caches they share are the app's own;
- `python -m core serve` on another Lite database, `served.db`;
- a CLI ingest loop: `python -m core ingest` (through tests.worker_ingest, which forces the spawned embedding worker
  a large ingest uses, so a killed CLI has the process tree of a large one) of the next batch of a corpus into the
  library `Ingest`, through serve's MILVUS_URI; a run that did not finish is run again until it does. The corpus is
  SciFact from the shared collections (POTION_SHARED_DATASETS, or ../shared/datasets beside the clone, as the tests
  look for it), 100 records a batch, or `--corpus synthetic` where it is not there.

Why two databases: a Lite file is open in one process at a time and the product shares one through `serve`; but an
engine under `serve` that dies takes `serve` with it, and the app's own recovery (the engine started again in
process, one notice per session) only exists for a database the app holds. So each fault hits the part that must
survive it:

- engine: the app's `milvus` engine SIGKILLed (as the OOM killer would);
- cli: the running CLI ingest SIGKILLed once it is writing (its progress shows stage "ingest");
- serve: `serve` stopped (SIGTERM) and started again on the same port and database.

Goals, as the issue states them: 0 errors other than the one-line restart notices; the ingest library exactly equal
to a fault-free ingest of the same batches (made at the end, through the same serve, into `Reference`); 0 orphaned
processes (every process started here carries an environment tag, so one reparented to init is still found; and
any `milvus` engine on our files not owned by a live process of ours); the app's RSS at the end within 20% of its
RSS after 1 minute; search p99 reported during fault windows (the `--window` s after each fault) and outside them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from machine import loadavg, machine_info  # noqa: E402
from measure import log, rnd  # noqa: E402

from core.ingest.pipeline import INGEST_STAGE  # noqa: E402

TAG = "POTION_SOAK_TAG"  # inherited by every descendant: finds them wherever they were reparented to
RUN_TAG = "POTION_SOAK_RUN"  # one per CLI run: what a killed run left behind
FAULTS = ("engine", "cli", "serve")
LIBRARY, INGEST, REFERENCE = "Samples", "Ingest", "Reference"
APP_MODELS = ("minilm-wordnet-256", "minilm-static-64")  # the first is the app's default: the Search page searches it
CLI_MODEL = "minilm-static-64"
# Where the tests look for the shared collections (tests/conftest.py): beside the clone, or POTION_SHARED_DATASETS.
SHARED = Path(os.environ.get("POTION_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
SCIFACT = SHARED / "scifact" / "corpus.jsonl"
GONE_WITHIN_S = 5.0  # issue 17: no descendant of a killed CLI left after this
READY_TIMEOUT_S = 120.0
POLL_S = 0.05
QUERIES = [
    "Where was Alan Turing born?",
    "how do volcanoes erupt",
    "which clouds bring rain",
    "lift and drag on a wing",
    "when was artificial intelligence founded",
    "how to grow tomatoes in a vegetable garden",
    "reset my password",
    "a recipe with flour and cheese",
    "the lighthouse keeper at night",
    "stars and planets of the solar system",
    "climate change and the weather",
    "stall at high angle of attack",
]


# --- processes -------------------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, int] | None:
    """State letter, parent pid and start time of a process; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in "ZX"  # a zombie holds nothing


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    return ""


def tagged(name: str, value: str) -> dict[int, str]:
    """Every live process whose environment holds name=value, with its command line."""
    wanted, found = f"{name}={value}".encode(), {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if wanted in (proc / "environ").read_bytes().split(b"\0") and _alive(int(proc.name)):
                found[int(proc.name)] = _cmdline(int(proc.name))[:200]
        except OSError:
            continue
    return found


def engines_on(folder: Path) -> dict[int, int]:
    """Every `milvus` engine whose command line names a file under `folder`: pid -> parent pid."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        command = _cmdline(int(proc.name))
        stat = _stat(int(proc.name))
        if stat and stat[0] not in "ZX" and command.split(" ")[0].endswith("/milvus") and str(folder) in command:
            found[int(proc.name)] = stat[1]
    return found


def rss_mb(pid: int) -> float | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def kill_and_wait(pid: int, sig: int = signal.SIGKILL, timeout: float = 30.0) -> bool:
    """Send `sig` and return whether the process ended within `timeout` (its pidfd turns readable)."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        os.kill(pid, sig)
        return bool(select.select([handle], [], [], timeout)[0])
    except ProcessLookupError:
        return True
    finally:
        os.close(handle)


def die_with_us() -> Callable[[], None] | None:
    """Popen's preexec_fn: the child is SIGKILLed should the soak die without cleaning up (SIGKILL, OOM)."""
    from core.lifetime import die_with_parent

    return die_with_parent()


# --- the app: sessions taking turns in one process -------------------------------------------------------------


def app_host(events_path: Path, sessions: int, seed: int) -> int:
    """Run `sessions` AppTest sessions until stdin closes; one JSON line per page action to `events_path`."""
    from core.lifetime import stop_on_signals

    stop_on_signals()
    stop = threading.Event()
    turn = threading.Lock()  # one AppTest run at a time: AppTest swaps Streamlit's global Runtime per run
    write = threading.Lock()
    out = events_path.open("a", encoding="utf-8")

    def emit(event: dict) -> None:
        with write:
            out.write(json.dumps(event) + "\n")
            out.flush()

    def watch_stdin() -> None:
        sys.stdin.read()  # EOF: the soak is over, or the soak died
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()

    from core.config import load_settings
    from pages import shared
    from pages.shared import RESTARTED_NOTICE
    from tests.apptest_helpers import COMPARE, COMPARE_SUBMIT, SEARCH, SEARCH_SUBMIT, hit_headers, new_app

    shared.store(load_settings())  # opened once for every session, as the first request of a Streamlit server does

    def session(number: int) -> None:
        rng = random.Random(seed * 100 + number)
        at = None
        plan = ["search", "judge", "search", "compare"]
        step = 0
        seen: dict[str, list[str]] = {}  # what the page runs of the current action showed

        def ran(app) -> None:
            """After every page run of an action (a comparison is three): a toast or an error shows in one run."""
            seen["exceptions"] += [str(e.value)[:600] for e in app.exception]
            seen["errors"] += [str(e.value) for e in app.error]
            seen["toasts"] += [str(t.value) for t in app.toast]

        def act(kind: str, do) -> None:
            nonlocal at
            started = time.time()
            seen.update(errors=[], exceptions=[], toasts=[])
            with turn:
                began = time.perf_counter()
                try:
                    do()
                except Exception as exc:  # the harness could not do the action: the page was not what it expects
                    seen["exceptions"].append("".join(traceback.format_exception(exc))[-1200:])
                seconds = time.perf_counter() - began
            emit(
                {
                    "session": number,
                    "kind": kind,
                    "start": started,
                    "end": time.time(),
                    "seconds": seconds,
                    "errors": seen["errors"],
                    "exceptions": seen["exceptions"],
                    "notices": [n for n in seen["toasts"] if n == RESTARTED_NOTICE],
                    "other_toasts": [n for n in seen["toasts"] if n != RESTARTED_NOTICE],
                }
            )
            if seen["exceptions"]:  # start the session again: a fresh browser tab
                at = None

        def go(page: str) -> None:
            ran(at.switch_page(str(ROOT / page)).run())

        def opened() -> None:
            nonlocal at
            at = new_app()
            ran(at.run())
            go(SEARCH)

        def search() -> None:
            at.main.text_input(key="search_query").input(f"{rng.choice(QUERIES)} {rng.randrange(10_000)}")
            ran(at.main.button(key=SEARCH_SUBMIT).click().run())
            if not at.exception and not at.error and not hit_headers(at):
                raise AssertionError("a search showed no hits")

        def judge() -> None:
            ran(at.main.button(key=rng.choice(["judge-yes-1", "judge-no-2"])).click().run())

        def compare() -> None:
            go(COMPARE)
            at.main.text_input(key="compare_query").input(rng.choice(QUERIES))
            ran(at.main.button(key=COMPARE_SUBMIT).click().run())
            if not at.exception and not at.error and not [c for c in at.main.columns if c.subheader]:
                raise AssertionError("a comparison showed no columns")
            go(SEARCH)

        while not stop.is_set():
            if at is None:
                act("open", opened)
                continue
            kind = plan[step % len(plan)]
            if kind == "judge" and not hit_headers(at):
                kind = "search"  # nothing to judge on this page yet
            act(kind, {"search": search, "judge": judge, "compare": compare}[kind])
            step += 1

    threads = [threading.Thread(target=session, args=(n,), name=f"session-{n}") for n in range(sessions)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        stop.set()
    finally:
        out.close()
        with contextlib.suppress(Exception):
            shared.store(load_settings()).close()
    return 0


# --- the soak --------------------------------------------------------------------------------------------------


@dataclass
class Soak:
    workdir: Path
    tag: str
    env: dict
    port: int
    uri: str
    t0: float = field(default_factory=time.time)
    serve: subprocess.Popen | None = None
    app: subprocess.Popen | None = None
    cli: subprocess.Popen | None = None
    cli_stderr: Path | None = None
    cli_lock: threading.Lock = field(default_factory=threading.Lock)
    serve_up: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    faults: list = field(default_factory=list)  # {kind, at, detail}
    cli_runs: list = field(default_factory=list)  # {batch, start, end, returncode, error, killed, left}
    cli_killed: set = field(default_factory=set)  # pids this soak SIGKILLed
    ingested: list = field(default_factory=list)  # batch files attempted, in order
    notes: list = field(default_factory=list)

    def since(self) -> float:
        return time.time() - self.t0


def popen(command: list, env: dict, **kwargs) -> subprocess.Popen:
    # Killed with the soak even when it is SIGKILLed; it must be started from a thread that lives as long as it.
    return subprocess.Popen([str(c) for c in command], cwd=ROOT, env=env, preexec_fn=die_with_us(), **kwargs)


def run_cli(args: list, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *[str(a) for a in args]], cwd=ROOT, env=env, capture_output=True, text=True
    )


def start_serve(soak: Soak) -> None:
    log(f"serve on port {soak.port}")
    out = (soak.workdir / "serve.log").open("ab")
    command = [sys.executable, "-m", "core", "serve", "--db", soak.workdir / "served.db", "--port", soak.port]
    soak.serve = popen(command, soak.env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if "listening on" in (soak.workdir / "serve.log").read_text(errors="replace").split("serve on")[-1]:
            break
        if soak.serve.poll() is not None:
            raise RuntimeError(f"serve exited: {(soak.workdir / 'serve.log').read_text()[-800:]}")
        time.sleep(POLL_S)  # a bench polling a log it cannot be told about otherwise
    else:
        raise RuntimeError("serve did not listen in time")
    soak.serve_up.set()


def stop_serve(soak: Soak) -> None:
    soak.serve_up.clear()
    if soak.serve is not None and soak.serve.poll() is None:
        soak.serve.terminate()
        try:
            soak.serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            soak.serve.kill()
            soak.serve.wait()
    with (soak.workdir / "serve.log").open("a") as marker:
        marker.write("\nserve on (restarting)\n")  # start_serve waits for "listening on" after this mark


def batches(corpus: Path | None, workdir: Path, per_batch: int, limit: int | None) -> list[Path]:
    """The corpus cut into JSONL files of `per_batch` records (named batch-NNN.jsonl, so documents are named
    batch-NNN.jsonl#id); with no corpus, a synthetic one."""
    folder = workdir / "batches"
    folder.mkdir()
    if corpus is not None:
        records = [line for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        rng = random.Random(0)
        words = ["wing", "lift", "drag", "stall", "flow", "layer", "pressure", "shock", "wave", "nozzle", "heat"]
        records = [
            json.dumps(
                {
                    "id": f"r{i}",
                    "title": f"Report {i}",
                    "text": ". ".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(40)),
                }
            )
            for i in range(2_000)
        ]
    if limit:
        records = records[:limit]
    files = []
    for number, start in enumerate(range(0, len(records), per_batch)):
        path = folder / f"batch-{number:03d}.jsonl"
        path.write_text("\n".join(records[start : start + per_batch]) + "\n", encoding="utf-8")
        files.append(path)
    return files


def ingest_loop(soak: Soak, files: list[Path]) -> None:
    """Ingest batch after batch through serve; a run that did not finish runs again until it does. After the last
    batch, start over: re-ingesting must add nothing."""
    env = {**soak.env, "MILVUS_URI": soak.uri}
    position = 0
    while not soak.stopping.is_set():
        batch = files[position % len(files)]
        if batch not in soak.ingested:
            soak.ingested.append(batch)
        while True:
            soak.serve_up.wait()
            run = uuid.uuid4().hex
            err = soak.workdir / "cli" / f"{run}.err"
            err.parent.mkdir(exist_ok=True)
            command = [sys.executable, "-m", "tests.worker_ingest", "ingest", batch, "--library", INGEST]
            command += ["--model", CLI_MODEL, "--json"]
            record = {"batch": batch.name, "start": time.time()}
            out = soak.workdir / "cli" / f"{run}.out"
            with err.open("wb") as stderr, out.open("wb") as stdout, soak.cli_lock:
                process = popen(command, {**env, RUN_TAG: run}, stdout=stdout, stderr=stderr)
                soak.cli, soak.cli_stderr = process, err
            code = process.wait()
            pid = process.pid
            with soak.cli_lock:
                soak.cli = None
            text = err.read_text(errors="replace")
            lines = [line for line in text.replace("\r", "\n").splitlines() if line.startswith("error")]
            record.update(end=time.time(), returncode=code, killed=pid in soak.cli_killed, run=run)
            record["error"] = lines[-1] if lines else (text.strip().splitlines() or [""])[-1][:400] if code else ""
            record["traceback"] = "Traceback" in text
            soak.cli_runs.append(record)
            if code in (0, 3):
                break
            log(f"cli {batch.name}: exit {code}{' (killed)' if record['killed'] else ''} {record['error'][:160]}")
        position += 1


def kill_engine(soak: Soak) -> dict:
    engines = [pid for pid, parent in engines_on(soak.workdir).items() if parent == soak.app.pid]
    if not engines:
        return {"skipped": "the app had no engine running"}
    ended = kill_and_wait(engines[0])
    return {"pid": engines[0], "ended": ended}


def is_writing(stderr: Path) -> bool:
    """Whether a CLI ingest has reached its writing stage: files given by path are read as they are indexed, under
    the progress stage core.ingest.pipeline.INGEST_STAGE."""
    return f"{INGEST_STAGE}:" in stderr.read_text(errors="replace")


def kill_cli(soak: Soak) -> dict:
    """SIGKILL the running CLI as soon as it is writing (its progress shows the index stage); a run that ended
    before the signal landed does not count, and the next one is tried."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not soak.stopping.is_set():
        with soak.cli_lock:
            process, err = soak.cli, soak.cli_stderr
        if process is not None and process.poll() is None and is_writing(err):
            tag = _run_tag(process.pid)
            soak.cli_killed.add(process.pid)
            kill_and_wait(process.pid)
            if process.wait() == -signal.SIGKILL:
                break
            soak.cli_killed.discard(process.pid)  # it had finished already
        time.sleep(POLL_S)  # a bench watching a child's progress file
    else:
        return {"skipped": "no CLI run was caught writing within 120 s"}
    # Whatever that run started (its embedding worker, multiprocessing's resource tracker) must be gone soon.
    started = time.monotonic()
    left = tagged(RUN_TAG, tag) if tag else {}
    while left and time.monotonic() - started < GONE_WITHIN_S:
        time.sleep(POLL_S)
        left = tagged(RUN_TAG, tag)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return {"pid": process.pid, "left_after_5s": left}


def _run_tag(pid: int) -> str:
    with contextlib.suppress(OSError):
        for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            if item.startswith(f"{RUN_TAG}=".encode()):
                return item.split(b"=", 1)[1].decode()
    return ""


def restart_serve(soak: Soak) -> dict:
    """Stop `serve` and start it again on the same port and database, while a CLI ingest writes through it if one
    can be caught writing within 60 s (so the restart interrupts a write, not an idle server)."""
    deadline = time.monotonic() + 60
    writing = False
    while time.monotonic() < deadline and not soak.stopping.is_set() and not writing:
        with soak.cli_lock:
            process, err = soak.cli, soak.cli_stderr
        writing = process is not None and process.poll() is None and is_writing(err)
        if not writing:
            time.sleep(POLL_S)  # a bench watching a child's progress file
    began = time.monotonic()
    stop_serve(soak)
    start_serve(soak)
    return {"cli_was_writing": writing, "down_seconds": rnd(time.monotonic() - began, 2)}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def latency(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50_ms": rnd(percentile(values, 0.5) * 1000, 1) if values else None,
        "p99_ms": rnd(percentile(values, 0.99) * 1000, 1) if values else None,
        "max_ms": rnd(max(values) * 1000, 1) if values else None,
    }


def library_state(env: dict, library: str) -> dict:
    listed = run_cli(["documents", "--library", library, "--model", CLI_MODEL, "--json"], env)
    if listed.returncode != 0:
        return {"error": listed.stderr.strip()[-400:]}
    documents = json.loads(listed.stdout)
    return {
        "documents": len(documents),
        "chunks": sum(d["chunks"] for d in documents),
        "by_document": {d["document"]: d["chunks"] for d in documents},
    }


def explain_app_event(event: dict, windows: list[tuple[str, float, float]]) -> list[str]:
    """The unexplained errors of one page action: any exception, and any error message that is not the one line
    an engine restart explains (a write interrupted by it) in an action that ran into an engine fault's window: one
    begun just before the kill is the one whose save the kill interrupts."""
    unexplained = [f"session {event['session']} {event['kind']}: {e}" for e in event["exceptions"][:1]]
    during = overlaps(event, windows, "engine")
    for message in event["errors"]:
        restart_line = "has been started again" in message and "\n" not in message
        if not (restart_line and during):
            unexplained.append(f"session {event['session']} {event['kind']}: {message}")
    return unexplained


def is_unavailable_line(message: str, uri: str) -> bool:
    """The one line a client gets while serve is down: on opening ("nothing answers there") or once open
    ("is not answering"), both naming the URI."""
    return uri in message and ("is not answering" in message or "nothing answers there" in message)


def overlaps(event: dict, windows: list[tuple[str, float, float]], kind: str) -> bool:
    """Whether the action's span (from its start to its end, waits for the session's turn included) meets a window."""
    end = event.get("end", event["start"] + event["seconds"])
    return any(fault == kind and event["start"] <= stop and end >= start for fault, start, stop in windows)


def in_window(moment: float, windows: list[tuple[str, float, float]], kind: str | None = None) -> str | None:
    for fault, start, end in windows:
        if start <= moment <= end and (kind is None or fault == kind):
            return fault
    return None


def run_soak(args: argparse.Namespace, workdir: Path) -> dict:
    tag = uuid.uuid4().hex
    env = {**os.environ, TAG: tag, "HF_HUB_OFFLINE": "1", "POTION_DATA_DIR": str(workdir)}
    env["POTION_DB_PATH"] = str(workdir / "app.db")
    env.pop("MILVUS_URI", None)
    # The faults are those of the app's own engine, a child of its process; a kept engine's comeback is tested in
    # tests/test_kept_engine.py.
    env["POTION_KEEP_ENGINE_MINUTES"] = "0"
    from tests.servers import free_port

    port = free_port()
    soak = Soak(workdir, tag, env, port, f"http://127.0.0.1:{port}")
    result: dict = {"machine": machine_info(), "minutes": args.minutes, "fault_every_s": args.fault_every}
    try:
        log("indexing the sample documents into the app's database")
        for model in APP_MODELS:
            made = run_cli(["ingest", ROOT / "data/samples/docs", "--library", LIBRARY, "--model", model], env)
            if made.returncode != 0:
                raise RuntimeError(f"indexing the samples failed: {made.stderr[-600:]}")
        corpus = None if args.corpus == "synthetic" else Path(args.corpus)
        files = batches(corpus, workdir, args.batch_docs, args.limit_docs)
        result["ingest_corpus"] = {"source": str(corpus or "synthetic"), "batches": len(files)}
        start_serve(soak)
        events_path = workdir / "app-events.jsonl"
        log(f"the app: {args.sessions} sessions")
        app_command = [sys.executable, BENCH / "soak.py", "--app-host", events_path, "--sessions", args.sessions]
        app_err = (workdir / "app.err").open("ab")  # read at the end: a traceback there is an error too
        soak.app = popen([*app_command, "--seed", args.seed], env, stdin=subprocess.PIPE, stderr=app_err)
        soak.t0 = time.time()
        loop = threading.Thread(target=ingest_loop, args=(soak, files), name="ingest-loop", daemon=True)
        loop.start()

        rss_by_minute, loads = [], []  # the app's RSS and the load average at each whole minute
        end = time.monotonic() + args.minutes * 60
        next_fault = time.monotonic() + args.fault_every
        number = 0
        while time.monotonic() < end:
            if soak.app.poll() is not None:
                said = (workdir / "app.err").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"the app process exited with {soak.app.returncode}: {said}")
            if soak.since() >= 60 * (len(rss_by_minute) + 1):
                rss_by_minute.append(rss_mb(soak.app.pid))
                loads.append(loadavg())
            if time.monotonic() >= next_fault:
                kind = FAULTS[number % len(FAULTS)]
                at = time.time()
                log(f"fault {number + 1}: {kind}")
                detail = {"engine": kill_engine, "cli": kill_cli, "serve": restart_serve}[kind](soak)
                soak.faults.append({"kind": kind, "at": at, "offset_s": rnd(at - soak.t0, 1), **detail})
                log(f"fault {number + 1}: {kind} {detail}")
                number += 1
                next_fault += args.fault_every
            time.sleep(0.5)  # the bench's fault clock, not synchronisation of what it measures
        rss = {"after_1_min_mb": rss_by_minute[0] if rss_by_minute else None, "end_mb": rss_mb(soak.app.pid)}
        rss["by_minute_mb"] = rss_by_minute
        loads.append(loadavg())

        log("stopping: the app's sessions end, the ingest loop finishes its batch")
        soak.stopping.set()
        soak.app.stdin.close()
        soak.app.wait(timeout=300)
        loop.join(timeout=600)
        if loop.is_alive():
            raise RuntimeError("the ingest loop did not finish its last batch in 10 minutes")

        log("the fault-free reference: the same batches, once, through the same serve")
        served = {**env, "MILVUS_URI": soak.uri}
        reference = subprocess.run(
            [sys.executable, "-m", "core", "ingest", *soak.ingested, "--library", REFERENCE, "--model", CLI_MODEL],
            cwd=ROOT,
            env=served,
            capture_output=True,
            text=True,
        )
        if reference.returncode != 0:
            raise RuntimeError(f"the reference ingest failed: {reference.stderr[-600:]}")
        got, want = library_state(served, INGEST), library_state(served, REFERENCE)
        result.update(summarise(soak, workdir / "app-events.jsonl", args.window, got, want, rss, loads))
    finally:
        result["cleanup"] = clean_up(soak)
    return result


def summarise(soak: Soak, events_path: Path, window: float, got: dict, want: dict, rss: dict, loads: list) -> dict:
    windows = [(f["kind"], f["at"], f["at"] + window) for f in soak.faults if "skipped" not in f]
    app_err = (soak.workdir / "app.err").read_text(errors="replace")
    tracebacks = [block.strip()[-600:] for block in app_err.split("Traceback (most recent call last):")[1:]]
    events = [json.loads(line) for line in events_path.read_text().splitlines() if line.strip()]
    operations: dict[str, int] = {}
    unexplained: list[str] = [f"app process stderr: Traceback {t}" for t in tracebacks]
    explained: dict[str, int] = {"restart_notices": 0, "engine_restart_lines": 0, "serve_unavailable_lines": 0}
    searches: dict[str, list[float]] = {"outside_faults": [], "during_faults": [], **{k: [] for k in FAULTS}}
    for event in events:
        failed = bool(event["exceptions"] or event["errors"])
        operations[f"app_{event['kind']}"] = operations.get(f"app_{event['kind']}", 0) + (not failed)
        explained["restart_notices"] += len(event["notices"])
        problems = explain_app_event(event, windows)
        unexplained += problems
        if event["kind"] == "search" and not failed:
            fault = in_window(event["start"], windows)
            searches["during_faults" if fault else "outside_faults"].append(event["seconds"])
            if fault:
                searches[fault].append(event["seconds"])
    explained["engine_restart_lines"] = sum(
        1 for e in events for m in e["errors"] if "has been started again" in m and overlaps(e, windows, "engine")
    )
    notices_by_session: dict[int, int] = {}
    for event in events:
        notices_by_session[event["session"]] = notices_by_session.get(event["session"], 0) + len(event["notices"])
    engine_kills = sum(1 for f in soak.faults if f["kind"] == "engine" and "skipped" not in f)
    for session, count in notices_by_session.items():
        if count > engine_kills:
            unexplained.append(f"session {session}: {count} restart notices for {engine_kills} engine kills")

    cli = {"runs": len(soak.cli_runs), "completed": 0, "killed_by_fault": 0, "stopped_by_serve_restart": 0}
    for run in soak.cli_runs:
        if run["returncode"] in (0, 3):
            cli["completed"] += 1
        elif run["killed"]:
            cli["killed_by_fault"] += 1
        elif (
            "is not answering" in run["error"]
            and not run["traceback"]
            and any(f["kind"] == "serve" and run["start"] - 1 <= f["at"] <= run["end"] for f in soak.faults)
        ):
            cli["stopped_by_serve_restart"] += 1
            explained["serve_unavailable_lines"] += 1
        else:
            unexplained.append(f"cli {run['batch']} exit {run['returncode']}: {run['error']}")
    operations.update({f"cli_{k}": v for k, v in cli.items() if k != "runs"})
    operations["cli_runs"] = cli["runs"]
    operations["batches_ingested"] = len(soak.ingested)

    exact = "error" not in got and "error" not in want and got == want
    mismatched = {}
    if not exact and "by_document" in got and "by_document" in want:
        names = set(got["by_document"]) | set(want["by_document"])
        mismatched = {
            n: [got["by_document"].get(n), want["by_document"].get(n)]
            for n in sorted(names)
            if got["by_document"].get(n) != want["by_document"].get(n)
        }
    growth = (
        rnd(rss["end_mb"] / rss["after_1_min_mb"] - 1, 3) if rss.get("after_1_min_mb") and rss.get("end_mb") else None
    )
    return {
        "operations": operations,
        "faults": [{k: v for k, v in f.items() if k != "at"} for f in soak.faults],
        "faults_by_kind": {k: sum(1 for f in soak.faults if f["kind"] == k and "skipped" not in f) for k in FAULTS},
        "errors": {"unexplained": len(unexplained), "messages": unexplained[:50], "explained": explained},
        "restart_notices_by_session": notices_by_session,
        "counts": {
            "ingest": {k: got.get(k) for k in ("documents", "chunks", "error") if k in got},
            "fault_free": {k: want.get(k) for k in ("documents", "chunks", "error") if k in want},
            "exact": exact,
            "mismatched_documents": dict(list(mismatched.items())[:20]),
        },
        "app_rss": {**rss, "growth": growth, "goal": "growth <= 0.20", "met": growth is not None and growth <= 0.2},
        "search_latency": {
            "window_s": window,
            "note": "one page run of the Search page (search, explain, render) inside AppTest, sessions taking turns",
            **{k: latency(v) for k, v in searches.items()},
        },
        "loadavg": loads,
    }


def clean_up(soak: Soak) -> dict:
    """Stop everything this soak started, then look for anything of ours still alive."""
    soak.stopping.set()
    for process in (soak.cli, soak.app):
        if process is not None and process.poll() is None:
            with contextlib.suppress(Exception):
                if process is soak.app and process.stdin:
                    process.stdin.close()
                    process.wait(timeout=60)
            if process.poll() is None:
                process.kill()
                process.wait()
    stop_serve(soak)
    deadline = time.monotonic() + GONE_WITHIN_S  # engines end once their parent's lock is released
    orphans = tagged(TAG, soak.tag)
    while orphans and time.monotonic() < deadline:
        time.sleep(POLL_S)
        orphans = tagged(TAG, soak.tag)
    engines = engines_on(soak.workdir)
    unowned = {pid: parent for pid, parent in engines.items()}  # nothing of ours runs now: any engine is unowned
    for pid in {**orphans, **unowned}:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return {"orphans": len(orphans), "orphan_commands": list(orphans.values())[:10], "unowned_engines": len(unowned)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fault-every", type=float, default=60.0, help="seconds between faults")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--window", type=float, default=15.0, help="seconds after a fault that count as during it")
    default_corpus = str(SCIFACT) if SCIFACT.exists() else "synthetic"
    parser.add_argument("--corpus", default=default_corpus, help="a JSONL corpus, or 'synthetic'")
    parser.add_argument("--batch-docs", type=int, default=100)
    parser.add_argument("--limit-docs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--app-host", type=Path, help=argparse.SUPPRESS)  # the app process this script starts
    args = parser.parse_args()
    if args.app_host:
        return app_host(args.app_host, args.sessions, args.seed)

    from core.lifetime import stop_on_signals

    stop_on_signals()  # Ctrl-C and SIGTERM unwind through clean_up
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    log(f"working in {workdir}")
    try:
        result = run_soak(args, workdir)
    except KeyboardInterrupt:
        log("stopped: everything this soak started has been stopped")
        return 130
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    result["goals_met"] = {
        "no_unexplained_errors": result["errors"]["unexplained"] == 0,
        "exact_counts": result["counts"]["exact"],
        "no_orphans": result["cleanup"]["orphans"] == 0 and result["cleanup"]["unowned_engines"] == 0,
        "rss_growth_within_20pct": result["app_rss"]["met"],
    }
    result["loadavg_end"] = loadavg()
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
