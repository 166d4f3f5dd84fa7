"""Dense search: query text -> vector -> hits, with the dims of both sides and the time each step took."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.embedder import Embedder
from core.errors import LibraryNotFoundError, ModelMismatchError
from core.store import Hit, MilvusStore


@dataclass(frozen=True)
class SearchResult:
    query: str
    model: str
    query_dim: int
    doc_dim: int
    hits: list[Hit] = field(default_factory=list)
    encode_ms: float = 0.0
    search_ms: float = 0.0
    unknown_query: bool = False  # the query had no token the model knows, so nothing can match

    def as_dict(self) -> dict:
        return {
            "query": self.query,
            "model": self.model,
            "query_dim": self.query_dim,
            "doc_dim": self.doc_dim,
            "encode_ms": round(self.encode_ms, 3),
            "search_ms": round(self.search_ms, 3),
            "unknown_query": self.unknown_query,
            "hits": [h.as_dict() for h in self.hits],
        }


def search_many(
    queries: Sequence[str],
    library: str,
    embedder: Embedder,
    store: MilvusStore,
    top_k: int = 5,
    document: str | None = None,
) -> list[SearchResult]:
    """Search several queries in one database call (Milvus Lite pays a full key walk per call)."""
    meta = store.find(library, embedder.info.name)
    if meta is None:
        raise LibraryNotFoundError(
            f"Library '{library}' has no index for model {embedder.info.name}: index documents with it first."
        )
    if meta.dim != embedder.dim:
        raise ModelMismatchError(
            f"Library '{library}' holds {meta.dim}-dim vectors but {embedder.info.name} gives {embedder.dim}."
        )
    t0 = time.perf_counter()
    vectors = embedder.encode(list(queries))
    t1 = time.perf_counter()
    known = np.any(vectors != 0, axis=1)
    raw: list[list[Hit]] = [[] for _ in queries]
    if known.any():
        found = store.search(library, embedder.info.name, vectors[known], top_k, document)
        for slot, hits in zip(np.flatnonzero(known), found):
            raw[slot] = hits
    t2 = time.perf_counter()
    per_query = len(queries) or 1
    return [
        SearchResult(
            query=q,
            model=embedder.info.name,
            query_dim=int(vectors.shape[1]),
            doc_dim=meta.dim,
            hits=hits,
            encode_ms=(t1 - t0) * 1000 / per_query,
            search_ms=(t2 - t1) * 1000 / per_query,
            unknown_query=not known[i],
        )
        for i, (q, hits) in enumerate(zip(queries, raw))
    ]


def search(
    query: str, library: str, embedder: Embedder, store: MilvusStore, top_k: int = 5, document: str | None = None
) -> SearchResult:
    return search_many([query], library, embedder, store, top_k, document)[0]
