"""Documents ranked for judged queries through the app's own path: a corpus indexed as the app indexes it,
searched in batches as the app searches, and each document scored by its best chunk."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from core.access import Actor, may_write, require_write
from core.config import Settings
from core.embed.embedder import Embedder
from core.errors import ApproximateIndexError
from core.evaluate.datasets import BeirDataset, EvaluationError
from core.ingest.chunking import ChunkSettings
from core.ingest.pipeline import IngestResult, ingest_documents, no_progress
from core.read.documents import ReadLimits, ReadResult, read_path
from core.search.query import search_many
from core.storage import Store
from core.storage.base import check_compatible
from core.storage.vector_index import VectorIndex
from core.types import DocumentOutcome, DocumentStatus, HybridParams, ProgressCallback, SearchMode

DEPTH = 100  # documents ranked per query: the deepest cutoff of core.evaluate.metrics.MEASURES
ENGINE_MAX_TOP_K = 16_384  # Milvus refuses a larger limit
QUERY_BATCH = 100  # queries per search call: one engine call each, and a progress bar that moves

DocumentRanking = dict[str, list[tuple[str, float]]]  # query id -> (doc id, best chunk score), best first


def aggregate_chunk_hits(hits: Iterable[tuple[str, float]], k: int | None = None) -> list[tuple[str, float]]:
    """Documents ranked by their best chunk's score (max pooling), best first; ties by doc id."""
    best: dict[str, float] = {}
    for doc_id, score in hits:
        if doc_id not in best or score > best[doc_id]:
            best[doc_id] = float(score)
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))
    return ranked if k is None else ranked[:k]


def corpus_documents(folder: str | Path, data: BeirDataset, settings: Settings | None = None) -> ReadResult:
    """The corpus read as the app reads a JSONL collection (title then text), each document named by its id."""
    path = Path(folder) / "corpus.jsonl"
    # A corpus is one file, whatever the upload limit.
    read = read_path(path, max_bytes=max(path.stat().st_size, 1), limits=ReadLimits.of(settings))
    documents, seen = [], set()
    for doc in read.documents:
        doc_id = doc.source_id or doc.name
        if doc_id not in data.corpus:
            raise EvaluationError(f"{path}: the document read as {doc.name} has an id the corpus does not list.")
        if doc_id in seen:
            raise EvaluationError(f"{path} holds two documents with id {doc_id!r}: ids must be unique.")
        seen.add(doc_id)
        documents.append(replace(doc, name=doc_id))
    return ReadResult(documents, read.failures)


def index_corpus(
    read: ReadResult,
    library: str,
    embedder: Embedder,
    store: Store,
    chunking: ChunkSettings,
    progress: ProgressCallback = no_progress,
    settings: Settings | None = None,
    actor: Actor | None = None,
) -> IngestResult:
    """Index the corpus for this model, reusing what is stored: unchanged documents are skipped, and
    documents the corpus no longer holds are removed, so the index is exactly this corpus. An actor who may only
    read evaluates an index that is exactly this corpus already, and is refused any other."""
    if not may_write(actor, settings):
        return indexed_already(read, library, embedder, store, actor, settings)
    if store.catalog.find(library, embedder.info.name) is not None:
        index = store.index(library, embedder.info.name)
        wanted = {doc.name for doc in read.documents}
        stale = [d.name for d in index.documents() if d.name not in wanted]
        if stale:
            index.delete_documents(stale)
            index.flush()
    return ingest_documents(read, library, embedder, store, chunking, progress, settings=settings, actor=actor)


def indexed_already(
    read: ReadResult,
    library: str,
    embedder: Embedder,
    store: Store,
    actor: Actor | None = None,
    settings: Settings | None = None,
) -> IngestResult:
    """The stored index as an ingest that changed nothing, when it holds exactly the corpus (every document, with
    the same text, and no other) in this model's vectors; otherwise ReadOnlyError: evaluating it would need writing."""
    name = embedder.info.name
    meta = store.catalog.find(library, name)
    stored = {d.name: d for d in store.index(library, name).documents()} if meta is not None else {}
    wanted = {doc.name: doc.content_hash for doc in read.documents}
    if meta is None or {n: d.doc_hash for n, d in stored.items()} != wanted:
        require_write(actor, f"index {library} with {name} for this evaluation (it is not indexed as it is)", settings)
    check_compatible(meta, embedder.info)  # the same name with other weights must not be scored as this model
    result = IngestResult(library=library, model=name)
    result.outcomes += [DocumentOutcome(n, DocumentStatus.UNCHANGED, d.chunks) for n, d in sorted(stored.items())]
    result.outcomes += [DocumentOutcome(f.name, DocumentStatus.FAILED, message=f.message) for f in read.failures]
    result.chunks_unchanged = sum(d.chunks for d in stored.values())
    result.chunks_total = store.index(library, name).count()
    result.files_ok = len(stored)
    return result


def rank_documents(
    queries: Mapping[str, str],
    library: str,
    embedder: Embedder,
    store: Store,
    mode: SearchMode,
    depth: int = DEPTH,
    progress: ProgressCallback = no_progress,
    stage: str = "search",
    params: HybridParams | None = None,
) -> DocumentRanking:
    """The top `depth` documents of every query, each scored by its best chunk.

    Enough chunks are asked for that `depth` distinct documents come back; a query whose chunks hold
    fewer is asked again deeper, so its document ranking is the exact one: an index searched approximately is
    refused (ApproximateIndexError), since its numbers would not be the model's."""
    index = store.index(library, embedder.info.name)
    chosen = VectorIndex.of(index.meta.vector_index)
    if mode != SearchMode.KEYWORD and not chosen.exact:
        raise ApproximateIndexError(
            f"Library '{library}' searches {embedder.info.name} through an approximate index ({chosen.label}), so "
            f"its numbers would not be exact: set it back with `python -m core vector-index flat --library "
            f"{library} --model {embedder.info.name}` to evaluate it."
        )
    chunks, documents = index.count(), index.count_documents()
    cap = max(1, min(chunks, ENGINE_MAX_TOP_K))
    first_k = min(cap, max(depth, math.ceil(2 * depth * chunks / max(documents, 1))))
    ids = list(queries)
    ranked: DocumentRanking = {}
    progress(stage, 0, len(ids))
    for start in range(0, len(ids), QUERY_BATCH):
        batch, top_k = ids[start : start + QUERY_BATCH], first_k
        while batch:
            found = search_many([queries[q] for q in batch], library, embedder, store, top_k, mode=mode, params=params)
            deeper = []
            for qid, result in zip(batch, found):
                docs = aggregate_chunk_hits((h.document, h.score) for h in result.hits)
                # A full page of chunks with too few documents may hide more below it.
                if len(docs) < depth and len(result.hits) >= top_k and top_k < cap:
                    deeper.append(qid)
                ranked[qid] = docs[:depth]
            batch, top_k = deeper, min(cap, top_k * 4)
        progress(stage, min(start + QUERY_BATCH, len(ids)), len(ids))
    return ranked
