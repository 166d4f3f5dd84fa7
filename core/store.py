"""Milvus storage: one collection per (library, model), provenance in its properties, upsert by content id."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from core.config import Settings, load_settings
from core.errors import LibraryNotFoundError, ModelMismatchError, StoreError, StoreLockedError

PREFIX = "potion_"
META_KEY = "potion.meta"
SCHEMA_VERSION = 1
MAX_TEXT_CHARS = 16_000  # VARCHAR limits count bytes: 16k chars of up to 4 bytes stay under 65,535
WRITE_BATCH = 5_000
QUERY_PAGE = 10_000
OUTPUT_FIELDS = ["document", "chunk", "text", "start", "end", "page", "title"]


@dataclass(frozen=True)
class CollectionMeta:
    library: str
    model_name: str
    model_source: str
    model_kind: str
    fingerprint: str
    dim: int
    chunking: dict
    created_at: str = ""
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> CollectionMeta:
        data = json.loads(raw)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class ChunkRow:
    document: str
    doc_hash: str
    chunk: int
    n_chunks: int
    text: str
    start: int
    end: int
    vector: np.ndarray
    page: int = -1
    title: str = ""
    doc_type: str = ""

    @property
    def id(self) -> str:
        """Derived from content, so writing the same chunk again replaces it instead of adding one."""
        key = f"{self.document}\x00{self.doc_hash}\x00{self.chunk}\x00{self.start}:{self.end}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class StoredDocument:
    name: str
    doc_hash: str
    chunks: int
    doc_type: str = ""
    title: str = ""


@dataclass(frozen=True)
class CollectionStats:
    meta: CollectionMeta
    collection: str
    documents: int
    chunks: int

    @property
    def vector_bytes(self) -> int:
        return self.chunks * self.meta.dim * 4


@dataclass(frozen=True)
class LibraryInfo:
    name: str
    collections: list[CollectionStats] = field(default_factory=list)


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    document: str
    chunk: int
    text: str
    start: int
    end: int
    page: int = -1
    title: str = ""

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def collection_name(library: str, model_name: str) -> str:
    """A valid Milvus name (letters, digits, underscores) that stays readable and unique per pair."""
    slug = lambda s: re.sub(r"[^0-9a-zA-Z]+", "_", s).strip("_").lower()[:40] or "x"  # noqa: E731
    digest = hashlib.sha1(f"{library}\x00{model_name}".encode()).hexdigest()[:8]
    return f"{PREFIX}{slug(library)}__{slug(model_name)}_{digest}"


def _import_pymilvus() -> None:
    """Import pymilvus with MILVUS_URI hidden when it names a Lite file.

    pymilvus reads MILVUS_URI at import for its ORM default connection and refuses a file path there,
    while we accept one (the same variable picks a Lite database or a server)."""
    import os
    import sys

    uri = os.environ.get("MILVUS_URI", "")
    if "pymilvus" in sys.modules or uri.startswith(("http://", "https://", "tcp://", "unix:")):
        return
    os.environ.pop("MILVUS_URI", None)
    try:
        import pymilvus  # noqa: F401
    finally:
        if uri:
            os.environ["MILVUS_URI"] = uri


def _quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(value)


class MilvusStore:
    """The only place that talks to Milvus. Thread-safe: Streamlit sessions share one instance."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self.uri = self.settings.milvus_uri
        self._lock = threading.RLock()
        self._loaded: set[str] = set()
        # Provenance never changes while a collection exists, and looking it up costs two round trips,
        # which doubled the time of a one-query search. Creating or dropping through this store resets it.
        self._metas: dict[str, CollectionMeta] = {}
        # Document lists and counts scan the collection (0.3-0.4 s each at 18k chunks in Lite) and the
        # pages ask on every rerun; they are kept until this store writes, deletes or drops there.
        self._documents: dict[str, list[StoredDocument]] = {}
        self._stats: dict[str, CollectionStats] = {}
        self.client = self._connect()

    def _connect(self):  # noqa: ANN202 - pymilvus is imported lazily
        _import_pymilvus()
        from pymilvus import MilvusClient
        from pymilvus.exceptions import ConnectionConfigException, MilvusException

        if self.settings.is_lite:
            Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
            # Milvus Lite's in-process gRPC server logs a harmless "AllocTimestamp not implemented"
            # traceback when a collection is created; it would read like a failure on the CLI.
            logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
        try:
            return MilvusClient(uri=self.uri, token=self.settings.milvus_token)
        except ConnectionConfigException as exc:
            if self.settings.is_lite:
                raise StoreLockedError(
                    f"The database {self.uri} is open in another process: close that app or CLI run, "
                    "or point MILVUS_URI at a Milvus server to share one database."
                ) from exc
            raise StoreError(f"Cannot connect to Milvus at {self.uri}: {exc.message}.") from exc
        except MilvusException as exc:
            raise StoreError(f"Cannot connect to Milvus at {self.uri}: {exc.message}.") from exc

    def close(self) -> None:
        with self._lock:
            self.client.close()

    # --- collections -------------------------------------------------------------------------

    def _meta_of(self, name: str) -> CollectionMeta | None:
        props = self.client.describe_collection(name).get("properties", {})
        return CollectionMeta.from_json(props[META_KEY]) if META_KEY in props else None

    def collections(self) -> list[tuple[str, CollectionMeta]]:
        """Every Potion Search collection in this database with its provenance."""
        with self._lock:
            out = []
            for name in sorted(self.client.list_collections()):
                if not name.startswith(PREFIX):
                    continue
                if name not in self._metas and (meta := self._meta_of(name)) is not None:
                    self._metas[name] = meta
                if name in self._metas:
                    out.append((name, self._metas[name]))
            return out

    def library_names(self) -> list[str]:
        """Names only: cheap enough for every rerun (no counting)."""
        return sorted({meta.library for _, meta in self.collections()})

    def _changed(self, name: str) -> None:
        self._documents.pop(name, None)
        self._stats.pop(name, None)

    def find(self, library: str, model_name: str) -> CollectionMeta | None:
        name = collection_name(library, model_name)
        with self._lock:
            if name not in self._metas and self.client.has_collection(name):
                meta = self._meta_of(name)
                if meta is not None:
                    self._metas[name] = meta
            return self._metas.get(name)

    def ensure_collection(self, meta: CollectionMeta) -> str:
        """Create the collection for (library, model), or check that the existing one matches."""
        name = collection_name(meta.library, meta.model_name)
        with self._lock:
            existing = self.find(meta.library, meta.model_name)
            if existing is not None:
                _check_compatible(existing, meta)
                return name
            self._create(name, meta)
            return name

    def _create(self, name: str, meta: CollectionMeta) -> None:
        from pymilvus import DataType

        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=meta.dim)
        schema.add_field("text", DataType.VARCHAR, max_length=65_535)
        schema.add_field("document", DataType.VARCHAR, max_length=4_096)
        schema.add_field("doc_hash", DataType.VARCHAR, max_length=64)
        schema.add_field("title", DataType.VARCHAR, max_length=2_048)
        schema.add_field("doc_type", DataType.VARCHAR, max_length=16)
        for int_field in ("chunk", "n_chunks", "start", "end", "page"):
            schema.add_field(int_field, DataType.INT64)
        index = self.client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="COSINE")
        stamped = CollectionMeta(**{**meta.__dict__, "created_at": datetime.now(UTC).isoformat()})
        self.client.create_collection(name, schema=schema, index_params=index, properties={META_KEY: stamped.to_json()})
        self._loaded.add(name)

    def _ensure_loaded(self, name: str) -> None:
        # A reopened database has its collections released; searching them needs a load first.
        if name not in self._loaded:
            self.client.load_collection(name)
            self._loaded.add(name)

    def drop_library(self, library: str) -> int:
        """Drop every collection of the library; returns how many were dropped."""
        with self._lock:
            names = [name for name, meta in self.collections() if meta.library == library]
            if not names:
                raise LibraryNotFoundError(f"There is no library named '{library}'.")
            for name in names:
                self._forget(name)
            return len(names)

    def drop_collection(self, library: str, model_name: str) -> None:
        name = self._require(library, model_name)
        with self._lock:
            self._forget(name)

    def _forget(self, name: str) -> None:
        self._changed(name)
        self.client.drop_collection(name)
        self._loaded.discard(name)
        self._metas.pop(name, None)

    def _require(self, library: str, model_name: str) -> str:
        if self.find(library, model_name) is None:
            raise LibraryNotFoundError(
                f"Library '{library}' has no index for model {model_name}: index documents first."
            )
        return collection_name(library, model_name)

    # --- rows --------------------------------------------------------------------------------

    def write(self, library: str, model_name: str, rows: Sequence[ChunkRow]) -> int:
        """Upsert rows; each document's chunk 0 goes last, so its presence marks the document complete."""
        name = self._require(library, model_name)
        ordered = [r for r in rows if r.chunk != 0] + [r for r in rows if r.chunk == 0]
        with self._lock:
            self._changed(name)
            for start in range(0, len(ordered), WRITE_BATCH):
                self.client.upsert(name, [_to_record(r) for r in ordered[start : start + WRITE_BATCH]])
        return len(ordered)

    def flush(self, library: str, model_name: str) -> None:
        """Seal the memtable: unflushed rows are scanned slowly on every search (DESIGN.md)."""
        name = self._require(library, model_name)
        with self._lock:
            self.client.flush(name)

    def delete_document(self, library: str, model_name: str, document: str) -> None:
        self.delete_documents(library, model_name, [document])

    def delete_documents(self, library: str, model_name: str, documents: Sequence[str]) -> None:
        name = self._require(library, model_name)
        with self._lock:
            self._changed(name)
            for start in range(0, len(documents), 500):
                names = ", ".join(_quote(d) for d in documents[start : start + 500])
                self.client.delete(name, filter=f"document in [{names}]")

    def _query_all(self, name: str, flt: str, fields: list[str]) -> Iterator[dict]:
        offset = 0
        while True:
            page = self.client.query(name, filter=flt, output_fields=fields, limit=QUERY_PAGE, offset=offset)
            yield from page
            if len(page) < QUERY_PAGE:
                return
            offset += QUERY_PAGE

    def documents(self, library: str, model_name: str) -> list[StoredDocument]:
        """Complete documents (those whose chunk 0 is written), sorted by name."""
        name = self._require(library, model_name)
        with self._lock:
            if name not in self._documents:
                self._ensure_loaded(name)
                rows = self._query_all(name, "chunk == 0", ["document", "doc_hash", "n_chunks", "doc_type", "title"])
                docs = [
                    StoredDocument(r["document"], r["doc_hash"], r["n_chunks"], r["doc_type"], r["title"]) for r in rows
                ]
                self._documents[name] = sorted(docs, key=lambda d: d.name)
            return list(self._documents[name])

    def chunk_rows(self, library: str, model_name: str) -> list[dict]:
        """Every stored chunk without its vector (document, doc_hash, chunk, start, end, text, title, doc_type)."""
        name = self._require(library, model_name)
        fields = ["document", "doc_hash", "chunk", "start", "end", "text", "title", "doc_type", "page"]
        with self._lock:
            self._ensure_loaded(name)
            return list(self._query_all(name, "chunk >= 0", fields))

    def count(self, library: str, model_name: str, flt: str = "") -> int:
        name = self._require(library, model_name)
        with self._lock:
            self._ensure_loaded(name)
            result = self.client.query(name, filter=flt, output_fields=["count(*)"])
        return int(result[0]["count(*)"])

    def stats(self, library: str, model_name: str) -> CollectionStats:
        meta = self.find(library, model_name)
        if meta is None:
            raise LibraryNotFoundError(f"Library '{library}' has no index for model {model_name}.")
        name = collection_name(library, model_name)
        with self._lock:
            if name not in self._stats:
                self._stats[name] = CollectionStats(
                    meta=meta,
                    collection=name,
                    documents=self.count(library, model_name, "chunk == 0"),
                    chunks=self.count(library, model_name),
                )
            return self._stats[name]

    def libraries(self) -> list[LibraryInfo]:
        by_name: dict[str, list[CollectionStats]] = {}
        for _, meta in self.collections():
            by_name.setdefault(meta.library, []).append(self.stats(meta.library, meta.model_name))
        return [
            LibraryInfo(name, sorted(cols, key=lambda c: c.meta.model_name)) for name, cols in sorted(by_name.items())
        ]

    def search(
        self, library: str, model_name: str, vectors: np.ndarray, top_k: int, document: str | None = None
    ) -> list[list[Hit]]:
        """Cosine top-k for each query vector, in one call (each call costs a full key walk in Lite)."""
        name = self._require(library, model_name)
        flt = f"document == {_quote(document)}" if document else ""
        with self._lock:
            self._ensure_loaded(name)
            results = self.client.search(
                name,
                data=np.asarray(vectors, dtype=np.float32).tolist(),
                limit=top_k,
                filter=flt,
                output_fields=OUTPUT_FIELDS,
                search_params={"metric_type": "COSINE"},
            )
        return [[_to_hit(rank, h) for rank, h in enumerate(per_query, start=1)] for per_query in results]


def _check_compatible(existing: CollectionMeta, wanted: CollectionMeta) -> None:
    where = f"library '{existing.library}' with model {existing.model_name}"
    if existing.dim != wanted.dim:
        raise ModelMismatchError(
            f"The {where} holds {existing.dim}-dim vectors but the model now gives {wanted.dim}: "
            "use another library name or drop this one."
        )
    if existing.fingerprint != wanted.fingerprint:
        raise ModelMismatchError(
            f"The {where} was indexed with different model weights (fingerprint {existing.fingerprint}, "
            f"now {wanted.fingerprint}): drop it and index again, or use another library name."
        )
    if existing.chunking != wanted.chunking:
        raise ModelMismatchError(
            f"The {where} was chunked with {existing.chunking}, not {wanted.chunking}: "
            "use the recorded settings, or drop the library to re-chunk."
        )


def _to_record(row: ChunkRow) -> dict:
    return {
        "id": row.id,
        "vector": np.asarray(row.vector, dtype=np.float32),  # pymilvus takes numpy rows; .tolist() cost 3-7 s/100k
        "text": row.text[:MAX_TEXT_CHARS],
        "document": row.document[:1_000],
        "doc_hash": row.doc_hash,
        "title": (row.title or "")[:500],
        "doc_type": row.doc_type[:16],
        "chunk": row.chunk,
        "n_chunks": row.n_chunks,
        "start": row.start,
        "end": row.end,
        "page": row.page,
    }


def _to_hit(rank: int, raw: dict) -> Hit:
    entity = raw.get("entity", raw)
    return Hit(
        rank=rank,
        score=float(raw["distance"]),
        document=entity["document"],
        chunk=int(entity["chunk"]),
        text=entity["text"],
        start=int(entity["start"]),
        end=int(entity["end"]),
        page=int(entity["page"]),
        title=entity.get("title", ""),
    )
