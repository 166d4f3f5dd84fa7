"""How long a search waits while another session rebuilds, lists or maps a large index (issue 16's lock-wait target).

    .venv/bin/python bench/lock_wait.py > bench/results/lock_wait.json     # 100k chunks: a few minutes
    .venv/bin/python bench/lock_wait.py --chunks 20000 --searches 50       # a quick look

One Milvus Lite store in a temp dir holds two indexes: `Big` (`--chunks` rows of 256 dims, 10 chunks per document,
written in schema 2 so that `rebuild` has a whole copy to do) and `Searched` (20k rows, current schema). One thread
searches `Searched` (dense, top 10) through the store, and through the raw MilvusClient on the same engine, while
another thread does one of the slow things a session does on `Big`:

- documents  list its documents (the listing cache is cleared first each time, so every call scans);
- map        read its chunk vectors, as the Map page does;
- rebuild    copy it into the current schema.

Searches are timed alone first, then during each. The store's extra p99 over alone is the number the issue's target
(<= 200 ms) bounds; the raw client's extra in the same window is what the engine itself costs under that load (two
cores shared), so `store_minus_raw_p99_ms` is what the store adds: lock waits. Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from machine import loadavg, machine_info  # noqa: E402
from measure import log, rnd, stdout_to_stderr  # noqa: E402

DIM, TOP_K, PER_DOC, SEARCHED_CHUNKS = 256, 10, 10, 20_000


def rows(prefix: str, count: int, seed: int) -> list:
    from core.types import ChunkRow

    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, DIM)).astype(np.float32)
    return [
        ChunkRow(
            f"{prefix}-{i // PER_DOC:06d}.txt",
            "h",
            i % PER_DOC,
            PER_DOC,
            f"chunk {i} of {prefix} words",
            0,
            10,
            vectors[i],
        )
        for i in range(count)
    ]


def build(store, chunks: int) -> None:
    from core.storage.records import collection_name, to_record
    from core.storage.schema import chunk_schema
    from core.types import CollectionMeta

    meta = CollectionMeta("Searched", "m", "/m", "local", "f", DIM, {"size": 200})
    store.catalog.ensure(meta)
    store.index("Searched", "m").write(rows("s", SEARCHED_CHUNKS, 1), new=True)
    store.index("Searched", "m").flush()
    old = collection_name("Big", "m", version=2)
    schema, index = chunk_schema(store.client, DIM, "standard", metric="COSINE")
    store.client.create_collection(old, schema=schema, index_params=index)
    big = rows("b", chunks, 2)
    for start in range(0, chunks, 500):
        store.client.insert(old, [to_record(r, True, r.vector) for r in big[start : start + 500]])
    store.client.flush(old)
    registered = {**CollectionMeta("Big", "m", "/m", "local", "f", DIM, {"size": 200}).__dict__}
    registered.update(collection=old, analyzer="standard", schema_version=2)
    registered.pop("metric")
    store.registry._upsert("Big", "m", 2, json.dumps(registered))


def percentiles(times: list[float]) -> dict:
    ms = np.asarray(times) * 1000
    return {
        "n": len(ms),
        "p50_ms": rnd(float(np.percentile(ms, 50)), 2),
        "p99_ms": rnd(float(np.percentile(ms, 99)), 2),
    }


def search_while(store, queries: np.ndarray, busy: threading.Thread | None, minimum: int) -> tuple[list, list]:
    """Alternate store and raw searches until `busy` ends (and at least `minimum` of each)."""
    index, meta = store.index("Searched", "m"), store.catalog.find("Searched", "m")
    ours, raw, i = [], [], 0
    while len(ours) < minimum or (busy is not None and busy.is_alive()):
        q = queries[i % len(queries)][None, :]
        start = time.perf_counter()
        index.dense(q, TOP_K)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        store.client.search(
            meta.collection, data=q, anns_field="vector", limit=TOP_K, search_params={"metric_type": "IP"}
        )
        raw.append(time.perf_counter() - start)
        i += 1
    return ours, raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=200, help="searches alone, and at least this many during each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["POTION_DATA_DIR"] = tmp
        os.environ["POTION_DB_PATH"] = str(Path(tmp) / "lockwait.db")
        os.environ.pop("MILVUS_URI", None)
        from core.storage.milvus import MilvusStore

        with stdout_to_stderr():
            store = MilvusStore()
            log(f"writing {args.chunks} chunks (schema 2) and {SEARCHED_CHUNKS} searched")
            build(store, args.chunks)
            store.close()
            store = MilvusStore()
        queries = np.random.default_rng(3).normal(size=(64, DIM)).astype(np.float32)
        big = store.index("Big", "m")
        big.count()
        search_while(store, queries, None, 20)  # load both indexes and warm the engine
        log("searching alone")
        alone_ours, alone_raw = search_while(store, queries, None, args.searches)
        result = {"chunks": args.chunks, "searched_chunks": SEARCHED_CHUNKS, "loadavg_before": loadavg()}
        result["alone"] = {"store": percentiles(alone_ours), "raw": percentiles(alone_raw)}

        def listing() -> None:
            deadline = time.perf_counter() + 10
            while time.perf_counter() < deadline:
                store.state.changed(big.meta.collection)  # every call scans, as after a write
                big.documents()

        activities = {"documents": listing, "map": lambda: big.chunk_vectors(), "rebuild": lambda: big.rebuild()}
        for name, work in activities.items():
            log(f"searching while another thread runs {name}")
            busy = threading.Thread(target=work, name=name)
            started = time.perf_counter()
            busy.start()
            ours, raw = search_while(store, queries, busy, args.searches)
            busy.join()
            seconds = time.perf_counter() - started
            during, engine = percentiles(ours), percentiles(raw)
            result[name] = {
                "seconds": rnd(seconds, 2),
                "store": during,
                "raw": engine,
                "store_extra_p99_ms": rnd(during["p99_ms"] - result["alone"]["store"]["p99_ms"], 2),
                "raw_extra_p99_ms": rnd(engine["p99_ms"] - result["alone"]["raw"]["p99_ms"], 2),
                "store_minus_raw_p99_ms": rnd(during["p99_ms"] - engine["p99_ms"], 2),
            }
        result["rebuilt_to_schema"] = big.meta.schema_version
        result["loadavg_after"] = loadavg()
        result["machine"] = machine_info()
        store.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
