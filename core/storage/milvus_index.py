"""One (library, model) index on Milvus: writing rows, listing and counting them, and dense and BM25 search.

No lock is held across an engine call here: pymilvus is thread-safe, so a search never waits for another
session's write, flush, scan or rebuild. Listings and counts are cached, and a listing read while the index
changed is answered but not kept (core.storage.state)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import KeywordUnavailableError
from core.storage import legacy
from core.storage.consistency import EXACT, SEARCH, settle
from core.storage.index import Index, not_indexed
from core.storage.records import OUTPUT_FIELDS, to_hits, to_record
from core.storage.state import StoreState, engine_call
from core.storage.vector_index import FLAT, VectorIndex, check_supported, index_params, search_params
from core.types import ChunkRow, CollectionMeta, Hit, StoredDocument
from core.vectors import unit_rows

if TYPE_CHECKING:
    from core.storage.milvus_catalog import MilvusCatalog

WRITE_BATCH = 500  # Lite 2.5.1 inserts 1,700 rows/s in batches of 500, 1,300 in batches of 5,000
ITERATOR_BATCH = 10_000
# Lite 2.5.1 pages vectors out in time that grows with the square of the page: 9,000 rows/s in pages of
# 500, 2,800 in pages of 4,000, one page of 10,000 takes 3 minutes. Rows without vectors page fine at 10,000.
VECTOR_ITERATOR_BATCH = 500


def scan(state: StoreState, meta: CollectionMeta, flt: str, fields: list[str]) -> Iterator[dict]:
    """Every row matching `flt`; an iterator, because plain paging stops at offset + limit = 16,384."""
    state.ensure_loaded(meta.collection)
    batch = VECTOR_ITERATOR_BATCH if "vector" in fields else ITERATOR_BATCH
    if state.profile.settle_scans:
        settle(state.client, meta.collection)
    it = state.client.query_iterator(
        meta.collection, batch_size=batch, filter=flt, output_fields=fields, consistency_level=EXACT
    )
    try:
        while batch := it.next():
            yield from batch
    finally:
        it.close()


class MilvusIndex(Index):
    def __init__(self, state: StoreState, catalog: MilvusCatalog, library: str, model_name: str) -> None:
        super().__init__(library, model_name)
        self.state, self.catalog, self.client = state, catalog, state.client

    @property
    def meta(self) -> CollectionMeta:
        found = self.state.find(self.library, self.model_name)
        if found is None:
            raise not_indexed(self.library, self.model_name)
        return found

    # --- rows ----------------------------------------------------------------------------------

    @engine_call("write chunks")
    def write(self, rows: Sequence[ChunkRow], *, new: bool = False) -> int:
        from core.storage.base import ordered_for_write

        meta = self.meta
        ordered = ordered_for_write(rows)
        keyed, unit = legacy.keyed(meta), legacy.stores_unit_vectors(meta)
        # Upsert slows as the collection grows (Lite 2.5.1: 1,750 rows/s at 20k rows, 850 at 80k) while
        # insert holds ~1,900; rows of documents known to be absent can be inserted.
        put = self.client.insert if new else self.client.upsert
        # Cached listings are dropped before and after, so none made meanwhile outlives the write.
        self.state.changed(meta.collection)
        try:
            for start in range(0, len(ordered), WRITE_BATCH):
                part = ordered[start : start + WRITE_BATCH]
                vectors = np.asarray([r.vector for r in part], dtype=np.float32)
                vectors = unit_rows(vectors) if unit else vectors
                put(meta.collection, [to_record(r, keyed, v) for r, v in zip(part, vectors, strict=True)])
        finally:
            self.state.changed(meta.collection)
            self.state.bump()
        return len(ordered)

    @engine_call("flush")
    def flush(self) -> None:
        meta = self.meta
        self.client.flush(meta.collection)
        self.state.changed(meta.collection)  # counts taken before the flush may have missed rows still in flight
        self.state.bump()

    @engine_call("delete documents")
    def delete_documents(self, documents: Sequence[str]) -> None:
        meta = self.meta
        self.state.changed(meta.collection)
        try:
            for start in range(0, len(documents), 500):
                flt = legacy.document_filter(meta, documents[start : start + 500])
                self.client.delete(meta.collection, filter=flt)
        finally:
            self.state.changed(meta.collection)
            self.state.bump()

    def _cached(self, cache: dict, key: Any, collection: str, read: Callable[[], Any]) -> Any:
        """The cached answer, or `read()` run without the lock and kept only if the index did not change meanwhile."""
        self.state.revalidate()
        with self.state.lock:
            if key in cache:
                return cache[key]
            token = self.state.token(collection)
        value = read()
        self.state.publish(cache, key, token, collection, value)
        return value

    @engine_call("list documents", read=True)
    def documents(self) -> list[StoredDocument]:
        meta = self.meta

        def read() -> list[StoredDocument]:
            rows = scan(self.state, meta, "chunk == 0", ["document", "doc_hash", "n_chunks", "doc_type", "title"])
            docs = [
                StoredDocument(r["document"], r["doc_hash"], r["n_chunks"], r["doc_type"], r["title"]) for r in rows
            ]
            return sorted(docs, key=lambda d: d.name)

        return list(self._cached(self.state.documents, meta.collection, meta.collection, read))

    @engine_call("read chunks", read=True)
    def chunk_rows(self) -> list[dict]:
        fields = ["document", "doc_hash", "chunk", "start", "end", "text", "title", "doc_type", "page"]
        return [{k: r[k] for k in fields} for r in scan(self.state, self.meta, "chunk >= 0", fields)]

    @engine_call("read vectors", read=True)
    def chunk_vectors(self, key_prefixes: Sequence[str] | None = None) -> list[dict]:
        meta = self.meta
        flt = "chunk >= 0"
        if key_prefixes is not None:
            if not key_prefixes and legacy.keyed(meta):
                return []
            flt = legacy.key_prefix_filter(meta, key_prefixes) or flt
        fields = ["id", "document", "chunk", "text", "vector"]
        return [
            {**{k: r[k] for k in fields[:4]}, "vector": np.asarray(r["vector"], dtype=np.float32)}
            for r in scan(self.state, meta, flt, fields)
        ]

    def _count(self, what: str, flt: str) -> int:
        meta = self.meta

        def read() -> int:
            self.state.ensure_loaded(meta.collection)
            result = self.client.query(meta.collection, filter=flt, output_fields=["count(*)"], consistency_level=EXACT)
            return int(result[0]["count(*)"])

        return self._cached(self.state.counts, (meta.collection, what), meta.collection, read)

    @engine_call("count chunks", read=True)
    def row_count(self) -> int:
        # The engine's statistics, which need no load: exact on Milvus Lite (measured on 2.5.1 after upserts and
        # deletes); a server may count deleted rows until it compacts.
        return int(self.client.get_collection_stats(self.meta.collection)["row_count"])

    @engine_call("count chunks", read=True)
    def count(self) -> int:
        return self._count("chunks", "")

    @engine_call("count documents", read=True)
    def count_documents(self) -> int:
        return self._count("documents", "chunk == 0")

    # --- search --------------------------------------------------------------------------------

    def _search(
        self, meta: CollectionMeta, data: Any, field: str, metric: str, limit: int, document: str | None
    ) -> list[list[dict]]:
        self.state.ensure_loaded(meta.collection)
        return self.client.search(
            meta.collection,
            data=data,
            anns_field=field,
            limit=limit,
            filter=legacy.document_filter(meta, [document]) if document else "",
            output_fields=OUTPUT_FIELDS,
            search_params=search_params(VectorIndex.of(meta.vector_index) if field == "vector" else FLAT, metric),
            consistency_level=SEARCH,
        )

    @engine_call("search", read=True)
    def dense(self, vectors: np.ndarray, top_k: int, document: str | None = None) -> list[list[Hit]]:
        meta = self.meta
        queries = np.asarray(vectors, dtype=np.float32)
        if legacy.stores_unit_vectors(meta):
            queries = unit_rows(queries)
        found = self._search(meta, queries, "vector", meta.metric, top_k, document)
        return [to_hits(per_query, "dense_score") for per_query in found]

    @engine_call("run a keyword search", read=True)
    def keyword(self, texts: Sequence[str], top_k: int, document: str | None = None) -> list[list[Hit]]:
        meta = self.meta
        if not meta.has_keyword:
            raise self.no_keyword(meta)
        found = self._search(meta, list(texts), "sparse", "BM25", top_k, document)
        return [to_hits(per_query, "keyword_score") for per_query in found]

    def no_keyword(self, meta: CollectionMeta) -> KeywordUnavailableError:
        if not self.state.profile.has_bm25:
            return KeywordUnavailableError(
                f"{self.state.profile.label} at {self.state.uri} has no BM25 (it came in Milvus 2.5), so keyword "
                "and hybrid search cannot run there; dense search works."
            )
        return super().no_keyword(meta)

    @engine_call("change the vector index")
    def set_vector_index(self, choice: VectorIndex) -> CollectionMeta:
        meta, profile = self.meta, self.state.profile
        check_supported(choice, profile.engine, profile.version, f"{profile.label} at {self.state.uri}")
        if VectorIndex.of(meta.vector_index) == choice:
            return meta
        # An index is changed on a released collection; searches meanwhile wait on the reload, as after an open.
        self.state.release(meta.collection)
        self.client.drop_index(meta.collection, index_name="vector")
        params = self.client.prepare_index_params()
        params.add_index("vector", metric_type=meta.metric, **index_params(choice))
        self.client.create_index(meta.collection, params)
        changed = self.catalog.register(replace(meta, vector_index={} if choice.exact else choice.as_dict()))
        self.state.ensure_loaded(meta.collection)
        return changed

    # --- upgrade -------------------------------------------------------------------------------

    def rebuild(self, progress: Callable[[str, int, int], None] | None = None) -> CollectionMeta:
        from core.storage.rebuild import rebuild

        return rebuild(self, progress)

    def set_language(self, language: str, progress: Callable[[str, int, int], None] | None = None) -> CollectionMeta:
        from core.storage.rebuild import rebuild

        return rebuild(self, progress, language)
