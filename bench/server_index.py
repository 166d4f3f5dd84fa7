"""Approximate vector indexes on a Milvus server at N vectors: FLAT, IVF_FLAT and HNSW on the Milvus 2.3.5
standalone that CI runs, recall@10 against exact numpy and single-query latency beside numpy's (issue 18).

    .venv/bin/python bench/server_index.py --rows 1000000 > bench/results/server-index-1m.json   # ~25 min, 2 cores
    .venv/bin/python bench/server_index.py --rows 50000 --queries 30                             # a quick look
    .venv/bin/python bench/server_index.py --uri http://host:19530 ...                           # a running server

Without `--uri` it starts `milvus-server` (PyPI `milvus==2.3.5`, the standalone of scripts/test-servers.sh) from
`--server` (default .venv-milvus-server/bin/milvus-server, made there on first use) in a temporary data folder, and
kills its process group at the end.

Vectors: minilm-static-256 embeddings of SciFact's chunks (core's default chunking), then, to reach N distinct
vectors, seeded blends `unit(w * a + (1 - w) * b)` of a chunk cycled in order (a) with a random other chunk (b),
w uniform in [0.6, 1]: N vectors as clustered as real chunk embeddings, without the exact copies that make
tie-aware recall trivially 1 (scale.py's library repeats SciFact, which is right for ingest and load but not for an
approximate index). Queries: SciFact's first `--queries` query texts, encoded by the same model.

One collection (id + vector, COSINE) is filled once; then for each index kind the index is dropped and built anew
(build seconds until every row is indexed), the collection is loaded, and each search parameter is swept: p50/p95
of one query per call, recall@10 (ties with the exact 10th score count as found). numpy's exact search over the
same matrix is timed per query in the same run, and each p50 is also given as a ratio to numpy's.

This server has no BM25 (Milvus 2.5 added it), so hybrid search is not measured here. Prints one JSON object on
stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
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

import engines as eng  # noqa: E402
import measure  # noqa: E402
from machine import loadavg, machine_info  # noqa: E402

from core.insight.index_quality import tie_aware_recall  # noqa: E402
from core.vectors import unit_rows  # noqa: E402

MODEL = "minilm-static-256"
TOP_K = 10
COLLECTION = "server_index"
SERVER_PACKAGE = "milvus==2.3.5"
SERVER_VENV = ROOT / ".venv-milvus-server"  # tests/servers.py makes the same one
READY = "Welcome to use Milvus!"
KINDS = {
    "FLAT": ({}, [{}]),
    "IVF_FLAT": ({"nlist": 1024}, [{"nprobe": n} for n in (8, 32, 128)]),
    "HNSW": ({"M": 16, "efConstruction": 128}, [{"ef": n} for n in (16, 64, 128, 256)]),
}


def server_executable(named: Path | None) -> Path:
    """milvus-server: the one named, or the one in .venv-milvus-server (installed there on first use)."""
    if named:
        return named
    executable = SERVER_VENV / "bin" / "milvus-server"
    if not executable.exists():
        measure.log(f"installing {SERVER_PACKAGE} into {SERVER_VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(SERVER_VENV)], check=True)
        pip = [str(SERVER_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, SERVER_PACKAGE], check=True)
    return executable


@contextlib.contextmanager
def standalone(executable: Path, data: Path):
    """A Milvus standalone on a free port until the block ends; yields its URI."""
    from scale import free_port

    port = free_port()
    command = [str(executable), "--data", str(data), "--proxy-port", str(port)]
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        for line in server.stdout:
            if READY in line:
                break
        else:
            raise RuntimeError(f"{executable} exited before printing {READY!r}")
        threading.Thread(target=lambda: server.stdout.read(), daemon=True).start()
        yield f"http://127.0.0.1:{port}"
    finally:
        # The standalone's graceful stop can outlive milvus-server by minutes; its data folder goes anyway.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


def blended(base: np.ndarray, rows: int, seed: int = 0) -> np.ndarray:
    """`rows` distinct unit vectors: each a seeded blend of a base vector (cycled) with a random other one."""
    rng = np.random.default_rng(seed)
    first = np.arange(rows) % len(base)
    other = rng.integers(0, len(base), rows)
    weight = rng.uniform(0.6, 1.0, rows).astype(np.float32)[:, None]
    out = np.empty((rows, base.shape[1]), dtype=np.float32)
    for start in range(0, rows, 100_000):
        part = slice(start, start + 100_000)
        out[part] = weight[part] * base[first[part]] + (1 - weight[part]) * base[other[part]]
    return unit_rows(out)


def exact(matrix: np.ndarray, qvecs: np.ndarray) -> tuple[list[float], list[float]]:
    """numpy's exact top-10 per query: (seconds per query, the 10th score per query)."""
    times, kth = [], []
    for q in qvecs:
        t0 = time.perf_counter()
        scores = matrix @ q
        top = np.argpartition(-scores, TOP_K)[:TOP_K]
        times.append(time.perf_counter() - t0)
        kth.append(float(np.min(scores[top])))
    return times, kth


def fill(client, matrix: np.ndarray, batch: int) -> dict:
    from pymilvus import DataType

    if client.has_collection(COLLECTION):
        client.drop_collection(COLLECTION)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=matrix.shape[1])
    client.create_collection(COLLECTION, schema=schema)
    t0 = time.perf_counter()
    for start in range(0, len(matrix), batch):
        part = matrix[start : start + batch]
        client.insert(COLLECTION, [{"id": start + i, "vector": v} for i, v in enumerate(part)])
        if start // batch % 20 == 0:
            measure.log(f"insert {start + len(part):,}/{len(matrix):,}")
    inserted = time.perf_counter() - t0
    client.flush(COLLECTION)
    return {"insert_s": round(inserted, 1), "flush_s": round(time.perf_counter() - t0 - inserted, 1), "batch": batch}


def build(client, kind: str, params: dict, rows: int, timeout: float) -> float:
    """Seconds from create_index until the server reports every row indexed."""
    with contextlib.suppress(Exception):
        client.release_collection(COLLECTION)
    with contextlib.suppress(Exception):
        client.drop_index(COLLECTION, "vector")
    index = client.prepare_index_params()
    index.add_index("vector", index_type=kind, metric_type="COSINE", params=params, index_name="vector")
    t0 = time.perf_counter()
    client.create_index(COLLECTION, index)
    while time.perf_counter() - t0 < timeout:
        described = client.describe_index(COLLECTION, "vector")
        if int(described.get("indexed_rows", 0)) >= rows and int(described.get("pending_index_rows", 0)) == 0:
            return time.perf_counter() - t0
        time.sleep(1)  # polling the server's own build state; there is no completion event to wait on
    raise TimeoutError(f"{kind} not built within {timeout:.0f} s")


def sweep(client, qvecs: np.ndarray, kth: list[float], params: dict, numpy_p50: float) -> dict:
    times, recall = [], []
    for q, k in zip(qvecs, kth, strict=True):
        seconds, res = measure.timed(
            lambda q=q: client.search(
                COLLECTION,
                data=[q.tolist()],
                anns_field="vector",
                limit=TOP_K,
                search_params={"metric_type": "COSINE", "params": params},
            )
        )
        times.append(seconds)
        recall.append(tie_aware_recall([h["distance"] for h in res[0]], k))
    single = eng.pct_ms(times)
    return {
        "params": params,
        "single": single,
        "ratio_p50_to_numpy": measure.ratio(single["p50_ms"], numpy_p50),
        "recall_at_10": round(float(np.mean(recall)), 4),
    }


def run(args: argparse.Namespace, uri: str, out: dict) -> None:
    from pymilvus import MilvusClient

    from core.embed.loading import load_embedder

    embedder = load_embedder(MODEL)
    measure.log("embedding SciFact's chunks")
    from scale import chunks_per_record

    with tempfile.TemporaryDirectory(prefix="server-index-chunks-") as work:
        _, texts = chunks_per_record(args.datasets, Path(work))
    base = unit_rows(np.asarray(embedder.encode(texts), dtype=np.float32))
    base = base[np.any(base != 0, axis=1)]
    matrix = blended(base, args.rows)
    queries = [json.loads(line)["text"] for line in (args.datasets / "scifact" / "queries.jsonl").open()]
    qvecs = unit_rows(np.asarray(embedder.encode(queries[: args.queries]), dtype=np.float32))
    numpy_times, kth = exact(matrix, qvecs)
    numpy_single = eng.pct_ms(numpy_times)
    out["numpy_exact"] = numpy_single
    out["config"].update(rows=args.rows, base_chunks=len(base), queries=len(qvecs), dim=int(matrix.shape[1]))

    client = MilvusClient(uri=uri)
    out["engine"] = {"server_version": client.get_server_version()}
    measure.log(f"filling {args.rows:,} rows into {out['engine']['server_version']}")
    out["fill"] = fill(client, matrix, args.batch)
    out["indexes"] = {}
    for kind in args.kinds.split(","):
        params, searches = KINDS[kind]
        measure.log(f"{kind}: building")
        try:
            built = build(client, kind, params, args.rows, args.build_timeout)
            t0 = time.perf_counter()
            client.load_collection(COLLECTION)
            loaded = time.perf_counter() - t0
            entry = {"build": params, "build_s": round(built, 1), "load_s": round(loaded, 1), "search": []}
            for p in searches:
                entry["search"].append(sweep(client, qvecs, kth, p, numpy_single["p50_ms"]))
                last = entry["search"][-1]
                measure.log(f"{kind} {p}: {last['single']['p50_ms']} ms, recall {last['recall_at_10']}")
        except Exception as exc:  # a server without this kind, or a build that did not finish: recorded, not fatal
            entry = {"error": eng.err(exc)}
        out["indexes"][kind] = entry
    client.drop_collection(COLLECTION)
    client.close()


def summary(out: dict) -> dict:
    """The fastest setting of each kind that reaches recall@10 >= 0.95, beside FLAT."""
    best = {}
    for kind, entry in out.get("indexes", {}).items():
        good = [s for s in entry.get("search", []) if s["recall_at_10"] >= 0.95]
        if good:
            pick = min(good, key=lambda s: s["single"]["p50_ms"])
            best[kind] = {
                "params": pick["params"],
                "p50_ms": pick["single"]["p50_ms"],
                "recall_at_10": pick["recall_at_10"],
            }
    return {
        "rows": out["config"].get("rows"),
        "numpy_p50_ms": out.get("numpy_exact", {}).get("p50_ms"),
        "best_at_recall_0.95": best,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--uri", help="a running Milvus server instead of starting the standalone")
    parser.add_argument("--server", type=Path, help="the milvus-server executable to start")
    parser.add_argument("--build-timeout", type=float, default=1800)
    parser.add_argument("--datasets", type=Path, default=eng.DEFAULT_DATASETS)
    args = parser.parse_args(argv)
    out = {"machine": {**machine_info(), "loadavg_start": loadavg()}, "config": {"model": MODEL, "uri": args.uri}}
    if args.uri:
        run(args, args.uri, out)
    else:
        with (
            tempfile.TemporaryDirectory(prefix="server-index-") as data,
            standalone(server_executable(args.server), Path(data)) as uri,
        ):
            run(args, uri, out)
    out["machine"]["loadavg_end"] = loadavg()
    out["summary"] = summary(out)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
