"""One Milvus Lite engine per run on Potion Search's workload: milvus-lite 2.5.1 (C++) vs 3.x (pure Python).

Run it once per virtualenv, one after the other (never both at once: the machine has 2 cores); the
engine measured is whichever milvus-lite the interpreter has (recorded under "engine"):

    .venv/bin/python bench/engines.py > bench/results/engines-2.5.1.json         # the pinned 2.5.1 (~4 min)
    .venv-lite3/bin/python bench/engines.py > bench/results/engines-3.2.2.json   # 3.2.2, ~11 min (see test-lite3.sh)
    .venv/bin/python bench/engines.py --quick                                    # smoke run: 2k rows, < 1 min
    .venv/bin/python bench/engines.py --scales 300000 --skip correctness,bm25    # one larger scale only

The collections use the project's real schema (`core.storage.schema.chunk_schema`: FLAT/COSINE dense field,
BM25 function over `text` into `sparse`), with the best analyzer the engine accepts ("english", else
"standard"). Rows are ~600-character pieces (split at sentence ends) of the SciFact and Cranfield abstracts
in ../shared/datasets, cycled to reach each scale, with seeded random unit 256-dim vectors and content-derived
ids (as core.types.ChunkRow.id derives them). Query texts come from the corpora's queries.jsonl, query
vectors are random.

Per scale (`--scales`, default 10,000 and 100,000 rows), in a fresh Lite database:

1. insert    `client.insert` rows/s at batch sizes 500 and 5,000 (a fresh collection each), then `flush`
2. reopen    close the client and stop the engine (`server_manager_instance.release_server`), then a new
             `MilvusClient` on the same file: seconds to connect, `load_collection`, first dense query (cold)
             and first keyword query
3. latency   one query per call, p50/p95 ms over `--queries` queries (interleaved, so load from other
             processes hits all alike): dense (COSINE), keyword (BM25 on `sparse`), hybrid as those two
             calls fused in Python with RRF k=60, and `client.hybrid_search` with RRFRanker(60) (errors
             recorded when unsupported); exact numpy (normalised matrix @ query + argpartition) alongside
4. batched   100 query vectors in one dense call: ms per query, vs numpy on the same matrix; recall@10 vs numpy
5. memory    peak RSS of this process (VmHWM, reset per scale via /proc/self/clear_refs) and of its child
             processes (2.5.1 runs the engine as a `milvus` child; sampled from /proc by a thread)

Once per run:

6. correctness  count(*) exactness, upsert of the same ids keeps the count, delete by `doc_key == "<hex>"`
                removes exactly that document's rows, non-ASCII document names round-trip byte-identical and
                are found by doc_key, what raw string literal filters do, and a SIGKILL mid-ingest (a child
                process upserting batches) followed by reopen + re-upsert of all rows (the count must converge)
7. bm25         nDCG@10 of keyword search per analyzer (english, standard, jieba; unsupported ones recorded)
                and corpus (one row per document: title + " " + text; all queries; qrels.tsv gains)

Prints ONE JSON object on stdout; progress lines go to stderr. Times are wall seconds (time.perf_counter).
Everything lives in a temporary directory that is removed at the end; nothing under data/ is touched.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from machine import loadavg, machine_info, version
from measure import T0, log, ratio, rnd, run_in_workdir, timed  # storage.py uses them as eng.*

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = ROOT.parent / "shared" / "datasets"
CORPORA = ("scifact", "cranfield")
DIM = 256
TOP_K = 10
RRF_K = 60
CHUNK_CHARS = 600
INSERT_BATCHES = (500, 5_000)
BATCH_QUERIES = 100
ANALYZER_PREFERENCE = ("english", "standard")
BM25_ANALYZERS = ("english", "standard", "jieba")
OUTPUT_FIELDS = ["document", "chunk", "text", "start", "end", "page", "title"]
CHECK_TIMEOUT = 30.0  # seconds; pymilvus retries some errors for minutes without one (75 retries)
PROBE_TIMEOUT = 10.0  # for calls that may fail because the engine lacks a feature
UNICODE_NAMES = (
    "café.txt",  # NFC é
    "cafe\u0301 déjà vu.txt",  # NFD: e + combining acute
    "naïve résumé — Œuvre.md",
    "Привет мир.txt",
    "文档 测试.pdf",
    "データ.docx",
    "emoji 🙂🚀 notes.txt",
)
# --- small helpers -----------------------------------------------------------------------------


def err(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).strip()[:300]}"


def pct_ms(samples: list[float]) -> dict:
    """p50/p95/mean in ms of a list of seconds."""
    if not samples:
        return {"n": 0}
    a = np.asarray(samples) * 1000
    return {
        "n": len(samples),
        "p50_ms": rnd(float(np.percentile(a, 50)), 3),
        "p95_ms": rnd(float(np.percentile(a, 95)), 3),
        "mean_ms": rnd(float(a.mean()), 3),
    }


def proc_status_kb(pid: int | str, key: str) -> int | None:
    """A `VmRSS`/`VmHWM` line of /proc/<pid>/status in kB (None when the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def descendants(pid: int) -> list[int]:
    """All live descendants of `pid`, from /proc/<pid>/task/*/children (recursively)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    kids = [int(x) for x in f.read().split()]
            except (OSError, ValueError):
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


def process_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


class RssMonitor:
    """Peak RSS of this process (VmHWM, reset at start) and of its children (sampled every `interval` s).

    Children peak = the largest sum over one sample of the live children's VmHWM (a restarted engine child
    does not add to the one it replaced); total = self peak + children peak (an upper bound of the true
    joint peak); sampled_total = the largest sampled VmRSS(self) + VmRSS(children)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.reset_ok = False
        self.children_peak_kb = 0
        self.sampled_total_kb = 0
        self.children_seen: dict[int, str | None] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> RssMonitor:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
            self.reset_ok = True
        except OSError:
            self.reset_ok = False
        self.start_kb = proc_status_kb("self", "VmRSS") or 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        me = os.getpid()
        kids = descendants(me)
        hwm = rss = 0
        for k in kids:
            if k not in self.children_seen:
                self.children_seen[k] = process_name(k)
            hwm += proc_status_kb(k, "VmHWM") or 0
            rss += proc_status_kb(k, "VmRSS") or 0
        self.children_peak_kb = max(self.children_peak_kb, hwm)
        self.sampled_total_kb = max(self.sampled_total_kb, rss + (proc_status_kb(me, "VmRSS") or 0))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample()

    def report(self) -> dict:
        self_peak = proc_status_kb("self", "VmHWM") or 0
        mb = 1024
        return {
            "self_peak_mb": round(self_peak / mb),
            "children_peak_mb": round(self.children_peak_kb / mb),
            "total_peak_mb": round((self_peak + self.children_peak_kb) / mb),
            "sampled_total_peak_mb": round(self.sampled_total_kb / mb),
            "self_rss_at_start_mb": round(self.start_kb / mb),
            "self_peak_reset_per_scale": self.reset_ok,
            "children": sorted({n or "?" for n in self.children_seen.values()}),
        }


# --- data ----------------------------------------------------------------------------------------

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_chunks(text: str, target: int = CHUNK_CHARS) -> list[tuple[int, int]]:
    """(start, end) character spans of `text`, cut at sentence ends once a piece reaches ~`target` chars."""
    if not text.strip():
        return []
    cuts = [m.end() for m in SENTENCE_END.finditer(text)] + [len(text)]
    spans, start = [], 0
    for cut in cuts:
        if cut - start >= target or cut == len(text):
            if cut > start:
                spans.append((start, cut))
            start = cut
    # A single sentence longer than 2x target is cut hard, so no piece is far above ~128 tokens.
    out = []
    for s, e in spans:
        while e - s > 2 * target:
            out.append((s, s + target))
            s += target
        out.append((s, e))
    return out


def load_documents(datasets: Path) -> list[dict]:
    """Every document of the corpora, interleaved (scifact, cranfield, scifact, ...), with its chunk spans."""
    per_corpus = []
    for corpus in CORPORA:
        docs = []
        with (datasets / corpus / "corpus.jsonl").open(encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                d = json.loads(line)
                spans = split_chunks(d["text"])
                if spans:
                    docs.append(
                        {"corpus": corpus, "id": d["id"], "title": d["title"], "text": d["text"], "spans": spans}
                    )
        per_corpus.append(docs)
    out = []
    for i in range(max(len(d) for d in per_corpus)):
        out.extend(d[i] for d in per_corpus if i < len(d))
    return out


def load_queries(datasets: Path, corpus: str) -> list[dict]:
    path = datasets / corpus / "queries.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_qrels(datasets: Path, corpus: str) -> dict[str, dict[str, int]]:
    """query id -> {doc id: relevance}; the TSV has a header (query id, doc id, relevance), read by position."""
    qrels: dict[str, dict[str, int]] = {}
    lines = (datasets / corpus / "qrels.tsv").read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        parts = line.split("\t")
        if len(parts) >= 3:
            qrels.setdefault(parts[0], {})[parts[1]] = int(float(parts[2]))
    return qrels


def doc_key(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]


def row_id(document: str, doc_hash: str, chunk: int, start: int, end: int) -> str:
    """Content-derived, as core.types.ChunkRow.id: writing the same chunk again replaces it."""
    key = f"{document}\x00{doc_hash}\x00{chunk}\x00{start}:{end}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    m = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return m


def make_rows(docs: list[dict], n: int, dim: int = DIM, seed: int = 0) -> tuple[list[dict], np.ndarray]:
    """`n` chunk rows: the documents' chunks, cycled (pass r renames each document "<name>~r") until n rows.

    Returns the rows (vectors are rows of the returned unit matrix) and the matrix."""
    matrix = unit_vectors(n, dim, seed)
    rows: list[dict] = []
    cycle = 0
    while len(rows) < n:
        for d in docs:
            name = f"{d['corpus']}/{d['id']}" + (f"~{cycle}" if cycle else "") + ".txt"
            key = doc_key(name)
            doc_hash = hashlib.sha256(f"{cycle}\x00{d['text']}".encode()).hexdigest()
            n_chunks = len(d["spans"])
            for number, (start, end) in enumerate(d["spans"]):
                i = len(rows)
                rows.append(
                    {
                        "id": row_id(name, doc_hash, number, start, end),
                        "vector": matrix[i],
                        "text": d["text"][start:end],
                        "document": name,
                        "doc_key": key,
                        "doc_hash": doc_hash,
                        "title": d["title"][:500],
                        "doc_type": "txt",
                        "chunk": number,
                        "n_chunks": n_chunks,
                        "start": start,
                        "end": end,
                        "page": -1,
                    }
                )
                if len(rows) == n:
                    return rows, matrix
        cycle += 1
    return rows, matrix


# --- engine helpers -------------------------------------------------------------------------------


def engine_info(client) -> dict:
    import milvus_lite

    info = {
        "milvus_lite": version("milvus-lite"),
        "pymilvus": version("pymilvus"),
        "kind": "pure Python, in-process gRPC server thread"
        if hasattr(milvus_lite, "MilvusLite")
        else "C++ `milvus` binary as a child process (unix socket)",
    }
    try:
        info["server_version"] = client.get_server_version(timeout=5)
    except Exception as e:  # 2.5.1: UNIMPLEMENTED
        info["server_version"] = None
        info["server_version_error"] = err(e)
    return info


def open_client(db: Path):
    from pymilvus import MilvusClient

    return MilvusClient(uri=str(db))


def release_engine(db: Path) -> None:
    """Stop the engine serving `db` (pymilvus keeps it running after client.close() for the process's life)."""
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(str(db))


def create_chunks(client, name: str, analyzer: str, timeout: float | None = None) -> None:
    from core.storage.schema import chunk_schema

    schema, index = chunk_schema(client, DIM, analyzer, metric="COSINE")  # as ENGINES.md measured
    client.create_collection(name, schema=schema, index_params=index, timeout=timeout)


def pick_analyzer(client) -> tuple[str, dict]:
    """The first analyzer of ANALYZER_PREFERENCE that the engine accepts, and the errors of those it refused."""
    refused = {}
    for analyzer in ANALYZER_PREFERENCE:
        error = probe_analyzer(client, analyzer)
        if error:
            refused[analyzer] = error
            continue
        return analyzer, refused
    raise RuntimeError(f"no analyzer accepted: {refused}")


def probe_analyzer(client, analyzer: str) -> str | None:
    """None when the engine creates a collection with `analyzer`, inserts a row and finds it by keyword.

    2.5.1 accepts {"type": "jieba"} at create_collection and fails only at insert (tokenizer creation)."""
    name = "probe_analyzer"
    try:
        if client.has_collection(name):
            client.drop_collection(name)
        create_chunks(client, name, analyzer, timeout=PROBE_TIMEOUT)
        row = {"id": "p", "vector": unit_vectors(1, DIM, 0)[0], "text": "probe words here", "document": "p"}
        row |= {"doc_key": doc_key("p"), "doc_hash": "", "title": "", "doc_type": "txt"}
        row |= {"chunk": 0, "n_chunks": 1, "start": 0, "end": 1, "page": -1}
        client.insert(name, [row], timeout=PROBE_TIMEOUT)
        hits = client.search(
            name,
            data=["words"],
            anns_field="sparse",
            limit=1,
            search_params={"metric_type": "BM25"},
            timeout=PROBE_TIMEOUT,
        )
        if not hits or not hits[0]:
            return "keyword search found nothing"
        return None
    except Exception as e:
        return err(e)
    finally:
        with contextlib.suppress(Exception):
            client.drop_collection(name, timeout=PROBE_TIMEOUT)


def engine_answers(client) -> bool:
    try:
        client.list_collections(timeout=PROBE_TIMEOUT)
        return True
    except Exception:
        return False


def count_rows(client, name: str, timeout: float | None = CHECK_TIMEOUT) -> int:
    res = client.query(name, filter="", output_fields=["count(*)"], timeout=timeout)
    return int(res[0]["count(*)"])


def dense_search(client, name: str, vectors: list, limit: int = TOP_K):
    return _search(client, name, vectors, "vector", "COSINE", limit, OUTPUT_FIELDS)


def keyword_search(client, name: str, texts: list[str], limit: int = TOP_K, output_fields=OUTPUT_FIELDS):
    return _search(client, name, texts, "sparse", "BM25", limit, output_fields)


def _search(client, name: str, data: list, field: str, metric: str, limit: int, output_fields: list[str]):
    return client.search(
        name,
        data=data,
        anns_field=field,
        limit=limit,
        output_fields=output_fields,
        search_params={"metric_type": metric},
    )


def rrf_fuse(lists: list[list[dict]], k: int = RRF_K, limit: int = TOP_K) -> list[dict]:
    """Reciprocal rank fusion: score(id) = sum over lists of 1 / (k + rank), rank from 1."""
    scores: dict[str, float] = {}
    hits: dict[str, dict] = {}
    for hits_list in lists:
        for rank, h in enumerate(hits_list, start=1):
            scores[h["id"]] = scores.get(h["id"], 0.0) + 1.0 / (k + rank)
            hits.setdefault(h["id"], h)
    best = sorted(scores, key=lambda i: -scores[i])[:limit]
    return [{**hits[i], "distance": scores[i]} for i in best]


def hybrid_python(client, name: str, vector, text: str) -> list[dict]:
    dense = dense_search(client, name, [vector])[0]
    keyword = keyword_search(client, name, [text])[0]
    return rrf_fuse([list(dense), list(keyword)])


def hybrid_native(client, name: str, vector, text: str, timeout: float | None = None):
    from pymilvus import AnnSearchRequest, RRFRanker

    requests = [
        AnnSearchRequest(data=[vector], anns_field="vector", param={"metric_type": "COSINE"}, limit=TOP_K),
        AnnSearchRequest(data=[text], anns_field="sparse", param={"metric_type": "BM25"}, limit=TOP_K),
    ]
    return client.hybrid_search(
        name, requests, RRFRanker(RRF_K), limit=TOP_K, output_fields=OUTPUT_FIELDS, timeout=timeout
    )[0]


# --- numpy exact ----------------------------------------------------------------------------------


def numpy_top1(matrix: np.ndarray, query: np.ndarray, k: int = TOP_K) -> np.ndarray:
    scores = matrix @ query
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part])]


def numpy_topk(matrix: np.ndarray, queries: np.ndarray, k: int = TOP_K) -> np.ndarray:
    scores = queries @ matrix.T
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
    return np.take_along_axis(part, order, axis=1)


# --- per-scale measurements -------------------------------------------------------------------------


def bench_insert(client, name: str, rows: list[dict], batch: int, analyzer: str) -> dict:
    """A fresh collection, `client.insert` in batches of `batch`, then `flush`; count(*) checked."""
    if client.has_collection(name):
        client.drop_collection(name)
    create_s, _ = timed(lambda: create_chunks(client, name, analyzer))
    per_batch = []
    start = time.perf_counter()
    for b in range(0, len(rows), batch):
        t = time.perf_counter()
        client.insert(name, rows[b : b + batch])
        per_batch.append(time.perf_counter() - t)
    insert_s = time.perf_counter() - start
    flush_s, _ = timed(lambda: client.flush(name))
    count = count_rows(client, name, timeout=None)
    return {
        "batch": batch,
        "rows": len(rows),
        "create_s": rnd(create_s, 3),
        "insert_s": rnd(insert_s, 3),
        "rows_per_s": round(len(rows) / insert_s),
        "batch_s_median": rnd(statistics.median(per_batch), 4),
        "batch_s_max": rnd(max(per_batch), 4),
        "flush_s": rnd(flush_s, 3),
        "rows_per_s_with_flush": round(len(rows) / (insert_s + flush_s)),
        "count_after_flush": count,
        "count_exact": count == len(rows),
    }


def bench_reopen(db: Path, client, name: str, vector, text: str) -> tuple[object, dict]:
    """Close the client, stop the engine, then time a new client, load_collection and the first queries."""
    client.close()
    stop_s, _ = timed(lambda: release_engine(db))
    connect_s, client = timed(lambda: open_client(db))
    load_s, _ = timed(lambda: client.load_collection(name))
    dense_s, hits = timed(lambda: dense_search(client, name, [vector]))
    keyword_s, khits = timed(lambda: keyword_search(client, name, [text]))
    count = count_rows(client, name, timeout=None)
    return client, {
        "stop_engine_s": rnd(stop_s, 3),
        "connect_s": rnd(connect_s, 3),
        "load_collection_s": rnd(load_s, 3),
        "first_dense_query_s": rnd(dense_s, 3),
        "first_keyword_query_s": rnd(keyword_s, 3),
        "reopen_to_first_dense_s": rnd(connect_s + load_s + dense_s, 3),
        "first_dense_hits": len(hits[0]),
        "first_keyword_hits": len(khits[0]),
        "count_after_reopen": count,
    }


def bench_latency(
    client, name: str, matrix: np.ndarray, qvecs: np.ndarray, qtexts: list[str], n: int, warmup: int = 5
) -> dict:
    """One query per call, each kind in turn for query i (interleaved); p50/p95 per kind."""
    native_error = None
    try:
        hybrid_native(client, name, qvecs[0], qtexts[0], timeout=CHECK_TIMEOUT)
    except Exception as e:
        native_error = err(e)
    kinds: dict[str, Callable[[int], object]] = {
        "dense": lambda i: dense_search(client, name, [qvecs[i]]),
        "keyword": lambda i: keyword_search(client, name, [qtexts[i]]),
        "hybrid_python_rrf": lambda i: hybrid_python(client, name, qvecs[i], qtexts[i]),
        "numpy_dense": lambda i: numpy_top1(matrix, qvecs[i]),
    }
    if native_error is None:
        kinds["hybrid_search_rrf"] = lambda i: hybrid_native(client, name, qvecs[i], qtexts[i])
    for i in range(warmup):
        for fn in kinds.values():
            fn(len(qvecs) - 1 - i)
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    outs: dict[str, list] = {k: [] for k in kinds}
    for i in range(n):
        for kind, fn in kinds.items():
            t = time.perf_counter()
            out = fn(i)
            samples[kind].append(time.perf_counter() - t)
            if kind in ("hybrid_python_rrf", "hybrid_search_rrf", "keyword"):
                hits = out if kind != "keyword" else out[0]
                outs[kind].append([(h["id"], round(float(h["distance"]), 5)) for h in hits])
    result: dict = {k: pct_ms(v) for k, v in samples.items()}
    if native_error is not None:
        result["hybrid_search_rrf"] = {"error": native_error}
    else:  # vs our own RRF: the same ids, the same scores in order (ties may be ordered differently)
        pairs = list(zip(outs["hybrid_python_rrf"], outs["hybrid_search_rrf"]))
        native = result["hybrid_search_rrf"]
        native["same_id_set_as_python_rrf"] = rnd(
            np.mean([{i for i, _ in a} == {i for i, _ in b} for a, b in pairs]), 3
        )
        native["same_scores_as_python_rrf"] = rnd(
            np.mean([[x for _, x in a] == [x for _, x in b] for a, b in pairs]), 3
        )
        native["same_order_as_python_rrf"] = rnd(np.mean([a == b for a, b in pairs]), 3)
    result["keyword_empty_results"] = sum(1 for ids in outs["keyword"] if not ids)
    np_p50 = result["numpy_dense"]["p50_ms"]
    result["ratio_p50_dense_vs_numpy"] = ratio(result["dense"]["p50_ms"], np_p50)
    return result


def bench_batched(client, name: str, matrix: np.ndarray, qvecs: np.ndarray, ids: list[str], repeats: int) -> dict:
    """BATCH_QUERIES query vectors in one dense call vs numpy on the same matrix; recall@10 of Milvus vs numpy."""
    q = qvecs[:BATCH_QUERIES]
    data = list(q)
    dense_search(client, name, data[:2])  # warm-up
    m_s, n_s, hits, idx = [], [], None, None
    for _ in range(repeats):
        t, hits = timed(lambda: dense_search(client, name, data))
        m_s.append(t)
        t, idx = timed(lambda: numpy_topk(matrix, q))
        n_s.append(t)
    exact = [{ids[j] for j in row} for row in idx]
    recall = [len({h["id"] for h in hs} & e) / TOP_K for hs, e in zip(hits, exact)]
    m, nn = statistics.median(m_s), statistics.median(n_s)
    return {
        "queries": len(q),
        "repeats": repeats,
        "milvus_ms_per_query": rnd(m * 1000 / len(q), 4),
        "numpy_ms_per_query": rnd(nn * 1000 / len(q), 4),
        "ratio_milvus_vs_numpy": ratio(m, nn),
        "recall_at_10_vs_numpy": rnd(float(np.mean(recall)), 4),
    }


def run_scale(workdir: Path, docs: list[dict], n: int, analyzer: str, qtexts: list[str], args) -> dict:
    log(f"scale {n:,}: building rows")
    rows, matrix = make_rows(docs, n, seed=n)
    ids = [r["id"] for r in rows]
    qvecs = unit_vectors(max(args.queries, BATCH_QUERIES) + 10, DIM, seed=10_000_019)
    qt = [qtexts[i % len(qtexts)] for i in range(len(qvecs))]
    db = workdir / f"s{n}.db"
    out: dict = {"rows": n, "documents": len({r["document"] for r in rows}), "loadavg_start": loadavg()}
    with RssMonitor() as mem:
        client = open_client(db)
        out["insert"] = {}
        for batch in INSERT_BATCHES:
            name = f"chunks_b{batch}"
            log(f"scale {n:,}: insert in batches of {batch:,}")
            out["insert"][str(batch)] = r = bench_insert(client, name, rows, batch, analyzer)
            log(f"scale {n:,}: batch {batch}: {r['rows_per_s']:,} rows/s, flush {r['flush_s']} s")
            if batch != INSERT_BATCHES[-1]:
                client.drop_collection(name)
        name = f"chunks_b{INSERT_BATCHES[-1]}"
        log(f"scale {n:,}: close, stop engine, reopen")
        client, out["reopen"] = bench_reopen(db, client, name, qvecs[-1], qt[-1])
        log(f"scale {n:,}: reopen to first dense query {out['reopen']['reopen_to_first_dense_s']} s")
        log(f"scale {n:,}: single-query latency x {args.queries}")
        out["single"] = bench_latency(client, name, matrix, qvecs, qt, args.queries)
        s = out["single"]
        log(
            f"scale {n:,}: p50 dense {s['dense']['p50_ms']} ms, keyword {s['keyword']['p50_ms']} ms, "
            f"hybrid {s['hybrid_python_rrf']['p50_ms']} ms, numpy {s['numpy_dense']['p50_ms']} ms"
        )
        out["batched"] = bench_batched(client, name, matrix, qvecs, ids, args.batch_repeats)
        log(f"scale {n:,}: batched {out['batched']['milvus_ms_per_query']} ms/query")
        client.drop_collection(name)
        client.close()
        release_engine(db)
    out["memory"] = mem.report()
    out["loadavg_end"] = loadavg()
    log(f"scale {n:,}: peak RSS {out['memory']}")
    return out


# --- correctness --------------------------------------------------------------------------------


def check_crud(client, name: str, rows: list[dict]) -> dict:
    """count(*) exactness, upsert of the same ids, delete by doc_key."""
    out: dict = {}
    t = CHECK_TIMEOUT
    client.insert(name, rows, timeout=t)
    out["count_after_insert"] = c0 = count_rows(client, name)
    client.flush(name, timeout=t)
    out["count_after_flush"] = c1 = count_rows(client, name)
    out["count_exact"] = c0 == c1 == len(rows)
    out["rows"] = len(rows)

    # upsert the rows of the first 5 documents again: identical rows, then with a changed text
    by_doc: dict[str, list[dict]] = {}
    for r in rows:
        by_doc.setdefault(r["document"], []).append(r)
    some = [r for d in list(by_doc)[:5] for r in by_doc[d]]
    try:
        client.upsert(name, some, timeout=t)
        same = count_rows(client, name)
        changed = [{**r, "text": r["text"] + " UPSERTED"} for r in some]
        client.upsert(name, changed, timeout=t)
        after = count_rows(client, name)
        got = client.query(name, filter=f'id == "{some[0]["id"]}"', output_fields=["text"], timeout=t)
        out["upsert"] = {
            "rows_upserted": len(some),
            "count_after_identical_upsert": same,
            "count_after_changed_upsert": after,
            "new_text_visible": bool(got) and got[0]["text"].endswith(" UPSERTED"),
            "ok": same == after == len(rows),
        }
        client.upsert(name, some, timeout=t)  # back to the original texts
    except Exception as e:
        out["upsert"] = {"ok": False, "error": err(e)}

    # delete one document by doc_key
    multi = sorted(by_doc, key=lambda d: -len(by_doc[d]))  # documents with the most rows first
    victim, neighbour = multi[0], multi[1]
    hexkey = by_doc[victim][0]["doc_key"]
    try:
        before = count_rows(client, name)
        res = client.delete(name, filter=f'doc_key == "{hexkey}"', timeout=t)
        after = count_rows(client, name)
        left = client.query(name, filter=f'doc_key == "{hexkey}"', output_fields=["id"], timeout=t)
        nkey = by_doc[neighbour][0]["doc_key"]
        others = client.query(name, filter=f'doc_key == "{nkey}"', output_fields=["id"], timeout=t)
        out["delete_by_doc_key"] = {
            "document_rows": len(by_doc[victim]),
            "delete_reported": dict(res) if hasattr(res, "keys") else f"{type(res).__name__} of {len(res)}",
            "count_before": before,
            "count_after": after,
            "rows_left_for_doc_key": len(left),
            "neighbour_doc_rows_kept": len(others) == len(by_doc[neighbour]),
            "ok": before - after == len(by_doc[victim]) and not left and len(others) == len(by_doc[neighbour]),
        }
        client.insert(name, by_doc[victim], timeout=t)
        out["count_after_reinsert"] = count_rows(client, name)
    except Exception as e:
        out["delete_by_doc_key"] = {"ok": False, "error": err(e)}
    return out


def check_unicode(client, name: str, template: dict) -> dict:
    """Non-ASCII document names stored and returned byte-identical, found by doc_key; raw literal filters."""
    t = CHECK_TIMEOUT
    rows = []
    for k, doc in enumerate(UNICODE_NAMES):
        for chunk in range(2):
            rows.append(
                {
                    **template,
                    "id": row_id(doc, "u", chunk, 0, 1),
                    "document": doc,
                    "doc_key": doc_key(doc),
                    "title": doc,
                    "chunk": chunk,
                    "n_chunks": 2,
                    "text": f"unicode document {k} chunk {chunk} {doc}",
                }
            )
    client.insert(name, rows, timeout=t)
    client.flush(name, timeout=t)
    names = {}
    for doc in UNICODE_NAMES:
        entry: dict = {"utf8_hex": doc.encode().hex()}
        try:
            got = client.query(
                name, filter=f'doc_key == "{doc_key(doc)}"', output_fields=["document", "title"], timeout=t
            )
            entry["found_by_doc_key"] = len(got)
            entry["byte_identical"] = len(got) == 2 and all(
                g["document"].encode() == doc.encode() and g["title"].encode() == doc.encode() for g in got
            )
            if not entry["byte_identical"] and got:
                entry["returned_hex"] = got[0]["document"].encode().hex()
        except Exception as e:
            entry["error"] = err(e)
            entry["byte_identical"] = False
        names[doc] = entry
    literals = {}
    for expr in ('document == "café.txt"', 'document == "caf\\u00e9.txt"', "document == 'café.txt'"):
        try:
            got = client.query(name, filter=expr, output_fields=["document"], timeout=t)
            literals[expr] = {"rows": len(got), "documents": sorted({g["document"] for g in got})}
        except Exception as e:
            literals[expr] = {"error": err(e)}
    return {
        "names": names,
        "all_byte_identical_and_found": all(e.get("byte_identical") for e in names.values()),
        "raw_literal_filters (2 rows named café.txt exist)": literals,
    }


def child_ingest(db: str, datasets: Path, rows: int, batch: int, analyzer: str) -> int:
    """Run in a child process by check_sigkill: upsert `rows` rows in batches, print a line after each."""
    sys.path.insert(0, str(ROOT))
    logging.disable(logging.CRITICAL)
    data, _ = make_rows(load_documents(datasets), rows, seed=7)
    client = open_client(Path(db))
    if not client.has_collection("chunks"):
        create_chunks(client, "chunks", analyzer)
    print(f"READY {os.getpid()}", flush=True)
    for b in range(0, len(data), batch):
        client.upsert("chunks", data[b : b + batch])
        print(f"BATCH {b // batch + 1} {min(b + batch, len(data))}", flush=True)
    print("DONE", flush=True)
    return 0


def check_sigkill(workdir: Path, docs: list[dict], datasets: Path, analyzer: str, rows: int, batch: int) -> dict:
    """SIGKILL a child process mid-upsert, reopen, then upsert all rows again: the count must converge."""
    db = workdir / "kill.db"
    kill_after = 3
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-ingest", str(db), "--datasets", str(datasets)]
    cmd += ["--child-rows", str(rows), "--child-batch", str(batch), "--child-analyzer", analyzer]
    out: dict = {"rows": rows, "batch": batch, "killed_half_a_batch_after_batch": kill_after}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    batches, engine_children, stamps = 0, [], []
    start = time.perf_counter()
    try:
        for line in proc.stdout:
            if line.startswith("BATCH "):
                batches += 1
                stamps.append(time.perf_counter())
                if batches >= kill_after:
                    # half a batch interval later: most likely while the next upsert is in flight
                    time.sleep((stamps[-1] - stamps[-2]) / 2 if len(stamps) > 1 else 0.05)
                    engine_children = [(p, process_name(p)) for p in descendants(proc.pid)]
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            if time.perf_counter() - start > 300:
                break
    finally:
        proc.wait(timeout=30)
    out["batches_printed_before_kill"] = batches
    out["child_returncode"] = proc.returncode
    out["engine_children_of_killed"] = [name for _, name in engine_children]
    # 2.5.1: the `milvus` grandchild stops by itself once the killed process's file lock is gone; wait for it
    waited = time.perf_counter()
    alive = [p for p, _ in engine_children]
    while alive and time.perf_counter() - waited < 20:
        alive = [p for p in alive if Path(f"/proc/{p}").exists() and _not_zombie(p)]
        time.sleep(0.1)
    out["orphan_engine_exit_s"] = rnd(time.perf_counter() - waited, 2) if engine_children else None
    out["orphan_engine_still_alive"] = bool(alive)
    for p in alive:  # never leave our own orphaned grandchild running
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGKILL)
    try:
        reopen_s, client = timed(lambda: open_client(db))
        out["reopen_s"] = rnd(reopen_s, 3)
        if client.has_collection("chunks", timeout=CHECK_TIMEOUT):
            client.load_collection("chunks", timeout=CHECK_TIMEOUT)
            out["rows_present_after_kill"] = count_rows(client, "chunks")
        else:
            out["rows_present_after_kill"] = None
            create_chunks(client, "chunks", analyzer, timeout=CHECK_TIMEOUT)
        data, _ = make_rows(docs, rows, seed=7)
        up_s = time.perf_counter()
        for b in range(0, len(data), batch):
            client.upsert("chunks", data[b : b + batch], timeout=CHECK_TIMEOUT)
        client.flush("chunks", timeout=CHECK_TIMEOUT)
        out["reupsert_all_s"] = rnd(time.perf_counter() - up_s, 3)
        out["count_after_reupsert"] = final = count_rows(client, "chunks")
        client.close()
        release_engine(db)
        client = open_client(db)
        client.load_collection("chunks", timeout=CHECK_TIMEOUT)
        out["count_after_clean_reopen"] = again = count_rows(client, "chunks")
        client.close()
        release_engine(db)
        out["converged"] = final == again == rows
    except Exception as e:
        out["error"] = err(e)
        out["converged"] = False
    return out


def _not_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def run_correctness(workdir: Path, docs: list[dict], analyzer: str, args) -> dict:
    db = workdir / "check.db"
    client = open_client(db)
    out: dict = {}
    name = "chunks"
    create_chunks(client, name, analyzer, timeout=CHECK_TIMEOUT)
    rows, _ = make_rows(docs, args.check_rows, seed=3)
    log(f"correctness: count/upsert/delete on {len(rows):,} rows")
    out["crud"] = check_crud(client, name, rows)
    log("correctness: non-ASCII document names")
    try:
        out["unicode"] = check_unicode(client, name, {k: v for k, v in rows[0].items()})
    except Exception as e:
        out["unicode"] = {"error": err(e), "all_byte_identical_and_found": False}
    out["count_at_end"] = count_rows(client, name)
    client.close()
    release_engine(db)
    log("correctness: SIGKILL mid-ingest")
    out["sigkill"] = check_sigkill(workdir, docs, args.datasets, analyzer, args.kill_rows, args.kill_batch)
    out["summary"] = {
        "count_exact": out["crud"]["count_exact"],
        "upsert_keeps_count": out["crud"]["upsert"].get("ok"),
        "delete_by_doc_key_exact": out["crud"]["delete_by_doc_key"].get("ok"),
        "unicode_names_round_trip": out["unicode"].get("all_byte_identical_and_found"),
        "sigkill_then_reupsert_converges": out["sigkill"].get("converged"),
    }
    log(f"correctness: {out['summary']}")
    return out


# --- BM25 quality ---------------------------------------------------------------------------------


def ndcg_at_k(ranked: list[str], rels: dict[str, int], k: int = TOP_K) -> float:
    """Standard nDCG@k: gain = relevance, discount log2(rank + 1), ideal from the qrels' relevances."""
    dcg = sum(rels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def bm25_rows(datasets: Path, corpus: str) -> list[dict]:
    """One row per document: text = title + " " + text (cut to fit the 65,535-byte field)."""
    with (datasets / corpus / "corpus.jsonl").open(encoding="utf-8") as f:
        docs = [json.loads(line) for line in f if line.strip()]
    vecs = unit_vectors(len(docs), DIM, seed=5)
    rows = []
    for i, d in enumerate(docs):
        text = (d["title"] + " " + d["text"]).encode("utf-8")[:65_000].decode("utf-8", "ignore")
        name = f"{corpus}/{d['id']}"
        rows.append(
            {
                "id": d["id"],
                "vector": vecs[i],
                "text": text,
                "document": name,
                "doc_key": doc_key(name),
                "doc_hash": "",
                "title": d["title"][:500],
                "doc_type": "txt",
                "chunk": 0,
                "n_chunks": 1,
                "start": 0,
                "end": len(text),
                "page": -1,
            }
        )
    return rows


def bm25_corpus(client, name: str, analyzer: str, datasets: Path, corpus: str) -> dict:
    """Index one corpus with `analyzer`, run every judged query (keyword, limit 10), mean nDCG@10."""
    create_chunks(client, name, analyzer, timeout=CHECK_TIMEOUT)
    rows = bm25_rows(datasets, corpus)
    ins_s = time.perf_counter()
    for b in range(0, len(rows), 2_000):
        client.insert(name, rows[b : b + 2_000], timeout=120)
    client.flush(name, timeout=120)
    ins_s = time.perf_counter() - ins_s
    queries = load_queries(datasets, corpus)
    qrels = load_qrels(datasets, corpus)
    judged = [q for q in queries if any(r > 0 for r in qrels.get(q["id"], {}).values())]
    q_s = time.perf_counter()
    scores, sign = [], set()
    for b in range(0, len(judged), 50):
        part = judged[b : b + 50]
        res = keyword_search(client, name, [q["text"] for q in part], output_fields=["document"])
        for q, hits in zip(part, res):
            scores.append(ndcg_at_k([h["id"] for h in hits], qrels[q["id"]]))
            sign.update("+" if h["distance"] >= 0 else "-" for h in hits[:1])
    q_s = time.perf_counter() - q_s
    client.drop_collection(name)
    return {
        "documents": len(rows),
        "queries": len(judged),
        "ndcg_at_10": rnd(float(np.mean(scores)), 4),
        "insert_flush_s": rnd(ins_s, 2),
        "search_all_queries_s": rnd(q_s, 2),
        "top_score_sign": "".join(sorted(sign)),  # "-": the engine returns BM25 scores negated
    }


def run_bm25_quality(workdir: Path, datasets: Path, corpora: list[str], analyzers: list[str]) -> dict:
    db = workdir / "bm25.db"
    client = open_client(db)
    out: dict = {}
    for analyzer in analyzers:
        error = probe_analyzer(client, analyzer)
        if error:
            out[analyzer] = {"error": error, "engine_answers_after_error": engine_answers(client)}
            log(f"bm25: analyzer {analyzer} unusable: {error[:150]}")
            continue
        out[analyzer] = {}
        for corpus in corpora:
            try:
                out[analyzer][corpus] = r = bm25_corpus(client, f"q_{corpus}_{analyzer}", analyzer, datasets, corpus)
                log(f"bm25: {analyzer}/{corpus}: nDCG@10 {r['ndcg_at_10']}")
            except Exception as e:
                out[analyzer][corpus] = {"error": err(e)}
                log(f"bm25: {analyzer}/{corpus}: {err(e)[:150]}")
    client.close()
    release_engine(db)
    return out


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: 2,000 rows, 30 queries, Cranfield BM25 only")
    p.add_argument("--scales", default=None, help="comma-separated row counts (default 10000,100000)")
    p.add_argument("--queries", type=int, default=None, help="single queries per kind and scale (default 100)")
    p.add_argument("--batch-repeats", type=int, default=None, help="repeats of the batched search (median)")
    p.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="holds scifact/ and cranfield/")
    p.add_argument("--bm25-corpora", default=None, help="default scifact,cranfield (quick: cranfield)")
    p.add_argument("--bm25-analyzers", default=",".join(BM25_ANALYZERS))
    p.add_argument("--check-rows", type=int, default=2_000, help="rows of the correctness collection")
    p.add_argument("--kill-rows", type=int, default=10_000, help="rows the SIGKILLed child upserts")
    p.add_argument("--kill-batch", type=int, default=500)
    p.add_argument("--skip", default="", help="comma-separated sections to skip: scales,correctness,bm25")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    # the child process of the SIGKILL check
    p.add_argument("--child-ingest", default=None, help=argparse.SUPPRESS)
    p.add_argument("--child-rows", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--child-batch", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--child-analyzer", default="standard", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    q = args.quick
    args.scales = [int(x) for x in (args.scales or ("2000" if q else "10000,100000")).split(",") if x.strip()]
    args.queries = args.queries or (30 if q else 100)
    args.batch_repeats = args.batch_repeats or (2 if q else 5)
    args.bm25_corpora = [c for c in (args.bm25_corpora or ("cranfield" if q else "scifact,cranfield")).split(",") if c]
    args.bm25_analyzers = [a for a in args.bm25_analyzers.split(",") if a]
    args.skip = {s for s in args.skip.split(",") if s}
    if q:
        args.kill_rows = min(args.kill_rows, 4_000)
    return args


def run(args: argparse.Namespace, workdir: Path) -> dict:
    os.environ.pop("MILVUS_URI", None)
    os.environ.pop("MILVUS_TOKEN", None)
    sys.path.insert(0, str(ROOT))
    logging.disable(logging.CRITICAL)  # pymilvus logs every expected error with a traceback; we record them

    out: dict = {
        "benchmark": "bench/engines.py",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine_info(),
        "config": {
            "scales": args.scales,
            "dim": DIM,
            "chunk_chars": CHUNK_CHARS,
            "insert_batches": list(INSERT_BATCHES),
            "single_queries": args.queries,
            "batch_queries": BATCH_QUERIES,
            "batch_repeats": args.batch_repeats,
            "top_k": TOP_K,
            "rrf_k": RRF_K,
            "output_fields": OUTPUT_FIELDS,
            "check_rows": args.check_rows,
            "kill_rows": args.kill_rows,
            "kill_batch": args.kill_batch,
        },
    }
    log("loading corpora")
    docs = load_documents(args.datasets)
    qtexts = []
    per_corpus = [[q["text"] for q in load_queries(args.datasets, c)] for c in CORPORA]
    for i in range(max(len(x) for x in per_corpus)):
        qtexts.extend(x[i] for x in per_corpus if i < len(x))
    out["config"]["pool"] = {
        "documents": len(docs),
        "chunks": sum(len(d["spans"]) for d in docs),
        "mean_chunk_chars": round(float(np.mean([e - s for d in docs for s, e in d["spans"]])), 1),
        "query_texts": len(qtexts),
    }

    probe_db = workdir / "probe.db"
    client = open_client(probe_db)
    out["engine"] = engine_info(client)
    analyzer, refused = pick_analyzer(client)
    out["engine"]["analyzer"] = analyzer
    out["engine"]["analyzers_refused"] = refused
    client.close()
    release_engine(probe_db)
    log(f"engine {out['engine']['milvus_lite']}, analyzer {analyzer}")

    if "scales" not in args.skip:
        out["scales"] = {}
        for n in args.scales:
            out["scales"][str(n)] = run_scale(workdir, docs, n, analyzer, qtexts, args)
    if "correctness" not in args.skip:
        out["correctness"] = run_correctness(workdir, docs, analyzer, args)
    if "bm25" not in args.skip:
        log("bm25 quality")
        out["bm25_ndcg"] = run_bm25_quality(workdir, args.datasets, args.bm25_corpora, args.bm25_analyzers)
    out["machine"]["loadavg_end"] = loadavg()
    out["total_seconds"] = rnd(time.perf_counter() - T0, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child_ingest:
        return child_ingest(args.child_ingest, args.datasets, args.child_rows, args.child_batch, args.child_analyzer)
    return run_in_workdir("potion-engines-", args.keep, lambda workdir: run(args, workdir))


if __name__ == "__main__":
    sys.exit(main())
