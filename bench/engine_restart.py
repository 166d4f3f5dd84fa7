"""How long a search waits after the embedded engine was killed under a large library (issue 17, item 2).

    .venv/bin/python bench/engine_restart.py > bench/results/engine_restart.json    # 100k chunks: a few minutes
    .venv/bin/python bench/engine_restart.py --chunks 10000 --trials 1              # a quick look

One Milvus Lite database in a temp dir holds `--chunks` rows of 256 dims (10 chunks per document) in one index.
Each trial measures two things on it, in turn:

- ours: a MilvusStore that has searched the index has its `milvus` engine SIGKILLed (as the OOM killer would); the
  time from then to the first search that answers through the same store (it notices, starts the engine again on
  the same file, reconnects, reloads, retries the search);
- raw: what the engine itself costs to come back, the floor: with no engine running, `MilvusClient(db)` (which
  starts the engine), `load_collection` and one search.

The issue's target is ours within 10 s of raw (the engine's own start and load). Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from machine import loadavg, machine_info  # noqa: E402
from measure import log, rnd, stdout_to_stderr  # noqa: E402

DIM, TOP_K, PER_DOC, WRITE_BATCH = 256, 10, 10, 5_000
LIBRARY, MODEL = "Big", "m"


def build(store, chunks: int) -> None:
    from core.types import ChunkRow, CollectionMeta

    store.catalog.ensure(CollectionMeta(LIBRARY, MODEL, "/m", "local", "f", DIM, {"size": 200}))
    rng = np.random.default_rng(0)
    for start in range(0, chunks, WRITE_BATCH):
        count = min(WRITE_BATCH, chunks - start)
        vectors = rng.normal(size=(count, DIM)).astype(np.float32)
        rows = [
            ChunkRow(f"doc-{i // PER_DOC:06d}.txt", "h", i % PER_DOC, PER_DOC, f"chunk {i} words", 0, 10, vectors[j])
            for j, i in enumerate(range(start, start + count))
        ]
        store.index(LIBRARY, MODEL).write(rows, new=True)
    store.index(LIBRARY, MODEL).flush()


def engine_pid(db: Path) -> int:
    wanted = str(db.resolve()).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat, command = (entry / "stat").read_text(), (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        mine = int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid()
        if mine and command[0].endswith(b"/milvus") and wanted in command:
            return int(entry.name)
    raise RuntimeError(f"no engine of this process serves {db}")


def kill_engine(db: Path) -> None:
    """SIGKILL the engine and return once the kernel has ended it."""
    pid = engine_pid(db)
    handle = os.pidfd_open(pid)
    try:
        os.kill(pid, signal.SIGKILL)
        select.select([handle], [], [], 60)
    finally:
        os.close(handle)


def ours(db: Path, query: np.ndarray) -> tuple[float, int]:
    """Seconds from the engine's death to the first search that answers through the same store."""
    from milvus_lite.server_manager import server_manager_instance

    from core.storage.milvus import MilvusStore

    store = MilvusStore()
    try:
        index = store.index(LIBRARY, MODEL)
        index.dense(query, TOP_K)  # loaded and answering, as in a running app
        kill_engine(db)
        start = time.perf_counter()
        hits = index.dense(query, TOP_K)
        seconds = time.perf_counter() - start
        assert len(hits[0]) == TOP_K and store.engine_restarts == 1
        return seconds, store.engine_restarts
    finally:
        store.close()
        server_manager_instance.release_server(str(db))


def raw(db: Path, query: np.ndarray, collection: str) -> float:
    """Seconds for the engine to start on the file, load the index and answer one search, with nothing of ours."""
    from milvus_lite.server_manager import server_manager_instance
    from pymilvus import MilvusClient

    start = time.perf_counter()
    client = MilvusClient(str(db))
    client.load_collection(collection)
    found = client.search(collection, data=query, anns_field="vector", limit=TOP_K, search_params={"metric_type": "IP"})
    seconds = time.perf_counter() - start
    assert len(found[0]) == TOP_K
    client.close()
    server_manager_instance.release_server(str(db))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    result: dict = {"machine": machine_info(), "chunks": args.chunks, "trials": args.trials}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "restart.db"
        os.environ["POTION_DATA_DIR"] = tmp
        os.environ["POTION_DB_PATH"] = str(db)
        os.environ.pop("MILVUS_URI", None)
        from milvus_lite.server_manager import server_manager_instance

        from core.storage.milvus import MilvusStore

        with stdout_to_stderr():
            store = MilvusStore()
            log(f"writing {args.chunks} chunks")
            build(store, args.chunks)
            collection = store.catalog.find(LIBRARY, MODEL).collection
            store.close()
            server_manager_instance.release_server(str(db))
            query = np.random.default_rng(3).normal(size=(1, DIM)).astype(np.float32)
            ours_s, raw_s = [], []
            for trial in range(args.trials):
                raw_s.append(raw(db, query, collection))
                ours_s.append(ours(db, query)[0])
                log(f"trial {trial + 1}: ours {ours_s[-1]:.2f} s, raw {raw_s[-1]:.2f} s")
        ours_median, raw_median = statistics.median(ours_s), statistics.median(raw_s)
        result.update(
            ours_seconds=[rnd(s, 3) for s in ours_s],
            raw_seconds=[rnd(s, 3) for s in raw_s],
            ours_median_s=rnd(ours_median, 3),
            raw_median_s=rnd(raw_median, 3),
            ours_minus_raw_median_s=rnd(ours_median - raw_median, 3),
            ratio=rnd(ours_median / raw_median, 3),
            target="ours within 10 s of raw (the engine's own start and load)",
            met=ours_median - raw_median <= 10.0,
            loadavg_end=loadavg(),
        )
    import json

    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
