"""A library of N chunks on one machine: ingest, the first search after a restart, warm search per mode, recall and
memory, against the raw libraries in the same run (issue 18).

    .venv/bin/python bench/scale.py --chunks 100000 > bench/results/scale-100k.json     # ~5 min on 2 idle cores
    .venv/bin/python bench/scale.py --chunks 1000000 > bench/results/scale-1m.json      # ~20 min
    .venv/bin/python bench/scale.py --chunks 20000 --queries 20                         # a quick look

The library is SciFact's corpus.jsonl written over and over with distinct ids (every copy its own documents) until
the default chunking gives `--chunks` chunks, model minilm-static-256, in a fresh temporary Milvus Lite database.

1. ingest     `python -m core ingest corpus.jsonl` in a subprocess, as a user runs it: seconds, chunks/s and the
              peak RSS of its process tree (CLI, embedding workers, engine), sampled from /proc. Raw, on the first
              `--raw-rows` chunks (read and chunked by core, untimed): `StaticModel.encode` and `MilvusClient.insert`
              (same schema, batches of 500) + `flush`, as rows/s; the ratio compares our chunks/s with the slower.
2. restart    a fresh process opens the store with no engine running (the app's first start after a reboot, or once
              its kept engine ended) and runs one search: seconds to the answer, and the peak RSS of its tree while
              it then searches. Raw: a fresh process running `MilvusClient(db)`, `load_collection` and one search on
              the same collection, through `python -m core serve` (which starts the engine; its start is added);
              then, the engine kept warm by serve, a fresh process of ours again. Then the app's way: a fresh process
              opens the store as the app does (`open_store(keep_engine=True)`: it starts the kept engine, which
              loads), and another one after it, as a restarted app (core.storage.keeper), each timed to its first
              answer.
3. warm       `--queries` SciFact queries, one call each, in every mode through `core.search.query.search`, p50/p95;
              raw `MilvusClient.search` of the encoded query (same output fields) on the same client; exact numpy.
              recall@10 of our dense hits against numpy (tie-aware: the copies make many equal scores).
4. indexes    with `--indexes`, the same vectors in raw collections (id + vector) under FLAT and IVF_FLAT: recall@10
              against numpy and p50 per nprobe; an engine refusing an index type is recorded, not fatal.

Prints one JSON object on stdout; progress on stderr. The temporary folder goes at the end unless `--keep`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import engines as eng  # noqa: E402
from machine import loadavg, machine_info  # noqa: E402
from storage import MODEL, TreeRss, exact_topk, raw_encode, raw_insert, same_chunks, tie_aware_recall  # noqa: E402

TOP_K = 10
LIBRARY = "bench"
FIELDS = ["document", "chunk", "text", "start", "end", "page", "title"]


def write_corpus(datasets: Path, chunks: int, per_record: list[int], path: Path) -> tuple[int, int]:
    """SciFact written copy after copy (ids suffixed) until the records' chunks reach `chunks`: (records, chunks)."""
    records = [json.loads(line) for line in (datasets / "scifact" / "corpus.jsonl").open(encoding="utf-8")]
    written = total = 0
    with path.open("w", encoding="utf-8") as out:
        for copy in range(math.ceil(chunks / max(sum(per_record), 1)) + 1):
            for record, n in zip(records, per_record, strict=True):
                if total >= chunks:
                    return written, total
                out.write(json.dumps({**record, "id": f"{record['id']}-c{copy}"}, ensure_ascii=False) + "\n")
                written, total = written + 1, total + n
    return written, total


def chunks_per_record(datasets: Path, work: Path) -> tuple[list[int], list[str]]:
    """How many chunks each SciFact record gives with the default chunking, and the chunk texts of one copy."""
    from core.embed.loading import load_embedder

    one = work / "one.jsonl"
    records = [json.loads(line) for line in (datasets / "scifact" / "corpus.jsonl").open(encoding="utf-8")]
    with one.open("w", encoding="utf-8") as out:
        for r in records:
            out.write(json.dumps(r, ensure_ascii=False) + "\n")
    rows, texts = same_chunks(one, load_embedder(MODEL))
    counts: dict[str, int] = {}
    for name, *_ in rows:
        counts[name] = counts.get(name, 0) + 1
    # Stored names are "one.jsonl#<id>" (core.read.records); records with no text give no chunk.
    per = [sum(v for k, v in counts.items() if k.endswith(f"#{r['id']}")) for r in records]
    return per, texts


# --- the child: a fresh process, as a restarted app -------------------------------------------------------------


def child(args: argparse.Namespace) -> int:
    """Open the store, one search (the restart), then warm searches per mode and raw; JSON on stdout."""
    from core.embed.loading import load_embedder
    from core.search.query import search
    from core.types import SearchMode

    queries = json.loads(Path(args.child_queries).read_text())
    t0 = time.perf_counter()
    from core.storage import open_store

    embedder = load_embedder(MODEL)
    store = open_store(keep_engine=args.child_keep)
    t1 = time.perf_counter()
    search(queries[0], LIBRARY, embedder, store, TOP_K)
    t2 = time.perf_counter()
    out: dict = {"open_s": round(t1 - t0, 3), "first_search_s": round(t2 - t1, 3), "restart_s": round(t2 - t0, 3)}
    if args.child_warm:
        meta = store.catalog.find(LIBRARY, MODEL)
        timings: dict[str, list[float]] = {m.value: [] for m in SearchMode} | {"raw_dense": []}
        dense_hits = []
        for q in queries:  # interleaved, so noise from elsewhere hits every variant alike
            for mode in SearchMode:
                seconds, result = eng.timed(
                    lambda mode=mode, q=q: search(q, LIBRARY, embedder, store, TOP_K, mode=mode)
                )
                timings[mode.value].append(seconds)
                if mode == SearchMode.DENSE:
                    dense_hits.append([h.score for h in result.hits])
            vector = embedder.encode([q]).astype(np.float32)
            vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
            timings["raw_dense"].append(
                eng.timed(
                    lambda v=vector: store.client.search(
                        meta.collection,
                        data=v,
                        anns_field="vector",
                        limit=TOP_K,
                        output_fields=FIELDS,
                        search_params={"metric_type": meta.metric},
                    )
                )[0]
            )
        out["warm"] = {name: eng.pct_ms(samples) for name, samples in timings.items()}
        out["dense_scores"] = dense_hits
    store.close()
    print(json.dumps(out))
    return 0


RAW_CHILD = r"""
import json, sys, time
import numpy as np
t0 = time.perf_counter()
from pymilvus import MilvusClient
db, collection, metric = sys.argv[1], sys.argv[2], sys.argv[3]
vector = np.asarray(json.loads(sys.argv[4]), dtype=np.float32)[None, :]
client = MilvusClient(db)
t1 = time.perf_counter()
client.load_collection(collection)
t2 = time.perf_counter()
client.search(collection, data=vector, anns_field="vector", limit=10, output_fields=["text"],
              search_params={"metric_type": metric})
t3 = time.perf_counter()
client.close()
print(json.dumps({"open_s": round(t1 - t0, 3), "load_s": round(t2 - t1, 3), "first_search_s": round(t3 - t2, 3),
                  "restart_s": round(t3 - t0, 3)}))
"""


def run_child(env: dict, queries: Path, warm: bool, keep: bool = False) -> dict:
    command = [sys.executable, str(Path(__file__)), "--child", "--child-queries", str(queries)]
    flags = [*(["--child-warm"] if warm else []), *(["--child-keep"] if keep else [])]
    proc = subprocess.Popen([*command, *flags], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    with TreeRss(proc.pid) as rss:
        out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"child exited {proc.returncode}")
    result = json.loads(out.strip().splitlines()[-1])
    result["memory"] = rss.report()
    return result


def raw_restart(db: Path | str, collection: str, metric: str, vector: np.ndarray) -> dict:
    command = [sys.executable, "-c", RAW_CHILD, str(db), collection, metric, json.dumps(vector.tolist())]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    with TreeRss(proc.pid) as rss:
        out, _ = proc.communicate()
    result = json.loads(out.strip().splitlines()[-1])
    result["memory"] = rss.report()
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_restarts(env: dict, queries: Path, collection: str, metric: str, vector: np.ndarray) -> dict:
    """Raw and warm in one engine: `python -m core serve` starts it on the database (timed until it listens); the raw
    client, a fresh process, loads the collection and searches through MILVUS_URI (the engine's own start + load +
    search is the raw restart); then a fresh process of ours (a restarted app) searches while the engine stays up."""
    port = free_port()
    started = time.perf_counter()
    serve = subprocess.Popen(
        [sys.executable, "-m", "core", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for line in serve.stdout:  # serve says "listening on ..." on stdout once it answers
            if "listening on" in line:
                break
        engine_start = time.perf_counter() - started
        uri = f"http://127.0.0.1:{port}"
        raw = raw_restart(uri, collection, metric, vector)
        raw["engine_start_s"] = round(engine_start, 3)
        raw["restart_s"] = round(raw["restart_s"] + engine_start, 3)
        warm = run_child({**env, "MILVUS_URI": uri}, queries, warm=False)
        return {"raw": raw, "restarted_app_engine_kept_by_serve": warm}
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()


def kept_restarts(env: dict, queries: Path, database: Path) -> dict:
    """The app's way: its first start begins the kept engine (which loads the library), and a restarted app finds it
    running with the library loaded. The tree sampled is the app's; the kept engine is not its child."""
    from core.storage import keeper

    kept_env = {**env, "POTION_KEEP_ENGINE_MINUTES": "30"}
    try:
        first = run_child(kept_env, queries, warm=False, keep=True)
        again = run_child(kept_env, queries, warm=False, keep=True)
        return {"first_start_of_the_app": first, "restarted_app": again}
    finally:
        keeper.stop(database)


def bench_indexes(db: Path, matrix: np.ndarray, qvecs: np.ndarray) -> dict:
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(str(db))
    kinds = {"FLAT": ("FLAT", {}, [{}]), "IVF_FLAT": ("IVF_FLAT", {"nlist": 1024}, [{"nprobe": n} for n in (16, 128)])}
    out = {}
    for label, (kind, build, sweep) in kinds.items():
        name = f"idx_{label.lower()}"
        try:
            schema = client.create_schema(auto_id=True)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=matrix.shape[1])
            index = client.prepare_index_params()
            index.add_index("vector", index_type=kind, metric_type="IP", params=build)
            client.create_collection(name, schema=schema, index_params=index)
            t0 = time.perf_counter()
            for start in range(0, len(matrix), 5_000):
                client.insert(name, [{"vector": v} for v in matrix[start : start + 5_000]])
            client.flush(name)
            out[label] = {"insert_and_flush_s": round(time.perf_counter() - t0, 2), "build": build, "search": []}
            for params in sweep:
                times, recall = [], []
                for q in qvecs:
                    seconds, res = eng.timed(
                        lambda q=q, name=name, params=params: client.search(
                            name,
                            data=[q],
                            anns_field="vector",
                            limit=TOP_K,
                            search_params={"metric_type": "IP", "params": params},
                        )
                    )
                    times.append(seconds)
                    _, kth = exact_topk(matrix, q)
                    recall.append(tie_aware_recall([h["distance"] for h in res[0]], kth))
                out[label]["search"].append(
                    {"params": params, "single": eng.pct_ms(times), "recall_at_10": round(float(np.mean(recall)), 4)}
                )
            client.drop_collection(name)
        except Exception as exc:  # an engine without this index type: record it, go on
            out[label] = {"error": eng.err(exc)}
    client.close()
    return out


def numpy_search(matrix: np.ndarray, qvecs: np.ndarray) -> tuple[dict, list[float]]:
    times, kths = [], []
    for q in qvecs:
        seconds, (_, kth) = eng.timed(lambda q=q: exact_topk(matrix, q))
        times.append(seconds)
        kths.append(kth)
    return eng.pct_ms(times), kths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--raw-rows", type=int, default=100_000, help="rows for the raw ingest baseline")
    parser.add_argument("--datasets", type=Path, default=eng.DEFAULT_DATASETS)
    parser.add_argument("--indexes", action="store_true", help="also FLAT vs IVF_FLAT on raw collections")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-warm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-queries", help=argparse.SUPPRESS)
    parser.add_argument("--child-keep", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    out: dict = {"benchmark": "bench/scale.py", "machine": machine_info(), "config": {**vars(args)}}
    out["config"]["datasets"] = str(args.datasets)
    work = Path(tempfile.mkdtemp(prefix="potion-scale-"))
    try:
        return run(args, out, work)
    finally:
        if args.keep:
            eng.log(f"kept {work}")
        else:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, out: dict, work: Path) -> int:
    env = {
        **os.environ,
        "POTION_DATA_DIR": str(work),
        "POTION_DB_PATH": str(work / "ours.db"),
        "HF_HUB_OFFLINE": "1",
        "POTION_MAX_FILE_MB": "100000",  # a collection given to the CLI is not an upload
        "POTION_KEEP_ENGINE_MINUTES": "0",  # the cold restart first; kept_restarts keeps it on purpose
    }
    for name in ("MILVUS_URI", "MILVUS_TOKEN"):
        env.pop(name, None)
        os.environ.pop(name, None)
    os.environ.update({k: env[k] for k in ("POTION_DATA_DIR", "POTION_DB_PATH", "HF_HUB_OFFLINE")})

    eng.log("chunking one copy of SciFact")
    per_record, one_copy = chunks_per_record(args.datasets, work)
    corpus = work / "corpus.jsonl"
    records, chunks = write_corpus(args.datasets, args.chunks, per_record, corpus)
    out["config"].update(records=records, chunks_expected=chunks, corpus_mb=round(corpus.stat().st_size / 1e6, 1))

    eng.log(f"ingest: python -m core ingest ({records:,} records, {chunks:,} chunks)")
    from storage import cli_ingest

    ingest = cli_ingest(corpus, env)
    added = ingest["summary"]["chunks_added"]
    ingest["chunks_per_s"] = round(added / ingest["seconds"], 1)
    out["ingest"] = ingest
    eng.log(f"ingest: {ingest['seconds']} s, {ingest['chunks_per_s']} chunks/s, {ingest['memory']}")

    from core.embed.loading import load_embedder, resolve_model

    embedder = load_embedder(MODEL)
    eng.log(f"raw ingest baseline on {min(args.raw_rows, added):,} chunks")
    rows, texts = (
        same_chunks(corpus, embedder) if args.raw_rows >= added else _first_chunks(corpus, embedder, args.raw_rows)
    )
    encode_s, vectors = raw_encode(resolve_model(MODEL).source, texts)
    from core.storage import open_store

    store = open_store()
    meta = store.catalog.find(LIBRARY, MODEL)
    store.close()
    eng.release_engine(work / "ours.db")  # the restarts below are fresh processes that must open it
    insert = raw_insert(work / "raw.db", rows, texts, vectors, meta.analyzer or None)
    raw_rate = len(texts) / max(encode_s, insert["seconds"])
    out["raw_ingest"] = {
        "rows": len(texts),
        "encode_s": round(encode_s, 2),
        "insert": insert,
        "slower_step_rows_per_s": round(raw_rate, 1),
    }
    out["ingest"]["ratio_time_per_chunk_to_raw"] = eng.ratio(1 / ingest["chunks_per_s"], 1 / raw_rate)

    queries = [json.loads(line)["text"] for line in (args.datasets / "scifact" / "queries.jsonl").open()]
    queries = queries[: args.queries]
    qfile = work / "queries.json"
    qfile.write_text(json.dumps(queries))

    eng.log("restart: a fresh process opens the store and searches (the collection loads), then warm searches")
    ours = run_child(env, qfile, warm=True)
    dense_scores = ours.pop("dense_scores")
    eng.log(f"restart: first search {ours['first_search_s']} s")
    qvec = embedder.encode([queries[0]]).astype(np.float32)[0]
    eng.log("restart, raw (`serve` starts the engine, a fresh MilvusClient loads and searches), then ours again")
    unit = qvec / max(float(np.linalg.norm(qvec)), 1e-12)
    served = serve_restarts(env, qfile, meta.collection, meta.metric, unit)
    raw = served["raw"]
    out["restart"] = {
        "ours": {k: v for k, v in ours.items() if k != "warm"},
        "raw": raw,
        "ratio_first_answer_to_raw": eng.ratio(ours["restart_s"], raw["restart_s"]),
        "engine_kept_by_serve": served["restarted_app_engine_kept_by_serve"],
    }
    eng.log("restart, the app's way: its first start keeps the engine, then a restarted app finds it")
    out["restart"]["engine_kept_by_the_app"] = kept_restarts(env, qfile, work / "ours.db")
    eng.log(f"restart, kept: {out['restart']['engine_kept_by_the_app']['restarted_app']['restart_s']} s")

    eng.log("exact numpy over every stored vector (the copies' vectors are one copy's, repeated)")
    one_vectors = np.asarray(embedder.encode(one_copy), dtype=np.float32)
    from core.vectors import unit_rows

    matrix = unit_rows(one_vectors[np.any(one_vectors != 0, axis=1)])
    copies = max(1, round(added / max(len(one_copy), 1)))
    full = np.tile(matrix, (copies, 1))[:added]
    qvecs = np.asarray(embedder.encode(queries), dtype=np.float32)
    numpy_p, kths = numpy_search(full, qvecs)
    recall = [tie_aware_recall(scores, kth) for scores, kth in zip(dense_scores, kths, strict=True)]
    warm = ours["warm"]
    warm["numpy_dense"] = numpy_p
    warm["ratio_p50_dense_to_raw"] = eng.ratio(warm["dense"]["p50_ms"], warm["raw_dense"]["p50_ms"])
    warm["recall_at_10_dense_vs_numpy"] = round(float(np.mean(recall)), 4)
    out["warm"] = warm
    if args.indexes:
        eng.log("indexes: FLAT / IVF_FLAT on raw collections of the same vectors")
        out["indexes"] = bench_indexes(work / "idx.db", full, qvecs)
    out["machine"]["loadavg_end"] = loadavg()
    out["summary"] = {
        "chunks": added,
        "ingest_chunks_per_s": ingest["chunks_per_s"],
        "ingest_peak_tree_mb": ingest["memory"]["sampled_total_peak_mb"],
        "restart_first_answer_s": ours["restart_s"],
        "raw_restart_first_answer_s": raw["restart_s"],
        "searching_peak_tree_mb": ours["memory"]["sampled_total_peak_mb"],
        "dense_p50_ms": warm["dense"]["p50_ms"],
        "keyword_p50_ms": warm["keyword"]["p50_ms"],
        "hybrid_p50_ms": warm["hybrid"]["p50_ms"],
        "raw_dense_p50_ms": warm["raw_dense"]["p50_ms"],
        "numpy_dense_p50_ms": numpy_p["p50_ms"],
        "recall_at_10": warm["recall_at_10_dense_vs_numpy"],
    }
    out["summary"]["restart_engine_kept_by_serve_first_answer_s"] = out["restart"]["engine_kept_by_serve"]["restart_s"]
    kept = out["restart"]["engine_kept_by_the_app"]
    out["summary"]["first_start_of_the_app_keeping_its_engine_s"] = kept["first_start_of_the_app"]["restart_s"]
    out["summary"]["restarted_app_engine_kept_by_the_app_s"] = kept["restarted_app"]["restart_s"]
    print(json.dumps(out, indent=1))
    return 0


def _first_chunks(corpus: Path, embedder, n: int) -> tuple[list, list[str]]:
    """The first `n` chunks of the corpus, chunked as ingest does, from a file of just enough records."""
    part = corpus.with_name("raw-part.jsonl")
    with corpus.open(encoding="utf-8") as src, part.open("w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i >= max(1, n // 3):  # SciFact averages ~3.6 chunks per record: enough records for n chunks
                break
            dst.write(line)
    rows, texts = same_chunks(part, embedder)
    return rows[:n], texts[:n]


if __name__ == "__main__":
    sys.exit(main())
