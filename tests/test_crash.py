"""Crashes and restarts: a process killed with SIGKILL mid-ingest leaves a database that opens again, and
re-running the ingest converges to exactly what an uninterrupted run gives; a clean restart changes nothing."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.embed.loading import load_embedder
from core.ingest.pipeline import ingest
from core.search.query import search
from core.storage.milvus import MilvusStore
from core.types import DocumentStatus
from tests.conftest import BUNDLED_SMALL

ROOT = Path(__file__).resolve().parents[1]
# fmt: off
WORDS = [
    "wing", "lift", "drag", "stall", "flow", "boundary", "layer", "pressure", "shock", "wave", "nozzle", "thrust",
    "engine", "blade", "turbine", "heat", "transfer", "surface", "panel", "load", "stress", "buckling", "vibration",
    "flutter", "control", "rudder", "elevator", "flap", "slat",
]
# fmt: on
DOCUMENTS = 1200  # ~2.6 MB of text: three write batches of ~1 MB, so a kill after the first leaves work undone
KILL_DEADLINE = 240  # seconds to wait for the first batch to be written before the test gives up


def write_corpus(folder: Path) -> Path:
    folder.mkdir()
    for i in range(DOCUMENTS):
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(360)]
        sentences = [" ".join(words[k : k + 12]).capitalize() + "." for k in range(0, len(words), 12)]
        (folder / f"report-{i:04d}.txt").write_text(f"Report {i}. " + " ".join(sentences), encoding="utf-8")
    return folder


def kill_after_first_written_batch(folder: Path) -> str:
    """Run the CLI ingest, and SIGKILL it and its engine once its progress shows documents written."""
    command = [sys.executable, "-m", "core", "ingest", str(folder), "--library", "Crash", "--model", BUNDLED_SMALL]
    # Its own session, so the kill reaches the Milvus Lite engine it started as well: a whole crash.
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, start_new_session=True)
    # The ingest bar counts bytes of the files written (tqdm scales them: "977k/2.63M"); anything but 0 will do.
    seen, written = b"", re.compile(rb"ingest:[^\r\n]*?\|\s*(?!0(?:\.0+)?/)[\d.]+[kMGT]?/")
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + KILL_DEADLINE
    try:
        while not written.search(seen):
            assert time.monotonic() < deadline, f"no document was written in {KILL_DEADLINE} s: {seen[-500:]!r}"
            assert process.poll() is None, f"ingest ended before it could be killed: {seen[-500:]!r}"
            if selector.select(timeout=1):  # waits for output; wakes to check the process is alive
                seen += os.read(process.stderr.fileno(), 65536)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        selector.close()
    assert process.returncode == -signal.SIGKILL
    return seen.decode(errors="replace")


def test_a_sigkill_mid_ingest_leaves_a_database_that_opens_and_a_rerun_converges(tmp_path):
    folder = write_corpus(tmp_path / "reports")
    kill_after_first_written_batch(folder)

    store = MilvusStore()  # opens again: the lock died with the process, the data files are consistent
    try:
        embedder = load_embedder(BUNDLED_SMALL)
        partial = store.index("Crash", BUNDLED_SMALL).count_documents()
        assert 0 < partial < DOCUMENTS  # killed in the middle, not before or after
        rerun = ingest([folder], "Crash", embedder, store)
        assert not rerun.failures
        assert rerun.count(DocumentStatus.UNCHANGED) + rerun.count(DocumentStatus.INDEXED) == DOCUMENTS

        reference = ingest([folder], "Reference", embedder, store)  # the same files, never interrupted
        assert store.index("Crash", BUNDLED_SMALL).count_documents() == DOCUMENTS
        assert store.index("Crash", BUNDLED_SMALL).count() == store.index("Reference", BUNDLED_SMALL).count()
        assert store.index("Crash", BUNDLED_SMALL).count() == reference.chunks_total
        crashed = {(d.name, d.doc_hash, d.chunks) for d in store.index("Crash", BUNDLED_SMALL).documents()}
        assert crashed == {(d.name, d.doc_hash, d.chunks) for d in store.index("Reference", BUNDLED_SMALL).documents()}
        rows = store.index("Crash", BUNDLED_SMALL).chunk_rows()
        assert len({(r["document"], r["chunk"]) for r in rows}) == len(rows)  # no chunk written twice

        again = ingest([folder], "Crash", embedder, store)  # and it stays converged
        assert again.count(DocumentStatus.UNCHANGED) == DOCUMENTS and again.chunks_added == 0
    finally:
        store.close()


QUERIES = ["wing stall at high angle", "turbine blade heat transfer", "flutter of a control surface"]


def test_a_clean_restart_keeps_every_count_and_every_search_result(tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    for i in range(40):
        words = [WORDS[(i * 5 + j) % len(WORDS)] for j in range(80)]
        (folder / f"r{i}.txt").write_text(" ".join(words) + ".", encoding="utf-8")
    embedder = load_embedder(BUNDLED_SMALL)
    store = MilvusStore()
    ingest([folder], "Kept", embedder, store)
    before = (store.index("Kept", BUNDLED_SMALL).count(), store.index("Kept", BUNDLED_SMALL).count_documents())
    hits_before = [
        [(h.document, h.chunk, round(h.score, 5)) for h in search(q, "Kept", embedder, store, 10, mode=mode).hits]
        for q in QUERIES
        for mode in ("dense", "keyword", "hybrid")
    ]
    meta_before = store.catalog.require("Kept", BUNDLED_SMALL)
    store.close()

    reopened = MilvusStore()
    try:
        assert (
            reopened.index("Kept", BUNDLED_SMALL).count(),
            reopened.index("Kept", BUNDLED_SMALL).count_documents(),
        ) == before
        assert reopened.catalog.require("Kept", BUNDLED_SMALL) == meta_before  # provenance too
        hits_after = [
            [
                (h.document, h.chunk, round(h.score, 5))
                for h in search(q, "Kept", embedder, reopened, 10, mode=mode).hits
            ]
            for q in QUERIES
            for mode in ("dense", "keyword", "hybrid")
        ]
        assert hits_after == hits_before and all(hits_before)
    finally:
        reopened.close()
