"""Which chunking settings retrieve best? A grid over size, overlap and unit, measured on labelled data.

For each BEIR collection and model: chunk every document with core.ingest.chunking (as ingest does),
embed the chunks and the queries with core.embed.loading, search exactly (cosine, numpy), keep the top
`--depth` chunks per query, rank documents by their best chunk (core.evaluate.ranking.aggregate_chunk_hits)
and score the ranking with nDCG@10, recall@100 and MRR@10. "Whole document" (one vector per
document, no chunking) is the baseline each setting is compared with.

    .venv/bin/python bench/chunking.py > chunking.json           # the full grid, both collections, both models
    .venv/bin/python bench/chunking.py --datasets cranfield --models minilm-static-64 --sizes 128 200 --overlaps 0

Prints one JSON object on stdout; progress goes to stderr. Besides the means, each row carries
the paired difference in nDCG@10 against `--reference` (the app's default setting) with a 95%
interval over queries, so a gap can be told apart from noise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from core.embed.embedder import Embedder  # noqa: E402
from core.embed.loading import load_embedder  # noqa: E402
from core.evaluate.datasets import BeirDataset, load_beir  # noqa: E402
from core.evaluate.metrics import ndcg_at_k, per_query, recall_at_k, reciprocal_rank_at_k  # noqa: E402
from core.evaluate.ranking import aggregate_chunk_hits  # noqa: E402
from core.ingest.chunking import ChunkSettings, ChunkUnit, chunk_text  # noqa: E402
from core.read.documents import Document, read_path  # noqa: E402
from core.vectors import unit_rows  # noqa: E402

WHOLE = "whole"  # the unit label of the no-chunking baseline
K, RECALL_K = 10, 100
TOKEN_SAMPLE = 2000


@dataclass(frozen=True)
class Setting:
    unit: str  # "tokens", "chars" or WHOLE
    size: int = 0
    overlap: int = 0

    @property
    def label(self) -> str:
        return WHOLE if self.unit == WHOLE else f"{self.unit}:{self.size}:{self.overlap}"

    def chunk_settings(self) -> ChunkSettings:
        return ChunkSettings(self.size, self.overlap, ChunkUnit(self.unit))


@dataclass(frozen=True)
class Chunked:
    texts: list[str]
    doc_ids: list[str]  # one per chunk, chunks of a document contiguous
    seconds: float
    text_ratio: float  # chunk characters / document characters: 1.0 means no overlap
    mean_tokens: float  # over a sample of TOKEN_SAMPLE chunks


@dataclass(frozen=True)
class Run:
    row: dict[str, object]
    ndcg: dict[str, float]  # per query, for the paired comparison


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- grid ----------------------------------------------------------------------------------------


def parse_setting(text: str) -> Setting:
    if text == WHOLE:
        return Setting(WHOLE)
    unit, size, overlap = text.split(":")
    return Setting(ChunkUnit(unit).value, int(size), int(overlap))


def build_grid(args: argparse.Namespace) -> list[Setting]:
    grid = [Setting(WHOLE)]
    grid += [Setting("tokens", s, round(s * f)) for s in args.sizes for f in args.overlaps]
    grid += [Setting("chars", s, round(s * f)) for s in args.char_sizes for f in args.char_overlaps]
    reference = parse_setting(args.reference)
    if reference not in grid:
        grid.append(reference)
    return list(dict.fromkeys(grid))


# --- one collection, one model, one setting ------------------------------------------------------


_chunk_cache: dict[tuple[str, str, str], Chunked] = {}


def tokenizer_key(embedder: Embedder) -> str:
    """Models sharing a tokenizer (both bundled ones do) chunk alike: chunk once, embed with each."""
    return hashlib.sha256(embedder.model.tokenizer.to_str().encode()).hexdigest()[:16]


def cached_chunks(corpus: str, documents: Sequence[Document], setting: Setting, embedder: Embedder) -> Chunked:
    key = (corpus, setting.label, tokenizer_key(embedder))
    if key not in _chunk_cache:
        _chunk_cache[key] = chunk_documents(documents, setting, embedder)
    return _chunk_cache[key]


def chunk_documents(documents: Sequence[Document], setting: Setting, embedder: Embedder) -> Chunked:
    started = time.perf_counter()
    texts, doc_ids, chunk_chars = [], [], 0
    for doc in documents:
        if setting.unit == WHOLE:
            pieces = [doc.text]
        else:
            pieces = [c.text for c in chunk_text(doc.text, setting.chunk_settings(), embedder.count_tokens)]
        texts += pieces
        doc_ids += [doc.source_id] * len(pieces)
        chunk_chars += sum(len(p) for p in pieces)
    seconds = time.perf_counter() - started
    total_chars = sum(len(doc.text) for doc in documents)
    sample = np.random.default_rng(0).choice(len(texts), min(TOKEN_SAMPLE, len(texts)), replace=False)
    mean_tokens = float(np.mean(embedder.count_tokens([texts[i] for i in sample])))
    return Chunked(texts, doc_ids, seconds, chunk_chars / max(total_chars, 1), mean_tokens)


def rank_documents(
    query_vectors: np.ndarray, chunk_vectors: np.ndarray, doc_ids: np.ndarray, depth: int
) -> tuple[list[list[str]], list[list[str]], float]:
    """Per query: documents from the top `depth` chunks (max per document), documents ranked by
    their best chunk over all chunks (the exact document ranking), and the mean number of documents
    the top chunks held."""
    scores = query_vectors @ chunk_vectors.T
    depth = min(depth, scores.shape[1])
    top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
    from_chunks, distinct = [], []
    for row, candidates in zip(scores, top):
        hits = aggregate_chunk_hits(zip(doc_ids[candidates].tolist(), row[candidates].tolist()))
        from_chunks.append([doc_id for doc_id, _ in hits])
        distinct.append(len(hits))
    starts = np.flatnonzero(np.r_[True, doc_ids[1:] != doc_ids[:-1]])  # chunks of a document are contiguous
    per_doc = np.maximum.reduceat(scores, starts, axis=1)
    n_docs = min(RECALL_K, per_doc.shape[1])
    best = np.argsort(-per_doc, axis=1, kind="stable")[:, :n_docs]
    exact = [doc_ids[starts[row]].tolist() for row in best]
    return from_chunks, exact, float(np.mean(distinct))


def paired_delta(run: dict[str, float], reference: dict[str, float]) -> dict[str, float]:
    """Mean per-query difference in nDCG@10 with a normal-approximation 95% interval."""
    diffs = np.array([run[qid] - reference[qid] for qid in reference])
    mean = float(diffs.mean())
    half = float(1.96 * diffs.std(ddof=1) / np.sqrt(diffs.size)) if diffs.size > 1 else 0.0
    return {"mean": round(mean, 4), "ci95": [round(mean - half, 4), round(mean + half, 4)]}


def evaluate_setting(
    data: BeirDataset,
    documents: Sequence[Document],
    embedder: Embedder,
    setting: Setting,
    query_vectors: np.ndarray,
    query_ids: list[str],
    depth: int,
) -> Run:
    chunked = cached_chunks(data.name, documents, setting, embedder)
    started = time.perf_counter()
    vectors = embedder.encode(chunked.texts)
    embed_seconds = time.perf_counter() - started
    known = np.linalg.norm(vectors, axis=1) > 0  # ingest drops chunks with no known token, so do we
    doc_ids = np.asarray(chunked.doc_ids, dtype=object)[known]
    from_chunks, exact, distinct = rank_documents(query_vectors, unit_rows(vectors[known]), doc_ids, depth)
    ranking = dict(zip(query_ids, from_chunks))
    ndcg = per_query(ndcg_at_k, ranking, data.qrels, K)
    row = {
        "dataset": data.name,
        "model": embedder.info.name,
        "setting": setting.label,
        "unit": setting.unit,
        "size": setting.size,
        "overlap": setting.overlap,
        "chunks": int(known.sum()),
        "chunks_per_doc": round(int(known.sum()) / len(documents), 2),
        "mean_chunk_tokens": round(chunked.mean_tokens, 1),
        "text_ratio": round(chunked.text_ratio, 3),
        "chunk_seconds": round(chunked.seconds, 2),
        "embed_seconds": round(embed_seconds, 2),
        "ndcg@10": _mean(ndcg),
        "recall@100": _mean(per_query(recall_at_k, ranking, data.qrels, RECALL_K)),
        "recall@100_exact": _mean(per_query(recall_at_k, dict(zip(query_ids, exact)), data.qrels, RECALL_K)),
        "mrr@10": _mean(per_query(reciprocal_rank_at_k, ranking, data.qrels, K)),
        "docs_in_top_chunks": round(distinct, 1),
    }
    return Run(row, ndcg)


def _mean(scores: dict[str, float]) -> float:
    return round(float(np.mean(list(scores.values()))), 4)


# --- the whole benchmark -------------------------------------------------------------------------


def load_collection(folder: Path) -> tuple[BeirDataset, list[Document]]:
    """The labels from core.evaluate.datasets, the documents from core.read.documents, exactly as the app reads them."""
    data = load_beir(folder)
    read = read_path(folder / "corpus.jsonl")
    unknown = {doc.source_id for doc in read.documents} - set(data.corpus)
    if unknown:
        raise SystemExit(f"{folder}: {len(unknown)} documents read by the app have ids not in the corpus.")
    log(
        f"{data.name}: {len(read.documents)} documents ({len(read.failures)} unreadable), "
        f"{len(data.judged_queries)} judged queries"
    )
    return data, read.documents


def bench_model(
    data: BeirDataset, documents: Sequence[Document], model: str, grid: Sequence[Setting], args: argparse.Namespace
) -> list[Run]:
    embedder = load_embedder(model)
    embedder.encode(["warm up the tokenizer"])
    queries = data.judged_queries
    query_ids = list(queries)
    query_vectors = unit_rows(embedder.encode(list(queries.values())))
    runs = []
    for setting in grid:
        run = evaluate_setting(data, documents, embedder, setting, query_vectors, query_ids, args.depth)
        log(
            f"  {data.name} {model} {setting.label:>18}: nDCG@10 {run.row['ndcg@10']:.4f} "
            f"recall@100 {run.row['recall@100']:.4f} chunks {run.row['chunks']} "
            f"({run.row['chunk_seconds']}s chunk, {run.row['embed_seconds']}s embed)"
        )
        runs.append(run)
    reference = next(r for r in runs if r.row["setting"] == parse_setting(args.reference).label)
    for run in runs:
        run.row["ndcg@10_vs_reference"] = paired_delta(run.ndcg, reference.ndcg)
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    grid = build_grid(args)
    started, load_start = time.perf_counter(), round(os.getloadavg()[0], 2)  # timings mean little on a busy machine
    rows, baseline = [], {}
    for name in args.datasets:
        data, documents = load_collection(args.data_dir / name)
        for model in args.models:
            runs = bench_model(data, documents, model, grid, args)
            rows += [run.row for run in runs]
            whole = next(run.row for run in runs if run.row["unit"] == WHOLE)
            baseline.setdefault(data.name, {})[model] = {
                key: whole[key] for key in ("chunks", "embed_seconds", "ndcg@10", "recall@100", "mrr@10")
            }
    result = {
        "benchmark": "chunking",
        "config": {
            "datasets": args.datasets,
            "models": args.models,
            "grid": [s.label for s in grid],
            "depth_chunks": args.depth,
            "reference": parse_setting(args.reference).label,
            "metrics": f"ndcg@{K} and mrr@{K} and recall@{RECALL_K} of documents ranked by their best chunk among "
            f"the top {args.depth} chunks; recall@{RECALL_K}_exact ranks documents by their best chunk overall",
            "chunk_seconds": "chunking time of the setting, measured once per tokenizer (the bundled models share one)",
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_start_end": [load_start, round(os.getloadavg()[0], 2)],
        },
        "baseline": baseline,
        "results": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--datasets", nargs="+", default=["cranfield", "scifact"])
    parser.add_argument("--models", nargs="+", default=["minilm-static-64", "minilm-static-256"])
    parser.add_argument("--sizes", nargs="*", type=int, default=[64, 128, 200, 256, 512], help="sizes in tokens")
    parser.add_argument(
        "--overlaps", nargs="+", type=float, default=[0.0, 0.1, 0.2], help="token overlap, share of size"
    )
    parser.add_argument("--char-sizes", nargs="*", type=int, default=[500, 1000, 2000], help="sizes in characters")
    parser.add_argument(
        "--char-overlaps", nargs="+", type=float, default=[0.0, 0.1], help="char overlap, share of size"
    )
    parser.add_argument("--depth", type=int, default=100, help="chunks retrieved per query before aggregation")
    parser.add_argument("--reference", default="tokens:200:20", help="unit:size:overlap the deltas are taken against")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
