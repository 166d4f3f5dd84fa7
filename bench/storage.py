"""Potion Search's own storage path at scale, against the raw libraries in the same run (issue 6 targets).

    .venv/bin/python bench/storage.py > bench/results/storage.json      # ~100k chunks: ~10-15 min on 2 idle cores
    .venv/bin/python bench/storage.py --copies 1 --queries 30           # SciFact once (~18.6k chunks): ~2 min

The corpus is SciFact's corpus.jsonl written `--copies` times (ids suffixed, so every copy is its own set
of documents; 6 copies give ~112k chunks with the default chunking) into one JSONL file.

1. ingest    `python -m core ingest corpus.jsonl` in a subprocess (what a user runs), wall time and peak
             resident memory of the CLI process, of its embedding worker process, and of the engine it
             starts (Milvus Lite 2.5.1 runs a `milvus` child), sampled from /proc. Raw baselines on the
             same chunks (read and chunked by `core`, untimed): `StaticModel.encode` of all chunk texts
             (model2vec defaults), and `MilvusClient.insert` of the same rows with the same schema
             (batches of 500) plus `flush`.
             Target: ours <= 1.5x the slower of the two raw steps.
2. reopen    open the store on the ingested database and run the first search (collections load here).
3. search    one query per call through `core.search.query.search` (encode + store + hits), p50/p95, in each
             mode; raw: `StaticModel.encode` + `MilvusClient.search` (dense), the engine's floor (a
             `MilvusClient.search` of an encoded query returning ids only), exact numpy per query.
             Targets at 100k: dense p50 <= 25 ms, hybrid p50 <= 40 ms. recall@10 of ours against numpy
             (tie-aware: a hit counts when its exact score reaches the exact 10th score).
4. indexes   FLAT, IVF_FLAT and HNSW collections of the same vectors (no text): recall@10 against numpy and
             single-query latency, raw MilvusClient. Unsupported index types are recorded, not fatal.

Prints one JSON object on stdout; progress on stderr. Works in a temp dir removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
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

import engines as eng  # noqa: E402  (shared helpers: timing, /proc memory)
from machine import loadavg, machine_info  # noqa: E402

from core.insight.index_quality import tie_aware_recall  # noqa: E402  (the rule the Costs page's recall uses)
from core.vectors import unit_rows  # noqa: E402

MODEL = "minilm-static-256"
TOP_K = 10
INSERT_BATCH = 500


class TreeRss:
    """Peak RSS of one process and of its descendants, sampled from /proc while it runs."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval = pid, interval
        self.main_kb = self.engine_kb = self.workers_kb = self.total_kb = self.ours_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            kids = eng.descendants(self.pid)
            # Milvus Lite's engine is a `milvus` binary; ingest's embedding workers are Python processes.
            engine = [k for k in kids if eng.process_name(k) == "milvus"]
            workers = [k for k in kids if k not in engine]
            rss = {k: eng.proc_status_kb(k, "VmRSS") or 0 for k in [self.pid, *kids]}
            self.main_kb = max(self.main_kb, eng.proc_status_kb(self.pid, "VmHWM") or 0)
            self.engine_kb = max(self.engine_kb, sum(eng.proc_status_kb(k, "VmHWM") or 0 for k in engine))
            self.workers_kb = max(self.workers_kb, sum(eng.proc_status_kb(k, "VmHWM") or 0 for k in workers))
            self.ours_kb = max(self.ours_kb, rss[self.pid] + sum(rss[k] for k in workers))
            self.total_kb = max(self.total_kb, sum(rss.values()))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self) -> dict:
        return {
            "cli_process_peak_mb": round(self.main_kb / 1024),
            "embedding_workers_peak_mb": round(self.workers_kb / 1024),
            "cli_and_workers_sampled_peak_mb": round(self.ours_kb / 1024),
            "engine_peak_mb": round(self.engine_kb / 1024),
            "sampled_total_peak_mb": round(self.total_kb / 1024),
        }


def write_corpus(datasets: Path, copies: int, path: Path) -> int:
    records = [json.loads(line) for line in (datasets / "scifact" / "corpus.jsonl").open(encoding="utf-8")]
    with path.open("w", encoding="utf-8") as out:
        for copy in range(copies):
            for r in records:
                out.write(json.dumps({**r, "id": f"{r['id']}-c{copy}"}, ensure_ascii=False) + "\n")
    return len(records) * copies


def cli_ingest(corpus: Path, env: dict) -> dict:
    command = [sys.executable, "-m", "core", "ingest", str(corpus), "--library", "bench", "--model", MODEL]
    started = time.perf_counter()
    proc = subprocess.Popen([*command, "--json", "--quiet"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    with TreeRss(proc.pid) as rss:
        out, _ = proc.communicate()
    seconds = time.perf_counter() - started
    summary = json.loads(out)
    return {"seconds": round(seconds, 2), "exit": proc.returncode, "summary": summary, "memory": rss.report()}


def same_chunks(corpus: Path, embedder) -> tuple[list, list[str]]:
    """The rows ingest makes (read and chunked by core, vectors left out), to feed the raw baselines."""
    from core.ingest.chunking import chunk_text
    from core.ingest.pipeline import default_chunking
    from core.read.documents import read_path

    settings = default_chunking()
    docs = read_path(corpus).documents
    rows, texts = [], []
    for doc in docs:
        for i, chunk in enumerate(chunk_text(doc.text, settings, embedder.count_tokens)):
            rows.append((doc.name, doc.content_hash, i, chunk.start, chunk.end))
            texts.append(chunk.text)
    return rows, texts


def raw_encode(model_dir: str, texts: list[str]) -> tuple[float, np.ndarray]:
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(model_dir)
    seconds, vectors = eng.timed(lambda: model.encode(texts))
    return seconds, np.asarray(vectors, dtype=np.float32)


def raw_insert(db: Path, rows: list, texts: list[str], vectors: np.ndarray, analyzer: str) -> dict:
    from pymilvus import MilvusClient

    from core.storage.schema import chunk_schema
    from core.types import document_key

    client = MilvusClient(str(db))
    schema, index = chunk_schema(client, vectors.shape[1], analyzer)
    client.create_collection("raw", schema=schema, index_params=index)
    records = [
        {
            "id": f"{i:032x}",
            "vector": vectors[i],
            "text": texts[i],
            "document": name,
            "doc_key": document_key(name),
            "doc_hash": doc_hash,
            "title": "",
            "doc_type": "json",
            "chunk": chunk,
            "n_chunks": 1,
            "start": start,
            "end": end,
            "page": -1,
        }
        for i, (name, doc_hash, chunk, start, end) in enumerate(rows)
    ]
    t0 = time.perf_counter()
    for start in range(0, len(records), INSERT_BATCH):
        client.insert("raw", records[start : start + INSERT_BATCH])
    t1 = time.perf_counter()
    client.flush("raw")
    t2 = time.perf_counter()
    client.close()
    return {"insert_s": round(t1 - t0, 2), "flush_s": round(t2 - t1, 2), "seconds": round(t2 - t0, 2)}


def exact_topk(matrix: np.ndarray, query: np.ndarray, k: int = TOP_K) -> tuple[np.ndarray, float]:
    scores = matrix @ unit_rows(query)
    top = np.argpartition(-scores, k)[:k]
    return scores, float(np.sort(scores[top])[0])


def bench_search(store, embedder, raw_model, matrix: np.ndarray, queries: list[str]) -> dict:
    from core.search.query import search
    from core.types import SearchMode

    meta = store.catalog.find("bench", MODEL)
    names = ["raw_dense", "raw_dense_ids_only", "numpy_dense"]
    timings: dict[str, list[float]] = {m.value: [] for m in SearchMode} | {name: [] for name in names}
    recall = []
    for q in queries:  # interleaved, so load from elsewhere hits every variant alike
        for mode in SearchMode:
            seconds, result = eng.timed(lambda mode=mode, q=q: search(q, "bench", embedder, store, TOP_K, mode=mode))
            timings[mode.value].append(seconds)
            if mode == SearchMode.DENSE:
                vector = embedder.encode([q])[0]
                _, kth = exact_topk(matrix, vector)
                recall.append(tie_aware_recall([h.score for h in result.hits], kth))

        def raw(q: str = q) -> object:
            vector = raw_model.encode([q]).astype(np.float32)  # the bundled model gives float16
            if meta.metric == "IP":  # unit vectors under IP: what our store sends
                vector = vector / np.linalg.norm(vector, axis=1, keepdims=True)
            return store.client.search(
                meta.collection,
                data=vector,
                anns_field="vector",
                limit=TOP_K,
                output_fields=["document", "chunk", "text", "start", "end", "page", "title"],
                search_params={"metric_type": meta.metric},
            )

        encoded = raw_model.encode([q]).astype(np.float32)
        encoded = encoded / np.linalg.norm(encoded, axis=1, keepdims=True) if meta.metric == "IP" else encoded

        def floor(vector: np.ndarray = encoded) -> object:
            # The engine alone: a search returning ids only, the query already encoded. No store can beat it.
            return store.client.search(
                meta.collection,
                data=vector,
                anns_field="vector",
                limit=TOP_K,
                search_params={"metric_type": meta.metric},
            )

        timings["raw_dense"].append(eng.timed(raw)[0])
        timings["raw_dense_ids_only"].append(eng.timed(floor)[0])
        vector = raw_model.encode([q])[0]
        timings["numpy_dense"].append(eng.timed(lambda v=vector: exact_topk(matrix, v))[0])
    out = {name: eng.pct_ms(samples) for name, samples in timings.items()}
    out["ratio_p50_dense_vs_raw"] = eng.ratio(out["dense"]["p50_ms"], out["raw_dense"]["p50_ms"])
    out["recall_at_10_dense_vs_numpy"] = round(float(np.mean(recall)), 4)
    return out


def bench_indexes(db: Path, matrix: np.ndarray, qvecs: np.ndarray) -> dict:
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(str(db))
    kinds = {  # label: index type, metric, build params, search params swept
        "FLAT": ("FLAT", "COSINE", {}, [{}]),
        "FLAT_IP": ("FLAT", "IP", {}, [{}]),  # what the store uses: unit vectors, inner product
        "IVF_FLAT": ("IVF_FLAT", "COSINE", {"nlist": 1024}, [{"nprobe": n} for n in (16, 64, 128, 256)]),
        "HNSW": ("HNSW", "COSINE", {"M": 16, "efConstruction": 200}, [{"ef": 64}]),
    }
    qvecs = unit_rows(qvecs)  # the rows of `matrix` are unit already
    out = {}
    for label, (kind, metric, build, sweep) in kinds.items():
        name = f"idx_{label.lower()}"
        try:
            schema = client.create_schema(auto_id=True)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=matrix.shape[1])
            index = client.prepare_index_params()
            index.add_index("vector", index_type=kind, metric_type=metric, params=build)
            client.create_collection(name, schema=schema, index_params=index)
            t0 = time.perf_counter()
            for start in range(0, len(matrix), 5_000):
                client.insert(name, [{"vector": v} for v in matrix[start : start + 5_000]])
            client.flush(name)
            build_s = time.perf_counter() - t0
            out[label] = {"insert_and_flush_s": round(build_s, 2), "build": build, "search": []}
            for params in sweep:
                times, recall = [], []
                for q in qvecs:
                    seconds, res = eng.timed(
                        lambda q=q, name=name, params=params, metric=metric: client.search(
                            name,
                            data=[q],
                            anns_field="vector",
                            limit=TOP_K,
                            search_params={"metric_type": metric, "params": params},
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=Path, default=eng.DEFAULT_DATASETS)
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--skip-indexes", action="store_true")
    parser.add_argument("--indexes-only", action="store_true", help="only step 4, on the same chunks")
    args = parser.parse_args(argv)
    out: dict = {"benchmark": "bench/storage.py", "machine": machine_info(), "config": vars(args) | {}}
    out["config"]["datasets"] = str(args.datasets)
    with tempfile.TemporaryDirectory(prefix="potion-storage-") as tmp:
        work = Path(tmp)
        env = {
            **os.environ,
            "POTION_DATA_DIR": str(work),
            "POTION_DB_PATH": str(work / "ours.db"),
            "HF_HUB_OFFLINE": "1",
        }
        env.pop("MILVUS_URI", None)
        os.environ.update({k: env[k] for k in ("POTION_DATA_DIR", "POTION_DB_PATH", "HF_HUB_OFFLINE")})
        os.environ.pop("MILVUS_URI", None)
        corpus = work / "corpus.jsonl"
        out["config"]["records"] = write_corpus(args.datasets, args.copies, corpus)
        if args.indexes_only:
            return _indexes_only(args, out, work, corpus)

        eng.log(f"ingest: python -m core ingest ({out['config']['records']:,} records)")
        out["ingest"] = cli_ingest(corpus, env)
        eng.log(f"ingest: {out['ingest']['seconds']} s, {out['ingest']['memory']}")

        from core.embed.loading import load_embedder, resolve_model

        embedder = load_embedder(MODEL)
        model_dir = resolve_model(MODEL).source
        eng.log("raw: chunk (untimed), encode, insert")
        rows, texts = same_chunks(corpus, embedder)
        encode_s, vectors = raw_encode(model_dir, texts)
        analyzer = None
        from core.storage import open_store

        store = open_store()
        meta = store.catalog.find("bench", MODEL)
        analyzer = meta.analyzer or None
        store.close()
        insert = raw_insert(work / "raw.db", rows, texts, vectors, analyzer)
        slower = max(encode_s, insert["seconds"])
        out["raw"] = {"chunks": len(texts), "encode_s": round(encode_s, 2), "insert": insert}
        out["ingest"]["ratio_to_slower_raw_step"] = eng.ratio(out["ingest"]["seconds"], slower)

        eng.log("reopen + first search")
        from core.search.query import search

        t0 = time.perf_counter()
        store = open_store()
        t1 = time.perf_counter()
        search("boundary layer", "bench", embedder, store, TOP_K)
        t2 = time.perf_counter()
        out["reopen"] = {"open_s": round(t1 - t0, 3), "first_search_s": round(t2 - t1, 3)}

        queries = [json.loads(line)["text"] for line in (args.datasets / "scifact" / "queries.jsonl").open()]
        queries = queries[: args.queries]
        known = np.any(vectors != 0, axis=1)
        matrix = unit_rows(vectors[known])
        from model2vec import StaticModel

        raw_model = StaticModel.from_pretrained(model_dir)
        eng.log(f"search: {len(queries)} queries x (3 modes + raw + numpy)")
        out["search"] = bench_search(store, embedder, raw_model, matrix, queries)
        out["search"]["chunks"] = store.index("bench", MODEL).count()
        store.close()
        if not args.skip_indexes:
            eng.log("indexes: FLAT / IVF_FLAT / HNSW")
            qvecs = np.asarray(raw_model.encode(queries), dtype=np.float32)
            out["indexes"] = bench_indexes(work / "idx.db", matrix, qvecs)
    out["machine"]["loadavg_end"] = loadavg()
    out["summary"] = {
        "chunks": out["search"]["chunks"],
        "ingest_s": out["ingest"]["seconds"],
        "ingest_ratio_to_slower_raw": out["ingest"]["ratio_to_slower_raw_step"],
        "ingest_memory": out["ingest"]["memory"],
        "dense_p50_ms": out["search"]["dense"]["p50_ms"],
        "keyword_p50_ms": out["search"]["keyword"]["p50_ms"],
        "hybrid_p50_ms": out["search"]["hybrid"]["p50_ms"],
        "raw_dense_p50_ms": out["search"]["raw_dense"]["p50_ms"],
        "raw_dense_ids_only_p50_ms": out["search"]["raw_dense_ids_only"]["p50_ms"],
        "numpy_dense_p50_ms": out["search"]["numpy_dense"]["p50_ms"],
        "first_search_after_open_s": out["reopen"]["first_search_s"],
    }
    print(json.dumps(out, indent=1))
    return 0


def _indexes_only(args: argparse.Namespace, out: dict, work: Path, corpus: Path) -> int:
    from core.embed.loading import load_embedder, resolve_model

    embedder = load_embedder(MODEL)
    _, texts = same_chunks(corpus, embedder)
    _, vectors = raw_encode(resolve_model(MODEL).source, texts)
    known = np.any(vectors != 0, axis=1)
    matrix = unit_rows(vectors[known])
    queries = [json.loads(line)["text"] for line in (args.datasets / "scifact" / "queries.jsonl").open()]
    qvecs = embedder.encode(queries[: args.queries])
    out["indexes"] = bench_indexes(work / "idx.db", matrix, qvecs)
    out["machine"]["loadavg_end"] = loadavg()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
