"""The Milvus schemas of Potion Search: chunk collections (dense + BM25), the store's own small collections (registry,
judgments, audit log, saved runs, query sets) and the one rule that makes those when missing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.storage.analyzers import analyzer_params
from core.storage.vector_index import FLAT, VectorIndex, index_params

if TYPE_CHECKING:  # the state imports the registry, which imports this module
    from core.storage.state import StoreState

# Analyzers in order of preference, chosen by BM25 nDCG@10 on ../shared/datasets (bench/engines.py):
# "english" (stemming, stop words) beats "standard" on SciFact and Cranfield; Milvus Lite 3.x only has "standard".
ANALYZERS: tuple[str, ...] = ("english", "standard")
TEXT_MAX_BYTES = 65_535
DOC_KEY_LEN = 32
INT_FIELDS = ("chunk", "n_chunks", "start", "end", "page")
# Vectors are stored at unit length and ranked by inner product: the same order and scores as COSINE, and
# Lite 2.5.1's FLAT scan of 100k x 256 takes 15 ms instead of 21 ms (bench/storage.py, engine floor).
DENSE_METRIC = "IP"
REGISTRY_DIM = 2  # Milvus wants a vector field in every collection; the registry's is a placeholder


def chunk_schema(
    client: Any, dim: int, analyzer: str | None, metric: str = DENSE_METRIC, vector_index: VectorIndex = FLAT
) -> tuple[Any, Any]:
    """Schema and index params of one (library, model) collection; `analyzer` None means no BM25 field."""
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    if analyzer:
        schema.add_field(
            "text",
            DataType.VARCHAR,
            max_length=TEXT_MAX_BYTES,
            enable_analyzer=True,
            analyzer_params=analyzer_params(analyzer),
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]
            )
        )
    else:
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX_BYTES)
    schema.add_field("document", DataType.VARCHAR, max_length=4_096)
    # Filters match documents by this hex digest of the name, never by the name itself: no engine's
    # string literals round-trip every name (Lite 2.5.1 reads no escapes, so a newline cannot be matched).
    schema.add_field("doc_key", DataType.VARCHAR, max_length=DOC_KEY_LEN)
    schema.add_field("doc_hash", DataType.VARCHAR, max_length=64)
    schema.add_field("title", DataType.VARCHAR, max_length=2_048)
    schema.add_field("doc_type", DataType.VARCHAR, max_length=16)
    for name in INT_FIELDS:
        schema.add_field(name, DataType.INT64)
    index = client.prepare_index_params()
    index.add_index("vector", metric_type=metric, **index_params(vector_index))
    if analyzer:
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    return schema, index


def own_schema(client: Any, texts: dict[str, int] | None = None, numbers: tuple[str, ...] = ()) -> tuple[Any, Any]:
    """Schema and index params of one of the store's own small collections: a primary `key`, the VARCHAR fields of
    `texts` (name: max length) and the INT64 fields of `numbers`, then the row as JSON in `meta` and the placeholder
    vector Milvus wants in every collection."""
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
    for name, length in (texts or {}).items():
        schema.add_field(name, DataType.VARCHAR, max_length=length)
    for name in numbers:
        schema.add_field(name, DataType.INT64)
    schema.add_field("meta", DataType.VARCHAR, max_length=TEXT_MAX_BYTES)
    schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=REGISTRY_DIM)
    index = client.prepare_index_params()
    index.add_index("placeholder", index_type="FLAT", metric_type="L2")
    return schema, index


def judgments_schema(client: Any) -> tuple[Any, Any]:
    """One row per (library, query, document) judgment; the rest of a judgment is JSON in `meta`."""
    # Filtered by this hex digest of the library name, never by the name (see chunk_schema's doc_key).
    return own_schema(client, {"library_key": DOC_KEY_LEN})


def audit_schema(client: Any) -> tuple[Any, Any]:
    """One row per audit entry; the entry is JSON in `meta`, read whole (the log is small and listed newest first)."""
    return own_schema(client)


def runs_schema(client: Any) -> tuple[Any, Any]:
    """Saved evaluation runs: per run, a summary row (part -1) and its payload in numbered parts (0, 1, ...), each
    a slice of the compressed run small enough for one VARCHAR (core.storage.runs)."""
    return own_schema(client, {"run": 64}, ("part",))


def query_sets_schema(client: Any) -> tuple[Any, Any]:
    """One row per query of a set, and one header row per set (position -1) holding its name, source and author;
    each row's JSON stays far below the VARCHAR limit however many queries the set holds."""
    # Filtered by hex digests of the library and of (library, set name), never by the names (see chunk_schema).
    return own_schema(client, {"library_key": DOC_KEY_LEN, "set_key": DOC_KEY_LEN}, ("position",))


def registry_schema(client: Any) -> tuple[Any, Any]:
    """One row per library (model "") and per library x model; `meta` is the provenance as JSON."""
    return own_schema(client, {"library": 1_024, "model": 2_048}, ("schema_version",))


def create_indexed(client: Any, name: str, schema: Any, index: Any) -> None:
    """Create a collection with its indexes, loaded, as `create_collection(index_params=...)` does, without its
    wait: pymilvus sleeps 0.5 s per index before it first asks whether the build is done, and the index of a
    collection with no rows is done at once (measured: a first ingest into a new database spent 2.0 of its 4.5 s in
    those sleeps). Loading still waits until the engine has the collection ready."""
    client.create_collection(name, schema=schema)
    client.create_index(name, index, sync=False)
    client.load_collection(name)


def own_collection(
    client: Any, name: str, schema: Callable[[Any], tuple[Any, Any]], create: bool = True, load: bool = True
) -> bool:
    """Whether one of the store's own small collections (registry, judgments, audit log) is there, made now from
    `schema` if it is missing and `create`, and loaded if `load`: the one place that makes them, so each is made
    the same way. (Those made on a first write, OwnCollection, load through the store's state, which remembers what
    a restart unloaded.)"""
    if not client.has_collection(name):
        if not create:
            return False
        made, index = schema(client)
        create_indexed(client, name, made, index)
    if load:
        client.load_collection(name)
    return True


class OwnCollection:
    """One of the store's own small collections made on its first write (audit log, saved runs, query sets): a
    database nobody wrote to has none to read. Asked of the engine until seen or made, then no more."""

    def __init__(self, state: StoreState, name: str, schema: Callable[[Any], tuple[Any, Any]]) -> None:
        self.state, self.name, self.schema = state, name, schema
        self._made = False  # seen or made once: asked of the engine no more
        self._lock = threading.Lock()

    def exists(self, create: bool) -> bool:
        """Whether the collection is there (made now if `create`), loaded for reading and writing."""
        if not self._made:
            with self._lock:
                if not own_collection(self.state.client, self.name, self.schema, create, load=False):
                    return False
                self._made = True
        self.state.ensure_loaded(self.name)  # the store's own record of what is loaded, which a restart resets
        return True
