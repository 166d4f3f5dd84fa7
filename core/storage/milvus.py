"""The Milvus store: one collection per (library, model) on Milvus Lite or a Milvus server, provenance in a registry."""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np

from core.config import Settings, settings_or_environment
from core.errors import (
    KeywordUnavailableError,
    LibraryNotFoundError,
    SchemaVersionError,
    StoreError,
)
from core.storage.base import Store, check_compatible, ordered_for_write
from core.storage.connection import connect, server_version
from core.storage.consistency import EXACT, SEARCH, settle
from core.storage.filters import field_in
from core.storage.judgments import JUDGMENTS, JudgmentTable
from core.storage.registry import REGISTRY, Registry
from core.storage.schema import ANALYZERS, DENSE_METRIC, chunk_schema
from core.types import (
    MAX_DOCUMENT_CHARS,
    SCHEMA_VERSION,
    ChunkRow,
    CollectionMeta,
    Hit,
    Judgment,
    StoredDocument,
    document_key,
)
from core.vectors import unit_rows

PREFIX = "potion_"
LEGACY_META_KEY = "potion.meta"  # schema 1 kept provenance in collection properties
MAX_TEXT_CHARS = 16_000  # VARCHAR limits count bytes: 16k chars of up to 4 bytes stay under 65,535
REVALIDATE_SECONDS = 1.0  # how stale a server store's caches may be after another process writes
# Two processes making one index on a server at once: an unregistered collection is waited for this long
# (a create takes seconds on Milvus 2.3), looking every CREATE_RETRY_SECONDS; a create whose collection was
# dropped under it is retried up to CREATE_ATTEMPTS times.
REGISTRATION_WAIT_SECONDS, CREATE_RETRY_SECONDS, CREATE_ATTEMPTS = 20.0, 0.5, 4
WRITE_BATCH = 500  # Lite 2.5.1 inserts 1,700 rows/s in batches of 500, 1,300 in batches of 5,000
ITERATOR_BATCH = 10_000
# Lite 2.5.1 pages vectors out in time that grows with the square of the page: 9,000 rows/s in pages of
# 500, 2,800 in pages of 4,000, one page of 10,000 takes 3 minutes. Rows without vectors page fine at 10,000.
VECTOR_ITERATOR_BATCH = 500
OUTPUT_FIELDS = ["document", "chunk", "text", "start", "end", "page", "title"]
T = TypeVar("T")


def collection_name(library: str, model_name: str, version: int = SCHEMA_VERSION) -> str:
    """A valid Milvus name (letters, digits, underscores) that stays readable and unique per pair and schema."""
    slug = lambda s: re.sub(r"[^0-9a-zA-Z]+", "_", s).strip("_").lower()[:40] or "x"  # noqa: E731
    digest = hashlib.sha1(f"{library}\x00{model_name}".encode()).hexdigest()[:8]
    suffix = "" if version == 1 else f"_v{version}"
    return f"{PREFIX}{slug(library)}__{slug(model_name)}_{digest}{suffix}"


def _engine_call(operation: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Turn any engine exception of a store method into a StoreError naming the operation and what to do."""

    def decorate(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def wrapper(self: MilvusStore, *args: Any, **kwargs: Any) -> T:
            from pymilvus.exceptions import MilvusException

            try:
                return method(self, *args, **kwargs)
            except MilvusException as exc:
                raise StoreError(f"The database could not {operation}: {exc.message}. {self.advice}") from exc
            except Exception as exc:
                if type(exc).__module__.startswith("grpc"):
                    raise StoreError(
                        f"The database could not {operation}: it stopped answering. {self.advice}"
                    ) from exc
                raise

        return wrapper

    return decorate


class _MadeElsewhere(Exception):
    """An unregistered collection of the wanted name exists on a server: another process may be making it."""


class MilvusStore(Store):
    """The only place that talks to Milvus. Thread-safe: Streamlit sessions share one instance."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings_or_environment(settings)
        self.uri = self.settings.milvus_uri
        self.advice = (
            f"Check that the Milvus server at {self.uri} is running, then try again."
            if not self.settings.is_lite
            else "Try again; writes are idempotent, so a re-run converges."
        )
        self._lock = threading.RLock()
        self._load_lock = threading.Lock()
        self._loaded: set[str] = set()
        self._metas: dict[tuple[str, str], CollectionMeta] = {}
        self._libraries: set[str] = set()
        self._settings: dict[str, dict] = {}  # library -> its settings, kept on its registry row
        # Document lists and counts scan the collection and the pages ask on every rerun; they are kept
        # until this store writes, deletes or drops there.
        self._documents: dict[str, list[StoredDocument]] = {}
        self._judged: dict[str, list[Judgment]] = {}  # library -> its judgments; Search reads them every rerun
        self._counts: dict[tuple[str, str], int] = {}
        self._analyzer: str | None = None  # found by the first collection created with BM25
        # On a server other processes write too: every cache is checked against the shared generation at
        # most this often (seconds). A Lite database has one process, so its caches are always current.
        self.revalidate_every = REVALIDATE_SECONDS
        self._generation, self._checked_at = "", 0.0
        self.client = connect(self.settings)
        self.server_version = server_version(self.client)
        self._open_registry()

    @property
    def engine_has_bm25(self) -> bool:
        """Milvus added BM25 in 2.5; a 2.3 or 2.4 server has none."""
        found = re.match(r"v?(\d+)\.(\d+)", self.server_version)
        return found is None or (int(found[1]), int(found[2])) >= (2, 5)

    @_engine_call("open the provenance registry")
    def _open_registry(self) -> None:
        with self._lock:
            self.registry = Registry(self.client)
            self.judgment_table = JudgmentTable(self.client)
            self._generation = "" if self.settings.is_lite else self.registry.generation()
            self._checked_at = time.monotonic()
            self._reload_registry()
            self._adopt_legacy_collections()

    def _reload_registry(self) -> None:
        metas, libraries, settings = {}, set(), {}
        for row in self.registry.rows():
            if row.schema_version > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"The database {self.uri} was written by a newer Potion Search (schema {row.schema_version}; "
                    f"this one reads up to {SCHEMA_VERSION}): upgrade Potion Search or use another database."
                )
            libraries.add(row.library)
            if row.settings:
                settings[row.library] = row.settings
            if row.meta is not None:
                metas[(row.library, row.model)] = row.meta
        self._metas, self._libraries, self._settings = metas, libraries, settings

    def _adopt_legacy_collections(self) -> None:
        """Register schema-1 collections (provenance in properties) as they are; their data is not touched."""
        known = {meta.collection for meta in self._metas.values()}
        for name in self.client.list_collections():
            if not name.startswith(PREFIX) or name in (REGISTRY, JUDGMENTS) or name in known:
                continue
            props = self.client.describe_collection(name).get("properties", {})
            if LEGACY_META_KEY not in props:
                continue  # an orphan of an interrupted create or drop; ensure_collection replaces it
            meta = replace(CollectionMeta.from_json(props[LEGACY_META_KEY]), collection=name, schema_version=1)
            self.registry.put(meta)
            self._metas[(meta.library, meta.model_name)] = meta
            self._libraries.add(meta.library)

    def warm_up(self) -> threading.Thread:
        """Load every collection in the background: Lite 2.5.1 takes ~17 s per 100k chunks to load one
        after a restart, which the first search would otherwise wait for."""

        def load_all() -> None:
            for meta in self.collections():
                try:
                    self._ensure_loaded(meta.collection)
                except Exception:  # the search that needs this collection reports the error
                    return

        thread = threading.Thread(target=load_all, name="milvus-warm-up", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        with self._lock:
            self.client.close()

    # --- libraries and provenance --------------------------------------------------------------

    def collections(self) -> list[CollectionMeta]:
        with self._lock:
            self._revalidate()
            return [self._metas[key] for key in sorted(self._metas)]

    def library_names(self) -> list[str]:
        with self._lock:
            self._revalidate()
            return sorted(self._libraries)

    @_engine_call("check for changes by other processes")
    def _revalidate(self, now: bool = False, force: bool = False) -> None:
        """Drop every cache if another process wrote since the last look (at most every `revalidate_every`
        seconds, unless `now`; whatever the generation says if `force`, since a writer registers a row before
        it bumps the generation); the caller holds the lock."""
        if self.settings.is_lite or (not now and time.monotonic() - self._checked_at < self.revalidate_every):
            return
        current = self.registry.generation()
        self._checked_at = time.monotonic()
        if force or current != self._generation:
            self._generation = current
            self._documents.clear()
            self._counts.clear()
            self._judged.clear()
            self._reload_registry()

    def _bump(self) -> None:
        """Tell other processes sharing the server that this one wrote; the caller holds the lock.

        Its own generation is not recorded: a write of another process landing just before this one's bump
        would be hidden by it, so the next check reloads once, its own change included."""
        if not self.settings.is_lite:
            self.registry.bump_generation()

    @_engine_call("create the library")
    def create_library(self, library: str) -> None:
        with self._lock:
            if library not in self._libraries:
                self.registry.put_library(library, self._settings.get(library))
                self._libraries.add(library)
                self._bump()

    def find(self, library: str, model_name: str) -> CollectionMeta | None:
        with self._lock:
            self._revalidate()
            return self._metas.get((library, model_name))

    @_engine_call("create the index")
    def ensure_collection(self, meta: CollectionMeta) -> CollectionMeta:
        from pymilvus.exceptions import MilvusException

        # On a server, an index this store does not know may be another process's, made a moment ago and not
        # registered yet: it is waited for (without the store lock, so searches go on), never dropped, until
        # REGISTRATION_WAIT_SECONDS have passed; only then is it the debris of an interrupted create or drop.
        patience, failures = time.monotonic() + REGISTRATION_WAIT_SECONDS, 0
        while True:
            try:
                return self._ensure_collection(meta, self.settings.is_lite or time.monotonic() > patience)
            except _MadeElsewhere:
                pass
            except MilvusException:
                failures += 1
                name = collection_name(meta.library, meta.model_name)
                # Only a create whose collection vanished under it (another process dropped it) is retried.
                if self.settings.is_lite or failures >= CREATE_ATTEMPTS or self.client.has_collection(name):
                    raise
            time.sleep(CREATE_RETRY_SECONDS)
            with self._lock:
                self._revalidate(now=True, force=True)

    def _ensure_collection(self, meta: CollectionMeta, drop_unknown: bool) -> CollectionMeta:
        with self._lock:
            existing = self.find(meta.library, meta.model_name)
            if existing is not None:
                check_compatible(existing, meta)
                if self.client.has_collection(existing.collection):
                    return existing
                # Registered, but the collection is gone (dropped behind our back): make it again, empty,
                # in today's schema, whatever schema the registry row recorded.
                fresh = replace(existing, schema_version=SCHEMA_VERSION, analyzer="", metric=DENSE_METRIC)
                return self._register(self._create(fresh))
            stamped = replace(
                meta,
                collection=collection_name(meta.library, meta.model_name),
                created_at=datetime.now(UTC).isoformat(),
                schema_version=SCHEMA_VERSION,
                metric=DENSE_METRIC,
            )
            if self.client.has_collection(stamped.collection):
                # Unregistered as far as our cache knows. On a server another process may have registered it
                # since our last look, and may be writing to it: look again before treating it as debris.
                if not self.settings.is_lite:
                    self._revalidate(now=True, force=True)
                    if (registered := self._metas.get((meta.library, meta.model_name))) is not None:
                        check_compatible(registered, meta)
                        return registered
                if not drop_unknown:
                    raise _MadeElsewhere
                self.client.drop_collection(stamped.collection)  # an interrupted create or drop
            # Registered after the collection exists, so a crash in between leaves an orphan that the
            # lines above replace, never a registry row pointing at nothing.
            return self._register(self._create(stamped))

    def _register(self, meta: CollectionMeta) -> CollectionMeta:
        self.registry.put_library(meta.library, self._settings.get(meta.library))
        self.registry.put(meta)
        self._libraries.add(meta.library)
        self._metas[(meta.library, meta.model_name)] = meta
        self._bump()
        return meta

    def _create(self, meta: CollectionMeta) -> CollectionMeta:
        """Create the collection with the best analyzer this engine accepts; returns meta with that analyzer."""
        from pymilvus.exceptions import MilvusException

        if not self.engine_has_bm25:
            candidates: list[str] = []
        elif meta.analyzer or self._analyzer:
            candidates = [meta.analyzer or self._analyzer]
        else:
            candidates = [*ANALYZERS]
        for analyzer in [*candidates, None]:
            schema, index = chunk_schema(self.client, meta.dim, analyzer, meta.metric)
            try:
                self.client.create_collection(meta.collection, schema=schema, index_params=index)
            except MilvusException as exc:
                if analyzer is None or "tokenizer" not in exc.message and "analyzer" not in exc.message:
                    raise
                if self.client.has_collection(meta.collection):
                    self.client.drop_collection(meta.collection)
                continue
            self._analyzer = analyzer or self._analyzer
            self._loaded.add(meta.collection)
            return replace(meta, analyzer=analyzer or "")
        raise AssertionError("unreachable: the last candidate (no analyzer) raises or returns")

    @_engine_call("drop the library")
    def drop_library(self, library: str) -> int:
        with self._lock:
            metas = [m for m in self._metas.values() if m.library == library]
            if not metas and library not in self._libraries:
                raise LibraryNotFoundError(f"There is no library named '{library}'.")
            for meta in metas:
                self._drop(meta)
            self.judgment_table.remove_library(library)
            self._judged.pop(library, None)
            self.registry.remove(library, "")
            self._libraries.discard(library)
            self._settings.pop(library, None)
            self._bump()
            return len(metas)

    def library_settings(self, library: str) -> dict:
        with self._lock:
            self._revalidate()
            return dict(self._settings.get(library, {}))

    @_engine_call("save the library's settings")
    def set_library_settings(self, library: str, settings: dict) -> None:
        with self._lock:
            self.registry.put_library(library, settings)
            self._libraries.add(library)
            self._settings[library] = dict(settings)
            self._bump()

    @_engine_call("save the judgment")
    def put_judgment(self, judgment: Judgment) -> None:
        with self._lock:
            self.judgment_table.put(judgment)
            self._judged.pop(judgment.library, None)
            self._bump()

    @_engine_call("read judgments")
    def judgments(self, library: str) -> list[Judgment]:
        with self._lock:
            self._revalidate()
            if library not in self._judged:
                self._judged[library] = self.judgment_table.rows(library)
            return list(self._judged[library])

    @_engine_call("delete the judgment")
    def delete_judgment(self, judgment: Judgment) -> None:
        with self._lock:
            self.judgment_table.remove(judgment)
            self._judged.pop(judgment.library, None)
            self._bump()

    def _drop(self, meta: CollectionMeta) -> None:
        # Unregistered first: a crash before the drop leaves an orphan collection, which is ignored.
        self.registry.remove(meta.library, meta.model_name)
        self._metas.pop((meta.library, meta.model_name), None)
        self._changed(meta)
        if self.client.has_collection(meta.collection):
            self.client.drop_collection(meta.collection)
        self._loaded.discard(meta.collection)

    def _changed(self, meta: CollectionMeta) -> None:
        self._documents.pop(meta.collection, None)
        self._counts.pop((meta.collection, "chunks"), None)
        self._counts.pop((meta.collection, "documents"), None)

    def _ensure_loaded(self, name: str) -> None:
        # A reopened database has its collections released; searching them needs a load first.
        if name not in self._loaded:
            with self._load_lock:  # not the store lock: a long load must not stall listings and writes
                if name not in self._loaded:
                    self.client.load_collection(name)
                    self._loaded.add(name)

    # --- rows ----------------------------------------------------------------------------------

    @_engine_call("write chunks")
    def write(self, library: str, model_name: str, rows: Sequence[ChunkRow], *, new: bool = False) -> int:
        meta = self.require(library, model_name)
        ordered = ordered_for_write(rows)
        keyed, unit = meta.schema_version >= 2, meta.metric == "IP"
        # Upsert slows as the collection grows (Lite 2.5.1: 1,750 rows/s at 20k rows, 850 at 80k) while
        # insert holds ~1,900; rows of documents known to be absent can be inserted.
        put = self.client.insert if new else self.client.upsert
        # No store lock around the engine calls: pymilvus is thread-safe, and two writes (or a write and
        # a listing) at once keep both the packing thread and the engine busy. Cached listings are
        # dropped before and after, so none made meanwhile outlives the write.
        with self._lock:
            self._changed(meta)
        try:
            for start in range(0, len(ordered), WRITE_BATCH):
                part = ordered[start : start + WRITE_BATCH]
                vectors = np.asarray([r.vector for r in part], dtype=np.float32)
                vectors = unit_rows(vectors) if unit else vectors
                put(meta.collection, [_to_record(r, keyed, v) for r, v in zip(part, vectors, strict=True)])
        finally:
            with self._lock:
                self._changed(meta)
                self._bump()
        return len(ordered)

    @_engine_call("flush")
    def flush(self, library: str, model_name: str) -> None:
        meta = self.require(library, model_name)
        with self._lock:
            self.client.flush(meta.collection)
            self._changed(meta)  # counts taken before the flush may have missed rows still in flight
            self._bump()

    @_engine_call("delete documents")
    def delete_documents(self, library: str, model_name: str, documents: Sequence[str]) -> None:
        meta = self.require(library, model_name)
        with self._lock:
            self._changed(meta)
            for start in range(0, len(documents), 500):
                self.client.delete(meta.collection, filter=_document_filter(meta, documents[start : start + 500]))
            self._bump()

    def _rows(self, meta: CollectionMeta, flt: str, fields: list[str]) -> Iterator[dict]:
        """Every row matching `flt`; an iterator, because plain paging stops at offset + limit = 16,384."""
        self._ensure_loaded(meta.collection)
        batch = VECTOR_ITERATOR_BATCH if "vector" in fields else ITERATOR_BATCH
        settle(self.client, meta.collection)
        it = self.client.query_iterator(
            meta.collection, batch_size=batch, filter=flt, output_fields=fields, consistency_level=EXACT
        )
        try:
            while batch := it.next():
                yield from batch
        finally:
            it.close()

    @_engine_call("list documents")
    def documents(self, library: str, model_name: str) -> list[StoredDocument]:
        meta = self.require(library, model_name)
        with self._lock:
            self._revalidate()
            if meta.collection not in self._documents:
                rows = self._rows(meta, "chunk == 0", ["document", "doc_hash", "n_chunks", "doc_type", "title"])
                docs = [
                    StoredDocument(r["document"], r["doc_hash"], r["n_chunks"], r["doc_type"], r["title"]) for r in rows
                ]
                self._documents[meta.collection] = sorted(docs, key=lambda d: d.name)
            return list(self._documents[meta.collection])

    @_engine_call("read chunks")
    def chunk_rows(self, library: str, model_name: str) -> list[dict]:
        meta = self.require(library, model_name)
        fields = ["document", "doc_hash", "chunk", "start", "end", "text", "title", "doc_type", "page"]
        with self._lock:
            return [{k: r[k] for k in fields} for r in self._rows(meta, "chunk >= 0", fields)]

    @_engine_call("read vectors")
    def chunk_vectors(self, library: str, model_name: str, key_prefixes: Sequence[str] | None = None) -> list[dict]:
        meta = self.require(library, model_name)
        flt = "chunk >= 0"
        if key_prefixes is not None and meta.schema_version >= 2:
            if not key_prefixes:
                return []
            # doc_key is lowercase hex, so a prefix needs no escaping in the LIKE pattern
            flt = " or ".join(f'doc_key like "{p}%"' for p in key_prefixes if p.isalnum())
        fields = ["id", "document", "chunk", "text", "vector"]
        return [
            {**{k: r[k] for k in fields[:4]}, "vector": np.asarray(r["vector"], dtype=np.float32)}
            for r in self._rows(meta, flt, fields)
        ]

    def _count(self, meta: CollectionMeta, what: str, flt: str) -> int:
        key = (meta.collection, what)
        with self._lock:
            self._revalidate()
            if key not in self._counts:
                self._ensure_loaded(meta.collection)
                result = self.client.query(
                    meta.collection, filter=flt, output_fields=["count(*)"], consistency_level=EXACT
                )
                self._counts[key] = int(result[0]["count(*)"])
            return self._counts[key]

    @_engine_call("count chunks")
    def count(self, library: str, model_name: str) -> int:
        return self._count(self.require(library, model_name), "chunks", "")

    @_engine_call("count documents")
    def count_documents(self, library: str, model_name: str) -> int:
        return self._count(self.require(library, model_name), "documents", "chunk == 0")

    # --- search --------------------------------------------------------------------------------

    def _search(
        self, meta: CollectionMeta, data: Any, field: str, metric: str, limit: int, document: str | None, fields: list
    ) -> list[list[dict]]:
        # No store lock around the engine call: pymilvus is thread-safe, and a search must not wait
        # for another session's write or flush to finish.
        self._ensure_loaded(meta.collection)
        return self.client.search(
            meta.collection,
            data=data,
            anns_field=field,
            limit=limit,
            filter=_document_filter(meta, [document]) if document else "",
            output_fields=fields,
            search_params={"metric_type": metric},
            consistency_level=SEARCH,
        )

    @_engine_call("search")
    def dense(
        self, library: str, model_name: str, vectors: np.ndarray, top_k: int, document: str | None = None
    ) -> list[list[Hit]]:
        meta = self.require(library, model_name)
        queries = np.asarray(vectors, dtype=np.float32)
        if meta.metric == "IP":
            queries = unit_rows(queries)
        found = self._search(meta, queries, "vector", meta.metric, top_k, document, OUTPUT_FIELDS)
        return [_to_hits(per_query, "dense_score") for per_query in found]

    @_engine_call("run a keyword search")
    def keyword(
        self, library: str, model_name: str, texts: Sequence[str], top_k: int, document: str | None = None
    ) -> list[list[Hit]]:
        meta = self.require(library, model_name)
        self._require_keyword(meta)
        found = self._search(meta, list(texts), "sparse", "BM25", top_k, document, OUTPUT_FIELDS)
        return [_to_hits(per_query, "keyword_score") for per_query in found]

    def _require_keyword(self, meta: CollectionMeta) -> None:
        if not meta.has_keyword:
            raise self.no_keyword(meta)

    def no_keyword(self, meta: CollectionMeta) -> KeywordUnavailableError:
        if not self.engine_has_bm25:
            return KeywordUnavailableError(
                f"Milvus {self.server_version} at {self.uri} has no BM25 (it came in Milvus 2.5), so keyword and "
                "hybrid search cannot run there; dense search works."
            )
        return super().no_keyword(meta)

    # --- upgrade -------------------------------------------------------------------------------

    @_engine_call("rebuild the index")
    def rebuild(
        self, library: str, model_name: str, progress: Callable[[str, int, int], None] | None = None
    ) -> CollectionMeta:
        """Copy an index into the current schema (BM25 field, document keys), vectors and all; no re-embedding."""
        old = self.require(library, model_name)
        report = progress or (lambda stage, done, total: None)
        if old.schema_version == SCHEMA_VERSION and (old.has_keyword or not self.engine_has_bm25):
            return old
        fresh = replace(
            old,
            analyzer="",
            collection=collection_name(library, model_name),
            created_at=datetime.now(UTC).isoformat(),
            schema_version=SCHEMA_VERSION,
            metric=DENSE_METRIC,
        )
        if fresh.collection == old.collection:
            fresh = replace(fresh, collection=fresh.collection + "_r")
        fields = ["id", "vector", "text", "document", "doc_hash", "title", "doc_type", "chunk", "n_chunks"]
        fields += ["start", "end", "page"]
        with self._lock:
            if self.client.has_collection(fresh.collection):
                self.client.drop_collection(fresh.collection)
            fresh = self._create(fresh)
            total, done = self._count(old, "chunks", ""), 0
            report("rebuild", 0, total)
            batch: list[dict] = []
            for row in self._rows(old, "chunk >= 0", fields):
                batch.append({**row, "doc_key": document_key(row["document"])})
                if len(batch) >= WRITE_BATCH:
                    self.client.insert(fresh.collection, _unit_vectors(batch))  # a new collection: nothing to replace
                    done += len(batch)
                    report("rebuild", done, total)
                    batch = []
            if batch:
                self.client.insert(fresh.collection, _unit_vectors(batch))
            report("rebuild", total, total)
            self.client.flush(fresh.collection)
            self.registry.put(fresh)
            self._metas[(library, model_name)] = fresh
            self._changed(old)
            self.client.drop_collection(old.collection)
            self._loaded.discard(old.collection)
            return fresh


def _document_filter(meta: CollectionMeta, documents: Sequence[str]) -> str:
    if meta.schema_version >= 2:
        return field_in("doc_key", [document_key(d[:MAX_DOCUMENT_CHARS]) for d in documents])
    return field_in("document", [d[:MAX_DOCUMENT_CHARS] for d in documents])


def _unit_vectors(records: list[dict]) -> list[dict]:
    """Records with their vectors at unit length, normalised as one matrix (schema 3 stores unit vectors)."""
    vectors = unit_rows(np.asarray([r["vector"] for r in records], dtype=np.float32))
    return [{**r, "vector": v} for r, v in zip(records, vectors, strict=True)]


def _to_record(row: ChunkRow, keyed: bool, vector: np.ndarray) -> dict:
    document = row.document[:MAX_DOCUMENT_CHARS]
    record = {
        "id": row.id,
        "vector": vector,  # pymilvus takes numpy rows; .tolist() cost 3-7 s/100k
        "text": row.text[:MAX_TEXT_CHARS],
        "document": document,
        "doc_hash": row.doc_hash,
        "title": (row.title or "")[:500],
        "doc_type": row.doc_type[:16],
        "chunk": row.chunk,
        "n_chunks": row.n_chunks,
        "start": row.start,
        "end": row.end,
        "page": row.page,
    }
    if keyed:
        record["doc_key"] = document_key(document)
    return record


def _to_hits(raw: list[dict], component: str) -> list[Hit]:
    hits = []
    for rank, found in enumerate(raw, start=1):
        entity = found.get("entity") or {}
        # A BM25 score is never negative, but Lite 3.x returns it negated as a distance (2.5.1 does not).
        score = abs(float(found["distance"])) if component == "keyword_score" else float(found["distance"])
        hits.append(
            Hit(
                rank=rank,
                score=score,
                document=entity.get("document", ""),
                chunk=int(entity.get("chunk", -1)),
                text=entity.get("text", ""),
                start=int(entity.get("start", -1)),
                end=int(entity.get("end", -1)),
                page=int(entity.get("page", -1)),
                title=entity.get("title", ""),
                chunk_id=str(found.get("id", entity.get("id", ""))),
                **{component: score},
            )
        )
    return hits
