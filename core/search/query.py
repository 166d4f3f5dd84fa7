"""Search in three modes: query text -> (vector) -> hits, with the dims of both sides and the time each step took."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.embed.embedder import Embedder
from core.errors import LibraryNotFoundError, ModelUnavailableError
from core.storage import Store
from core.storage.base import check_compatible
from core.types import Hit, HybridParams, SearchMode


@dataclass(frozen=True)
class SearchResult:
    query: str
    model: str
    query_dim: int
    doc_dim: int
    hits: list[Hit] = field(default_factory=list)
    encode_ms: float = 0.0
    search_ms: float = 0.0
    unknown_query: bool = False  # the query had no token the model knows, so no dense score exists
    mode: SearchMode = SearchMode.DENSE

    def as_dict(self) -> dict:
        return {
            "query": self.query,
            "model": self.model,
            "mode": str(self.mode),
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
    embedder: Embedder | str,
    store: Store,
    top_k: int = 5,
    document: str | None = None,
    mode: SearchMode = SearchMode.DENSE,
    params: HybridParams | None = None,
) -> list[SearchResult]:
    """Search several queries in one database call per ranking.

    `embedder` is the loaded model, or for a keyword search only the name of the model whose index is searched:
    BM25 reads the chunk text, so a keyword search loads no model."""
    name = embedder if isinstance(embedder, str) else embedder.info.name
    meta = store.catalog.find(library, name)
    if meta is None:
        raise LibraryNotFoundError(f"Library '{library}' has no index for model {name}: index documents with it first.")
    if isinstance(embedder, str):
        if mode != SearchMode.KEYWORD:
            raise ModelUnavailableError(f"A {mode} search of '{library}' needs the model {name} loaded, not its name.")
        return _keyword_only(queries, library, name, meta.dim, store, top_k, document)
    check_compatible(meta, embedder.info)
    t0 = time.perf_counter()
    vectors = embedder.encode(list(queries)) if mode != SearchMode.KEYWORD else np.zeros((len(queries), meta.dim))
    t1 = time.perf_counter()
    raw = store.index(library, embedder.info.name).search(mode, vectors, list(queries), top_k, document, params)
    t2 = time.perf_counter()
    known = np.any(vectors != 0, axis=1)
    per_query = len(queries) or 1
    return [
        SearchResult(
            query=q,
            model=embedder.info.name,
            query_dim=embedder.dim,
            doc_dim=meta.dim,
            hits=hits,
            encode_ms=(t1 - t0) * 1000 / per_query,
            search_ms=(t2 - t1) * 1000 / per_query,
            unknown_query=mode != SearchMode.KEYWORD and not known[i],
            mode=mode,
        )
        for i, (q, hits) in enumerate(zip(queries, raw))
    ]


def _keyword_only(
    queries: Sequence[str], library: str, model: str, dim: int, store: Store, top_k: int, document: str | None
) -> list[SearchResult]:
    """BM25 over the index of (library, model): the engine needs a vector per query, never looked at."""
    t0 = time.perf_counter()
    raw = store.index(library, model).search(
        SearchMode.KEYWORD, np.zeros((len(queries), dim)), list(queries), top_k, document
    )
    search_ms = (time.perf_counter() - t0) * 1000 / (len(queries) or 1)
    return [
        SearchResult(
            query=q, model=model, query_dim=dim, doc_dim=dim, hits=hits, search_ms=search_ms, mode=SearchMode.KEYWORD
        )
        for q, hits in zip(queries, raw)
    ]


def search(
    query: str,
    library: str,
    embedder: Embedder | str,
    store: Store,
    top_k: int = 5,
    document: str | None = None,
    mode: SearchMode = SearchMode.DENSE,
    params: HybridParams | None = None,
) -> SearchResult:
    return search_many([query], library, embedder, store, top_k, document, mode, params)[0]
