"""Ingest and search speed of Potion Search against the raw libraries, measured in one run.

For each corpus (BEIR corpus.jsonl) and each bundled model, in a fresh temporary data dir:

1. encode    core Embedder.encode vs raw model2vec StaticModel.encode on the same chunk texts
2. ingest    core.ingest.pipeline.ingest (read + chunk + embed + delete/upsert + flush) vs a raw baseline that
             only does StaticModel.encode + MilvusClient.insert (batches of 5,000, same schema) + flush
             into a fresh Milvus Lite database, on the same pre-chunked texts; our time split by stage
3. reingest  the same files again (all unchanged): seconds and ratio to the first ingest
4. search    core.search.query.search_many (one batch) and core.search.query.search (one call per query) vs raw
             MilvusClient.search with the same query vectors (batched, one by one) and vs exact numpy
             (normalised matrix product + argpartition); recall@10 of each against numpy
5. scale     synthetic rows x 256 dims written with MilvusStore.write vs MilvusClient.insert, then
             flush and search latency (ours, raw Milvus, numpy)

    .venv/bin/python bench/ingest_search.py > ingest_search.json     # full run, under ~10 min on 2 cores
    .venv/bin/python bench/ingest_search.py --quick                  # smaller version, under 1 min

Prints ONE JSON object on stdout; progress lines go to stderr. Every ratio is ours / raw of a
time (1.0 = parity, 2.0 = we take twice as long); rates are per second. Nothing under data/ is
touched: POTION_DATA_DIR and POTION_DB_PATH point at a temporary directory, removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from machine import loadavg, machine_info
from measure import T0, log, ratio, rnd, run_in_workdir, timed

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = ROOT.parent / "shared" / "datasets"
MODELS = ("minilm-static-64", "minilm-static-256")
TOP_K = 10
RAW_INSERT_BATCH = 5_000


# --- small helpers -----------------------------------------------------------------------------


def timed_cpu(fn: Callable[[], object]) -> tuple[float, float, object]:
    """Wall seconds, CPU seconds of this process (all threads; Milvus Lite runs in-process), output."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, dict]:
    """Run each function once per round, `repeats` rounds, so load from other processes hits all alike.

    Per label: median wall and CPU seconds, all wall samples, and the last output."""
    runs: dict[str, dict] = {k: {"wall": [], "cpu": [], "out": None} for k in fns}
    for _ in range(repeats):
        for label, fn in fns.items():
            wall, cpu, out = timed_cpu(fn)
            runs[label]["wall"].append(wall)
            runs[label]["cpu"].append(cpu)
            runs[label]["out"] = out
    for r in runs.values():
        r["s"], r["cpu_s"] = statistics.median(r["wall"]), statistics.median(r["cpu"])
    return runs


@contextlib.contextmanager
def tokenizer_env_restored() -> Iterator[None]:
    """StaticModel.encode sets TOKENIZERS_PARALLELISM=false for the whole process when it takes its
    threaded path (> 10,000 texts); put the variable back so the next measurement starts as the app does."""
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = before


class CallTimer:
    """Wraps methods of one object instance (never the class) and adds up their time and calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.samples: dict[str, list[float]] = {}
        self._wrapped: list[tuple[object, str, object, bool]] = []

    def wrap(self, obj: object, name: str, label: str) -> None:
        original = getattr(obj, name)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds = time.perf_counter() - start
                self.seconds[label] = self.seconds.get(label, 0.0) + seconds
                self.calls[label] = self.calls.get(label, 0) + 1
                self.samples.setdefault(label, []).append(seconds)

        own = name in vars(obj)  # a class's own method is put back; an instance's wrapper just goes
        setattr(obj, name, functools.wraps(original)(wrapper))
        self._wrapped.append((obj, name, original, own))

    def unwrap(self) -> None:
        for obj, name, original, own in reversed(self._wrapped):
            if own:
                setattr(obj, name, original)
            else:
                delattr(obj, name)  # the instance attribute goes; the class method shows through again
        self._wrapped.clear()

    def report(self, per_call: tuple[str, ...] = ()) -> dict:
        """Total seconds and calls per label; each call's seconds too for the labels in `per_call`."""
        out = {}
        for label, seconds in sorted(self.seconds.items()):
            out[label] = {"seconds": rnd(seconds, 3), "calls": self.calls[label]}
            if label in per_call:
                out[label]["per_call_s"] = [rnd(x, 3) for x in self.samples[label]]
        return out


class StageClock:
    """The ingest progress callback: remembers when each stage first and last reported."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        self.first.setdefault(stage, now)
        self.last[stage] = now

    def stages(self, end: float) -> dict[str, float]:
        """Seconds per stage, from its first report (ingest reports 0/total as a stage starts) to its last;
        the time before a stage's first report is "before_<stage>" (before_index: creating or checking the
        collection and listing stored documents), and "finish" is after the last report (counting rows)."""
        out, cursor = {}, self.start
        for stage in sorted(self.first, key=self.first.get):
            gap = self.first[stage] - cursor
            if gap > 0.0005:
                out[f"before_{stage}"] = gap
            out[stage] = self.last[stage] - self.first[stage]
            cursor = self.last[stage]
        out["finish"] = end - cursor
        return {k: rnd(v, 3) for k, v in out.items()}


# --- data ----------------------------------------------------------------------------------------


def corpus_files(datasets: Path, name: str, workdir: Path, max_docs: int | None) -> tuple[Path, list[str]]:
    """The corpus.jsonl to ingest (the first `max_docs` lines copied to `workdir` when limited) and the query texts."""
    folder = datasets / name
    corpus = folder / "corpus.jsonl"
    if max_docs:
        subset = workdir / "corpora" / name / "corpus.jsonl"  # same file name: same document names
        subset.parent.mkdir(parents=True, exist_ok=True)
        with corpus.open(encoding="utf-8") as src:
            lines = [line for _, line in zip(range(max_docs), src)]
        subset.write_text("".join(lines), encoding="utf-8")
        corpus = subset
    queries = [json.loads(line)["text"] for line in (folder / "queries.jsonl").read_text().splitlines() if line.strip()]
    return corpus, queries


def prechunk(corpus: Path, embedder) -> tuple[list, list[str], list[tuple[str, int, int]], dict]:
    """Read and chunk as ingest does (default settings): documents, chunk texts, (doc, start, end) keys, row data."""
    from core.ingest.chunking import chunk_text
    from core.ingest.pipeline import default_chunking
    from core.read.documents import read_path

    settings = default_chunking()
    read = read_path(corpus)
    texts, keys, meta = [], [], []
    for doc in read.documents:
        chunks = chunk_text(doc.text, settings, embedder.count_tokens)
        for number, c in enumerate(chunks):
            texts.append(c.text)
            keys.append((doc.name, c.start, c.end))
            meta.append((doc, number, len(chunks), c))
    return read.documents, texts, keys, {"rows": meta, "settings": settings.as_dict()}


# --- raw Milvus -----------------------------------------------------------------------------------


def raw_create(client, name: str, dim: int) -> None:
    """A schema like core/storage/schema.py's (without BM25), built with MilvusClient directly."""
    from pymilvus import DataType

    if client.has_collection(name):
        client.drop_collection(name)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("text", DataType.VARCHAR, max_length=65_535)
    schema.add_field("document", DataType.VARCHAR, max_length=4_096)
    schema.add_field("doc_hash", DataType.VARCHAR, max_length=64)
    schema.add_field("title", DataType.VARCHAR, max_length=2_048)
    schema.add_field("doc_type", DataType.VARCHAR, max_length=16)
    for int_field in ("chunk", "n_chunks", "start", "end", "page"):
        schema.add_field(int_field, DataType.INT64)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="COSINE")
    client.create_collection(name, schema=schema, index_params=index)


def raw_insert(client, name: str, records: list[dict]) -> None:
    for start in range(0, len(records), RAW_INSERT_BATCH):
        client.insert(name, records[start : start + RAW_INSERT_BATCH])


def raw_search(client, name: str, vectors: np.ndarray, top_k: int = TOP_K, metric: str = "COSINE") -> list:
    """The call MilvusStore.search makes (same output fields), minus everything around it; under the IP metric
    the vectors must already be at unit length, as the store sends them."""
    from core.storage.records import OUTPUT_FIELDS

    return client.search(
        name,
        data=np.asarray(vectors, dtype=np.float32).tolist(),
        anns_field="vector",
        limit=top_k,
        output_fields=OUTPUT_FIELDS,
        search_params={"metric_type": metric},
    )


def raw_keys(hits) -> list[tuple[str, int, int]]:
    return [(h["entity"]["document"], int(h["entity"]["start"]), int(h["entity"]["end"])) for h in hits]


# --- numpy exact ----------------------------------------------------------------------------------


def normalise(m: np.ndarray) -> np.ndarray:
    """float32 rows at unit length, as the stores normalise them (core.vectors)."""
    from core.vectors import unit_rows

    return unit_rows(np.asarray(m, dtype=np.float32))


def numpy_topk(matrix: np.ndarray, queries: np.ndarray, k: int = TOP_K) -> np.ndarray:
    """Exact cosine top-k (matrix and queries already normalised), best first."""
    scores = queries @ matrix.T
    k = min(k, matrix.shape[0])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


def overlap_at_k(found: list[list], exact: list[list], k: int = TOP_K) -> float:
    """Mean |found ∩ exact| / |exact| over queries (recall@k of `found` against the exact top-k)."""
    values = [len(set(f[:k]) & set(e[:k])) / max(1, len(e[:k])) for f, e in zip(found, exact)]
    return rnd(float(np.mean(values)) if values else 0.0, 4)


# --- the benchmarks -------------------------------------------------------------------------------


def bench_encode(embedder, raw_model, texts: list[str], repeats: int) -> tuple[dict, np.ndarray]:
    warm = texts[: min(256, len(texts))]
    embedder.encode(warm)
    with tokenizer_env_restored():
        raw_model.encode(warm)

    def raw_default():
        with tokenizer_env_restored():
            return raw_model.encode(texts)

    def raw_single():
        with tokenizer_env_restored():
            return raw_model.encode(texts, use_multiprocessing=False)

    runs = interleaved({"ours": lambda: embedder.encode(texts), "raw": raw_default, "raw_single": raw_single}, repeats)
    vectors, raw_vectors = runs["ours"]["out"], runs["raw"]["out"]
    o, r, s = runs["ours"]["s"], runs["raw"]["s"], runs["raw_single"]["s"]
    diff = float(np.max(np.abs(vectors - np.asarray(raw_vectors, dtype=np.float32)))) if len(texts) else 0.0
    n = len(texts)
    return {
        "texts": n,
        "repeats": repeats,
        "ours_s": rnd(o, 3),
        "raw_s": rnd(r, 3),
        "raw_single_thread_s": rnd(s, 3),
        "ours_texts_per_s": round(n / o),
        "raw_texts_per_s": round(n / r),
        "raw_single_thread_texts_per_s": round(n / s),
        "ratio_ours_raw": ratio(o, r),
        "ratio_ours_raw_single_thread": ratio(o, s),
        "ours_cpu_s": rnd(runs["ours"]["cpu_s"], 3),
        "raw_cpu_s": rnd(runs["raw"]["cpu_s"], 3),
        "cpu_ratio_ours_raw": ratio(runs["ours"]["cpu_s"], runs["raw"]["cpu_s"]),
        "samples_s": {k: [rnd(x, 3) for x in v["wall"]] for k, v in runs.items()},
        "max_abs_diff_vs_raw": diff,
    }, vectors


def bench_ingest(corpus: Path, library: str, embedder, store) -> tuple[dict, object]:
    from core.ingest.pipeline import ingest

    timer = CallTimer()
    from core.storage.milvus_index import MilvusIndex

    timer.wrap(store.catalog, "ensure", "store.catalog.ensure")
    for name in ("documents", "delete_documents", "write", "flush", "count"):  # every index handle's
        timer.wrap(MilvusIndex, name, f"store.{name}")
    for name in ("encode", "encode_ids", "token_ids"):
        timer.wrap(embedder, name, f"embedder.{name}")
    cpu = time.process_time()
    clock = StageClock()
    try:
        result = ingest([corpus], library, embedder, store, progress=clock)
    finally:
        timer.unwrap()
    end = time.perf_counter()
    cpu = time.process_time() - cpu
    seconds = end - clock.start
    summary = result.summary()
    docs = summary["documents_indexed"] + summary["documents_unchanged"]
    return {
        "seconds": rnd(seconds, 3),
        "cpu_s": rnd(cpu, 3),
        "documents": docs,
        "documents_indexed": summary["documents_indexed"],
        "documents_unchanged": summary["documents_unchanged"],
        "chunks_added": summary["chunks_added"],
        "chunks_total": summary["chunks_total"],
        "files_failed": len(summary["files_failed"]),
        "docs_per_s": round(docs / seconds, 1),
        "chunks_per_s": round(summary["chunks_total"] / seconds, 1),
        "stages_s": clock.stages(end),
        "calls": timer.report(per_call=("store.delete_documents", "store.write", "embedder.encode_ids")),
    }, result


def bench_raw_ingest(raw_model, raw_client, collection: str, dim: int, texts: list[str], rows_meta: list) -> dict:
    """model.encode + MilvusClient.insert in batches of 5,000 + flush, into a fresh collection of a fresh Lite db."""
    if raw_client.has_collection(collection):
        raw_client.drop_collection(collection)
    cpu = time.process_time()
    start = time.perf_counter()
    raw_create(raw_client, collection, dim)  # ours creates its collection inside ingest too
    t_create = time.perf_counter()
    with tokenizer_env_restored():
        vectors = np.asarray(raw_model.encode(texts), dtype=np.float32)  # float16 models: Milvus wants float32
    t_encode = time.perf_counter()
    records = []
    for (doc, number, n_chunks, chunk), vector in zip(rows_meta, vectors):
        key = f"{doc.name}\x00{doc.content_hash}\x00{number}\x00{chunk.start}:{chunk.end}"
        records.append(
            {
                "id": hashlib.sha256(key.encode()).hexdigest()[:32],
                "vector": vector,
                "text": chunk.text,
                "document": doc.name,
                "doc_hash": doc.content_hash,
                "title": doc.title or "",
                "doc_type": doc.doc_type,
                "chunk": number,
                "n_chunks": n_chunks,
                "start": chunk.start,
                "end": chunk.end,
                "page": -1,
            }
        )
    t_records = time.perf_counter()
    raw_insert(raw_client, collection, records)
    t_insert = time.perf_counter()
    raw_client.flush(collection)
    end = time.perf_counter()
    cpu = time.process_time() - cpu
    seconds = end - start
    return {
        "seconds": rnd(seconds, 3),
        "cpu_s": rnd(cpu, 3),
        "chunks": len(texts),
        "chunks_per_s": round(len(texts) / seconds, 1),
        "stages_s": {
            "create_collection": rnd(t_create - start, 3),
            "encode": rnd(t_encode - t_create, 3),
            "records": rnd(t_records - t_encode, 3),
            "insert": rnd(t_insert - t_records, 3),
            "flush": rnd(end - t_insert, 3),
        },
        "insert_rows_per_s": round(len(texts) / max(t_insert - t_records, 1e-9)),
    }


def bench_search(
    queries: list[str],
    library: str,
    embedder,
    store,
    raw_client,
    raw_collection: str,
    chunk_vectors: np.ndarray,
    keys: list[tuple[str, int, int]],
    repeats: int,
    one_by_one: int,
) -> dict:
    from core.search.query import search, search_many

    ours = store.catalog.find(library, embedder.info.name)
    qv = embedder.encode(queries)
    # Our index keeps unit vectors under IP (schema 3): the raw call on it gets the queries as the store sends them.
    ours_qv = normalise(qv) if ours.metric == "IP" else qv
    known = np.any(chunk_vectors != 0, axis=1)  # ingest drops chunks with no known token
    matrix = normalise(chunk_vectors[known])
    matrix_keys = [k for k, keep in zip(keys, known) if keep]
    qn = normalise(qv)
    n = len(queries)
    single = list(range(min(one_by_one, n)))

    # warm-up: the first call loads the collection and the Lite key walk
    search_many(queries[:5], library, embedder, store, top_k=TOP_K)
    raw_search(raw_client, raw_collection, qv[:5])
    raw_search(store.client, ours.collection, ours_qv[:5], metric=ours.metric)
    numpy_topk(matrix, qn[:5])

    runs = interleaved(
        {
            "ours": lambda: search_many(queries, library, embedder, store, top_k=TOP_K),
            "raw": lambda: raw_search(raw_client, raw_collection, qv),
            "raw_same": lambda: raw_search(store.client, ours.collection, ours_qv, metric=ours.metric),
            "numpy": lambda: numpy_topk(matrix, qn),
        },
        repeats,
    )
    ours_s, raw_s, same_s, np_s = (runs[k]["s"] for k in ("ours", "raw", "raw_same", "numpy"))
    ours_results, raw_results, same_results, np_idx = (runs[k]["out"] for k in ("ours", "raw", "raw_same", "numpy"))
    ours_search_part = sum(r.search_ms for r in ours_results) / 1000  # of the last repeat

    def each(fn):
        wall, cpu, out = timed_cpu(lambda: [fn(i) for i in single])
        return wall, cpu, out

    ours1_s, ours1_cpu, ours1 = each(lambda i: search(queries[i], library, embedder, store, top_k=TOP_K))
    raw1_s, raw1_cpu, raw1 = each(lambda i: raw_search(raw_client, raw_collection, qv[i : i + 1])[0])
    np1_s, _, _ = each(lambda i: numpy_topk(matrix, qn[i : i + 1]))

    find = interleaved({"find": lambda: store.catalog.find(library, embedder.info.name)}, 30)["find"]["s"]

    exact = [[matrix_keys[j] for j in row] for row in np_idx]
    ours_keys = [[(h.document, h.start, h.end) for h in r.hits] for r in ours_results]
    m = len(single)
    return {
        "queries": n,
        "top_k": TOP_K,
        "corpus_rows": int(matrix.shape[0]),
        "batch": {
            "repeats": repeats,
            "ours_s": rnd(ours_s),
            "ours_search_part_s": rnd(ours_search_part),  # index.search inside search_many (no encode, no Hit objects)
            "raw_milvus_s": rnd(raw_s),
            "raw_milvus_on_our_collection_s": rnd(same_s),
            "numpy_s": rnd(np_s, 5),
            "ours_ms_per_query": rnd(ours_s * 1000 / n, 3),
            "raw_milvus_ms_per_query": rnd(raw_s * 1000 / n, 3),
            "numpy_ms_per_query": rnd(np_s * 1000 / n, 4),
            "ours_queries_per_s": round(n / ours_s),
            "raw_milvus_queries_per_s": round(n / raw_s),
            "numpy_queries_per_s": round(n / np_s),
            "ratio_ours_raw_milvus": ratio(ours_s, raw_s),
            "ratio_ours_raw_milvus_same_collection": ratio(ours_s, same_s),
            "ratio_ours_numpy": ratio(ours_s, np_s),
            "ours_cpu_s": rnd(runs["ours"]["cpu_s"]),
            "raw_milvus_cpu_s": rnd(runs["raw"]["cpu_s"]),
            "cpu_ratio_ours_raw_milvus": ratio(runs["ours"]["cpu_s"], runs["raw"]["cpu_s"]),
            "samples_s": {k: [rnd(x) for x in v["wall"]] for k, v in runs.items()},
        },
        "one_by_one": {
            "queries": m,
            "ours_ms_per_query": rnd(ours1_s * 1000 / m, 3),
            "raw_milvus_ms_per_query": rnd(raw1_s * 1000 / m, 3),
            "numpy_ms_per_query": rnd(np1_s * 1000 / m, 4),
            "ours_queries_per_s": round(m / ours1_s, 1),
            "raw_milvus_queries_per_s": round(m / raw1_s, 1),
            "ratio_ours_raw_milvus": ratio(ours1_s, raw1_s),
            "ratio_ours_numpy": ratio(ours1_s, np1_s),
            "cpu_ratio_ours_raw_milvus": ratio(ours1_cpu, raw1_cpu),
            "store_find_ms": rnd(find * 1000, 3),  # search() looks the provenance up (catalog.find, index.meta)
        },
        "recall_at_10_vs_numpy": {
            "ours_batch": overlap_at_k(ours_keys, exact),
            "ours_one_by_one": overlap_at_k(
                [[(h.document, h.start, h.end) for h in r.hits] for r in ours1], [exact[i] for i in single]
            ),
            "raw_milvus_batch": overlap_at_k([raw_keys(h) for h in raw_results], exact),
            "raw_milvus_on_our_collection": overlap_at_k([raw_keys(h) for h in same_results], exact),
            "raw_milvus_one_by_one": overlap_at_k([raw_keys(h) for h in raw1], [exact[i] for i in single]),
        },
    }


def bench_scale(store, raw_client, rows: int, dim: int, n_queries: int, repeats: int) -> dict:
    from core.types import ChunkRow, CollectionMeta

    rng = np.random.default_rng(0)
    vectors = normalise(rng.standard_normal((rows, dim)).astype(np.float32))
    queries = normalise(rng.standard_normal((n_queries, dim)).astype(np.float32))
    per_doc = 10
    chunk_rows = [
        ChunkRow(
            f"synthetic#{i // per_doc}",
            "0" * 64,
            i % per_doc,
            per_doc,
            f"synthetic row {i}",
            0,
            16,
            vectors[i],
            -1,
            "",
            "synthetic",
        )
        for i in range(rows)
    ]
    library, model = "bench-scale", f"synthetic-{dim}"
    store.catalog.ensure(CollectionMeta(library, model, "synthetic", "local", "synthetic", dim, {}))
    log(f"scale: MilvusStore.write {rows:,} x {dim}")
    ours_write_s, ours_write_cpu, _ = timed_cpu(lambda: store.index(library, model).write(chunk_rows))
    ours_flush_s, _ = timed(lambda: store.index(library, model).flush())

    raw_collection = f"raw_scale_{dim}"
    raw_create(raw_client, raw_collection, dim)
    log(f"scale: MilvusClient.insert {rows:,} x {dim}")

    def build_and_insert():
        records = [
            {
                "id": f"{i:032x}",
                "vector": vectors[i],
                "text": f"synthetic row {i}",
                "document": f"synthetic#{i // per_doc}",
                "doc_hash": "0" * 64,
                "title": "",
                "doc_type": "synthetic",
                "chunk": i % per_doc,
                "n_chunks": per_doc,
                "start": 0,
                "end": 16,
                "page": -1,
            }
            for i in range(rows)
        ]
        raw_insert(raw_client, raw_collection, records)

    raw_write_s, raw_write_cpu, _ = timed_cpu(build_and_insert)
    raw_flush_s, _ = timed(lambda: raw_client.flush(raw_collection))

    log("scale: search")
    store.index(library, model).dense(queries[:2], TOP_K)  # warm-up and load
    raw_search(raw_client, raw_collection, queries[:2])
    runs = interleaved(
        {
            "ours": lambda: store.index(library, model).dense(queries, TOP_K),
            "raw": lambda: raw_search(raw_client, raw_collection, queries),
            "numpy": lambda: numpy_topk(vectors, queries),
        },
        repeats,
    )
    ours_batch_s, raw_batch_s, np_batch_s = (runs[k]["s"] for k in ("ours", "raw", "numpy"))
    ours_hits, raw_hits, np_idx = (runs[k]["out"] for k in ("ours", "raw", "numpy"))
    one = iter(range(10**9))
    single = interleaved(  # a different query each call
        {
            "ours": lambda: store.index(library, model).dense(queries[next(one) % n_queries][None, :], TOP_K),
            "raw": lambda: raw_search(raw_client, raw_collection, queries[next(one) % n_queries][None, :]),
            "numpy": lambda: numpy_topk(vectors, queries[next(one) % n_queries][None, :]),
        },
        min(20, n_queries),
    )
    ours_one, raw_one, np_one = (single[k]["wall"] for k in ("ours", "raw", "numpy"))

    exact_docs = [[(f"synthetic#{j // per_doc}", int(j % per_doc)) for j in row] for row in np_idx]
    ours_docs = [[(h.document, h.chunk) for h in hits] for hits in ours_hits]
    raw_docs = [[(h["entity"]["document"], int(h["entity"]["chunk"])) for h in hits] for hits in raw_hits]
    med = statistics.median
    store.catalog.drop(library)  # "bench-scale" holds this one index
    raw_client.drop_collection(raw_collection)
    return {
        "rows": rows,
        "dim": dim,
        "write": {
            "ours_s": rnd(ours_write_s, 3),
            "raw_s": rnd(raw_write_s, 3),
            "ours_rows_per_s": round(rows / ours_write_s),
            "raw_rows_per_s": round(rows / raw_write_s),
            "ratio_ours_raw": ratio(ours_write_s, raw_write_s),
            "cpu_ratio_ours_raw": ratio(ours_write_cpu, raw_write_cpu),
            "ours_flush_s": rnd(ours_flush_s, 3),
            "raw_flush_s": rnd(raw_flush_s, 3),
        },
        "search_after_flush": {
            "queries": n_queries,
            "batch_ours_ms_per_query": rnd(ours_batch_s * 1000 / n_queries, 3),
            "batch_raw_milvus_ms_per_query": rnd(raw_batch_s * 1000 / n_queries, 3),
            "batch_numpy_ms_per_query": rnd(np_batch_s * 1000 / n_queries, 4),
            "batch_ratio_ours_raw_milvus": ratio(ours_batch_s, raw_batch_s),
            "single_ours_ms_median": rnd(med(ours_one) * 1000, 3),
            "single_raw_milvus_ms_median": rnd(med(raw_one) * 1000, 3),
            "single_numpy_ms_median": rnd(med(np_one) * 1000, 3),
            "single_ratio_ours_raw_milvus": ratio(med(ours_one), med(raw_one)),
            "recall_at_10_vs_numpy": {
                "ours": overlap_at_k(ours_docs, exact_docs),
                "raw_milvus": overlap_at_k(raw_docs, exact_docs),
            },
        },
    }


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller run (500 SciFact docs, 50 queries, 5k scale rows)")
    p.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="holds <name>/corpus.jsonl, queries.jsonl")
    p.add_argument("--corpora", nargs="+", default=None, help="default: scifact cranfield (quick: scifact)")
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--max-docs", type=int, default=None, help="use only the first N documents of each corpus")
    p.add_argument("--max-queries", type=int, default=None, help="use only the first N queries")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats where cheap (median reported)")
    p.add_argument("--search-repeats", type=int, default=None, help="timed repeats of each batched search")
    p.add_argument("--one-by-one", type=int, default=None, help="queries searched one call at a time")
    p.add_argument("--scale-rows", type=int, default=None, help="synthetic rows for the scale test (0 skips it)")
    p.add_argument("--scale-dim", type=int, default=256)
    p.add_argument("--keep", action="store_true", help="keep the temporary data dir (its path goes to stderr)")
    args = p.parse_args(argv)
    quick = args.quick
    args.corpora = args.corpora or (["scifact"] if quick else ["scifact", "cranfield"])
    args.max_docs = args.max_docs if args.max_docs is not None else (500 if quick else None)
    args.max_queries = args.max_queries if args.max_queries is not None else (50 if quick else None)
    args.repeats = args.repeats or (1 if quick else 3)
    args.search_repeats = args.search_repeats or (2 if quick else 5)
    args.one_by_one = args.one_by_one if args.one_by_one is not None else (20 if quick else 100)
    args.scale_rows = args.scale_rows if args.scale_rows is not None else (5_000 if quick else 100_000)
    return args


def run(args: argparse.Namespace, workdir: Path) -> dict:
    # Before anything imports core: every path points into the temporary directory.
    os.environ["POTION_DATA_DIR"] = str(workdir / "data")
    os.environ["POTION_DB_PATH"] = str(workdir / "data" / "ours.db")
    os.environ.pop("MILVUS_URI", None)  # this benchmark measures Milvus Lite; never a configured server
    os.environ.pop("MILVUS_TOKEN", None)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))

    from model2vec import StaticModel

    from core.embed.loading import clear_model_cache, load_embedder, model_directory, resolve_model
    from core.storage.milvus import MilvusStore

    out: dict = {
        "benchmark": "bench/ingest_search.py",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine_info(),
        "config": {
            "corpora": args.corpora,
            "models": args.models,
            "max_docs": args.max_docs,
            "max_queries": args.max_queries,
            "repeats": args.repeats,
            "search_repeats": args.search_repeats,
            "one_by_one_queries": args.one_by_one,
            "top_k": TOP_K,
            "raw_insert_batch": RAW_INSERT_BATCH,
            "scale_rows": args.scale_rows,
            "scale_dim": args.scale_dim,
        },
        "results": [],
    }
    store = MilvusStore()
    from pymilvus import MilvusClient

    raw_client = MilvusClient(uri=str(workdir / "data" / "raw.db"))
    out["config"]["chunking"] = None
    for model_name in args.models:  # warm-up: imports and the OS file cache, so each timed load below is alike
        load_embedder(model_name)
        StaticModel.from_pretrained(model_directory(resolve_model(model_name)), force_download=False)

    for corpus_name in args.corpora:
        corpus, queries = corpus_files(args.datasets, corpus_name, workdir, args.max_docs)
        if args.max_queries:
            queries = queries[: args.max_queries]
        for model_name in args.models:
            tag = f"{corpus_name}/{model_name}"
            log(f"{tag}: load")
            clear_model_cache()  # a cold load each time (imports and the OS file cache were warmed above)
            load_s, embedder = timed(lambda name=model_name: load_embedder(name))
            folder = model_directory(resolve_model(model_name))
            raw_load_s, raw_model = timed(lambda f=folder: StaticModel.from_pretrained(f, force_download=False))
            log(f"{tag}: pre-chunk")
            chunk_s, (docs, texts, keys, meta) = timed(lambda c=corpus, e=embedder: prechunk(c, e))
            out["config"]["chunking"] = meta["settings"]
            row: dict = {
                "corpus": corpus_name,
                "model": model_name,
                "dim": embedder.dim,
                "dtype": embedder.info.dtype,
                "documents": len(docs),
                "chunks": len(texts),
                "queries": len(queries),
                "load": {
                    "ours_s": rnd(load_s, 3),
                    "raw_s": rnd(raw_load_s, 3),
                    "ratio_ours_raw": ratio(load_s, raw_load_s),
                },
                "prechunk_s": rnd(chunk_s, 3),
            }
            log(f"{tag}: encode {len(texts):,} chunks x {args.repeats}")
            row["encode"], chunk_vectors = bench_encode(embedder, raw_model, texts, args.repeats)

            library = f"bench-{corpus_name}"
            log(f"{tag}: ingest (ours)")
            row["ingest"], _ = bench_ingest(corpus, library, embedder, store)
            raw_collection = "raw_" + "".join(ch if ch.isalnum() else "_" for ch in f"{corpus_name}_{model_name}")
            log(f"{tag}: ingest (raw)")
            raw = bench_raw_ingest(raw_model, raw_client, raw_collection, embedder.dim, texts, meta["rows"])
            stages = row["ingest"]["stages_s"]
            # Chunking runs inside the "index" stage (batch by batch), so only reading can be set apart.
            ours_pipeline = sum(v for k, v in stages.items() if k in ("before_index", "clean", "index", "flush"))
            row["ingest"]["raw"] = raw
            row["ingest"]["ratio_ours_raw"] = ratio(row["ingest"]["seconds"], raw["seconds"])
            row["ingest"]["ratio_ours_without_read_raw"] = ratio(ours_pipeline, raw["seconds"])

            log(f"{tag}: re-ingest")
            row["reingest"], _ = bench_ingest(corpus, library, embedder, store)
            row["reingest"]["ratio_to_first_ingest"] = ratio(row["reingest"]["seconds"], row["ingest"]["seconds"])

            log(f"{tag}: search {len(queries)} queries")
            row["search"] = bench_search(
                queries,
                library,
                embedder,
                store,
                raw_client,
                raw_collection,
                chunk_vectors,
                keys,
                args.search_repeats,
                args.one_by_one,
            )
            out["results"].append(row)
            s = row["search"]["batch"]
            log(
                f"{tag}: encode x{row['encode']['ratio_ours_raw']}, ingest {row['ingest']['seconds']}s "
                f"(raw {raw['seconds']}s, x{row['ingest']['ratio_ours_raw']}), reingest {row['reingest']['seconds']}s, "
                f"search batch {s['ours_ms_per_query']} ms/q (raw {s['raw_milvus_ms_per_query']})"
            )
            raw_client.drop_collection(raw_collection)

    if args.scale_rows:
        out["scale"] = bench_scale(
            store, raw_client, args.scale_rows, args.scale_dim, 300 if not args.quick else 50, args.search_repeats
        )
    raw_client.close()
    store.close()
    out["summary"] = summarise(out)
    out["machine"]["loadavg_end"] = loadavg()
    out["total_seconds"] = rnd(time.perf_counter() - T0, 1)
    return out


def summarise(out: dict) -> dict:
    """The headline numbers, one row per corpus and model: ratios are ours / raw (times)."""
    rows = []
    for r in out["results"]:
        search = r["search"]
        rows.append(
            {
                "corpus": r["corpus"],
                "model": r["model"],
                "chunks": r["chunks"],
                "encode_texts_per_s": r["encode"]["ours_texts_per_s"],
                "encode_ratio": r["encode"]["ratio_ours_raw"],
                "ingest_s": r["ingest"]["seconds"],
                "ingest_raw_s": r["ingest"]["raw"]["seconds"],
                "ingest_ratio": r["ingest"]["ratio_ours_raw"],
                "ingest_ratio_without_read": r["ingest"]["ratio_ours_without_read_raw"],
                "reingest_s": r["reingest"]["seconds"],
                "reingest_ratio_to_first": r["reingest"]["ratio_to_first_ingest"],
                "search_batch_ms_per_query": search["batch"]["ours_ms_per_query"],
                "search_batch_ratio": search["batch"]["ratio_ours_raw_milvus"],
                "search_single_ms": search["one_by_one"]["ours_ms_per_query"],
                "search_single_ratio": search["one_by_one"]["ratio_ours_raw_milvus"],
                "recall_at_10_vs_numpy": search["recall_at_10_vs_numpy"]["ours_batch"],
            }
        )
    summary: dict = {"per_corpus_model": rows}
    if "scale" in out:
        scale = out["scale"]
        summary["scale"] = {
            "rows": scale["rows"],
            "write_rows_per_s": scale["write"]["ours_rows_per_s"],
            "write_ratio": scale["write"]["ratio_ours_raw"],
            "search_single_ms": scale["search_after_flush"]["single_ours_ms_median"],
            "search_single_ratio": scale["search_after_flush"]["single_ratio_ours_raw_milvus"],
            "search_batch_ms_per_query": scale["search_after_flush"]["batch_ours_ms_per_query"],
            "search_batch_ratio": scale["search_after_flush"]["batch_ratio_ours_raw_milvus"],
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_workdir("potion-bench-", args.keep, lambda workdir: run(args, workdir))


if __name__ == "__main__":
    sys.exit(main())
