"""Where a Milvus Lite collection's load time goes: the same N rows of real text under different layouts (issue 18).

    .venv/bin/python bench/load_profile.py --rows 300000 > bench/results/load_profile-300k.json    # ~12 min
    .venv/bin/python bench/load_profile.py --rows 1000000 --layouts full,nobm25,packed,bare        # ~25 min

Every layout is built by the raw client alone (`MilvusClient.insert` in batches of 500, `flush`) in a process of
its own, then a fresh process (a restart) times `MilvusClient(db)`, `load_collection` and one search, and reads the
engine's CPU seconds and peak RSS from /proc. Rows are ~110-word pieces of SciFact with titles, random unit
256-d vectors; the layouts:

- full        the chunk schema of Potion Search (core.storage.schema.chunk_schema): id, vector, text with a BM25
              function into a sparse field, and ten scalar fields (document, doc_key, doc_hash, title, doc_type,
              chunk, n_chunks, start, end, page)
- nobm25      the same without the BM25 function and sparse field
- packed      id, vector, text, doc_key, chunk, and the other eight scalars as one JSON string
- bare        id, vector, text
- bare_bm25   id, vector, text with BM25
- full_b5000  full, inserted in batches of 5,000
- keyword     id, text with BM25 and the sparse field, no dense vector but Milvus' required placeholder (2-d): the
              keyword half of a library split into a dense and a keyword collection
- full_taat / full_wand_algo / full_wand   full with the sparse index's algorithm set (TAAT_NAIVE, DAAT_WAND) or
              SPARSE_WAND: whether the sparse index's own parameters change its load

Prints one JSON object on stdout; progress on stderr. The databases go as soon as each is measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from machine import loadavg, machine_info  # noqa: E402
from measure import log  # noqa: E402

DIM, WORDS, STEP = 256, 110, 90
DEFAULT_DATASETS = BENCH.parent.parent / "shared" / "datasets"
LAYOUTS = ("full", "nobm25", "packed", "bare", "bare_bm25", "keyword", "full_b5000")
LAYOUTS += ("full_taat", "full_wand_algo", "full_wand")
SCALARS = [("document", 4_096), ("doc_key", 32), ("doc_hash", 64), ("title", 2_048), ("doc_type", 16)]
INTS = ("chunk", "n_chunks", "start", "end", "page")
SPARSE_INDEX = {
    "full_taat": ("SPARSE_INVERTED_INDEX", {"inverted_index_algo": "TAAT_NAIVE"}),
    "full_wand_algo": ("SPARSE_INVERTED_INDEX", {"inverted_index_algo": "DAAT_WAND"}),
    "full_wand": ("SPARSE_WAND", {}),
}


def pieces(datasets: Path) -> list[tuple[str, str, str]]:
    """(record id, title, ~110-word text) pieces of SciFact, overlapping like chunks."""
    out = []
    for line in (datasets / "scifact" / "corpus.jsonl").open(encoding="utf-8"):
        record = json.loads(line)
        words = f"{record.get('title', '')}. {record['text']}".split()
        for i in range(0, len(words), STEP):
            out.append(
                (
                    str(record.get("_id", record.get("id"))),
                    record.get("title", "")[:500],
                    " ".join(words[i : i + WORDS]),
                )
            )
    return out


def has_bm25(layout: str) -> bool:
    return layout not in ("nobm25", "packed", "bare")


def schema(client, layout: str):
    from pymilvus import DataType, Function, FunctionType

    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=2 if layout == "keyword" else DIM)
    if has_bm25(layout):
        s.add_field(
            "text", DataType.VARCHAR, max_length=65_535, enable_analyzer=True, analyzer_params={"type": "english"}
        )
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_function(
            Function(
                name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]
            )
        )
    else:
        s.add_field("text", DataType.VARCHAR, max_length=65_535)
    if layout == "packed":
        s.add_field("doc_key", DataType.VARCHAR, max_length=32)
        s.add_field("chunk", DataType.INT64)
        s.add_field("meta", DataType.VARCHAR, max_length=8_192)
    elif not layout.startswith(("bare", "keyword")):
        for name, length in SCALARS:
            s.add_field(name, DataType.VARCHAR, max_length=length)
        for name in INTS:
            s.add_field(name, DataType.INT64)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="IP")
    if has_bm25(layout):
        kind, params = SPARSE_INDEX.get(layout, ("SPARSE_INVERTED_INDEX", {}))
        index.add_index("sparse", index_type=kind, metric_type="BM25", params=params)
    return s, index


def row(i: int, piece: tuple[str, str, str], copy: int, vector: np.ndarray, layout: str) -> dict:
    doc, title, text = piece
    r = {"id": hashlib.sha1(str(i).encode()).hexdigest()[:32], "vector": vector[:2] if layout == "keyword" else vector}
    r["text"] = text
    name, key = f"{doc}-{copy}.txt", hashlib.md5(f"{doc}-{copy}".encode()).hexdigest()
    doc_hash = hashlib.sha256(doc.encode()).hexdigest()
    if layout == "packed":
        r.update(doc_key=key, chunk=i % 7, meta=json.dumps([name, doc_hash, title, "jsonl", 7, i, i + 600, -1]))
    elif not layout.startswith(("bare", "keyword")):
        r.update(document=name, doc_key=key, doc_hash=doc_hash, title=title, doc_type="jsonl")
        r.update(chunk=i % 7, n_chunks=7, start=i, end=i + 600, page=-1)
    return r


def build(db: Path, layout: str, rows: int, datasets: Path) -> float:
    from pymilvus import MilvusClient

    client = MilvusClient(str(db))
    s, index = schema(client, layout)
    client.create_collection("c", schema=s, index_params=index)
    base = pieces(datasets)
    vectors = np.random.default_rng(0).standard_normal((4_096, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    batch = 5_000 if layout == "full_b5000" else 500
    started, pending = time.perf_counter(), []
    for i in range(rows):
        pending.append(row(i, base[i % len(base)], i // len(base), vectors[i % len(vectors)], layout))
        if len(pending) == batch:
            client.insert("c", pending)
            pending = []
    if pending:
        client.insert("c", pending)
    client.flush("c")
    return time.perf_counter() - started


RESTART = r"""
import json, os, sys, time
import numpy as np
t0 = time.perf_counter()
from pymilvus import MilvusClient
client = MilvusClient(sys.argv[1]); t1 = time.perf_counter()
client.load_collection("c"); t2 = time.perf_counter()
query = np.ones(int(sys.argv[2]), dtype=np.float32)
client.search("c", data=[query], anns_field="vector", limit=10, output_fields=["text"])
t3 = time.perf_counter()
def parent(p):
    return open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1]
engine = [p for p in os.listdir("/proc") if p.isdigit() and parent(p) == str(os.getpid())][0]
stat = open(f"/proc/{engine}/stat").read().rsplit(")", 1)[1].split()
hwm = next(int(l.split()[1]) for l in open(f"/proc/{engine}/status") if l.startswith("VmHWM"))
print(json.dumps({"open_s": round(t1 - t0, 3), "load_s": round(t2 - t1, 3), "first_search_s": round(t3 - t2, 3),
                  "engine_cpu_s": round((int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK"), 2),
                  "engine_peak_rss_mb": round(hwm / 1024)}))
"""


def measure(layout: str, rows: int, datasets: Path, work: Path) -> dict:
    db = work / f"{layout}.db"
    command = [
        sys.executable,
        __file__,
        "--build",
        layout,
        "--rows",
        str(rows),
        "--db",
        str(db),
        "--datasets",
        str(datasets),
    ]
    built = subprocess.run(command, capture_output=True, text=True, check=True)
    insert_s = float(built.stdout.strip().splitlines()[-1])
    dim = str(2 if layout == "keyword" else DIM)
    restart = subprocess.run([sys.executable, "-c", RESTART, str(db), dim], capture_output=True, text=True, check=True)
    result = {
        "insert_s": round(insert_s, 2),
        "insert_rows_per_s": round(rows / insert_s),
        "db_mb": round(db.stat().st_size / 1e6),
    }
    result |= json.loads(restart.stdout.strip().splitlines()[-1])
    for path in work.glob(f"*{layout}.db*"):
        path.unlink()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--layouts", default="full,nobm25,packed,bare,bare_bm25,full_b5000")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--build", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build:
        print(build(args.db, args.build, args.rows, args.datasets))
        return 0
    layouts = [name for name in args.layouts.split(",") if name]
    unknown = sorted(set(layouts) - set(LAYOUTS))
    if unknown:
        parser.error(f"unknown layouts {unknown}: choose from {', '.join(LAYOUTS)}")
    out: dict = {"benchmark": "bench/load_profile.py", "machine": machine_info(), "rows": args.rows, "layouts": {}}
    with tempfile.TemporaryDirectory(prefix="potion-load-") as tmp:
        for layout in layouts:
            log(f"{layout}: build {args.rows:,} rows, then load in a fresh process")
            out["layouts"][layout] = measure(layout, args.rows, args.datasets, Path(tmp))
            log(f"{layout}: {out['layouts'][layout]}")
    out["machine"]["loadavg_end"] = loadavg()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
