"""Rebuilding an index into the current schema (BM25 field, document keys, unit vectors) from its stored rows.

The copy runs with no lock held: searches of the old index go on until the new one is published, in one step,
under the cache lock. Writers of the library are kept out by its lease (core.service.libraries.rebuild_index)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from core.storage import legacy
from core.storage.milvus_index import WRITE_BATCH, scan
from core.storage.records import COPIED_FIELDS, collection_name, unit_vectors
from core.storage.schema import DENSE_METRIC
from core.storage.state import engine_call
from core.types import SCHEMA_VERSION, CollectionMeta, document_key

if TYPE_CHECKING:
    from core.storage.milvus_index import MilvusIndex


class _Rebuild:
    def __init__(self, index: MilvusIndex) -> None:
        self.index, self.state, self.client = index, index.state, index.client

    @engine_call("rebuild the index")
    def run(self, progress: Callable[[str, int, int], None] | None, language: str | None = None) -> CollectionMeta:
        """Copy the index into the current schema, vectors and all; no re-embedding. With `language`, the text is
        analysed for that language (an engine cannot change the analyzer of an existing collection), even where the
        schema is current."""
        old = self.index.meta
        report = progress or (lambda stage, done, total: None)
        if language is None and legacy.is_current(old, self.state.profile):
            return old
        library, model_name = old.library, old.model_name
        fresh = replace(
            old,
            analyzer="",  # chosen anew by create_collection, for the language
            language=old.language if language is None else language,
            collection=collection_name(library, model_name),
            created_at=datetime.now(UTC).isoformat(),
            schema_version=SCHEMA_VERSION,
            metric=DENSE_METRIC,
        )
        if fresh.collection == old.collection:
            fresh = replace(fresh, collection=fresh.collection + "_r")
        if self.client.has_collection(fresh.collection):
            self.client.drop_collection(fresh.collection)  # the debris of an interrupted rebuild
        fresh = self.index.catalog.create_collection(fresh)
        total, done = self.index.count(), 0
        report("rebuild", 0, total)
        batch: list[dict] = []
        for row in scan(self.state, old, "chunk >= 0", COPIED_FIELDS):
            batch.append({**row, "doc_key": document_key(row["document"])})
            if len(batch) >= WRITE_BATCH:
                self.client.insert(fresh.collection, unit_vectors(batch))  # a new collection: nothing to replace
                done += len(batch)
                report("rebuild", done, total)
                batch = []
        if batch:
            self.client.insert(fresh.collection, unit_vectors(batch))
        report("rebuild", total, total)
        self.client.flush(fresh.collection)
        # Published in one step: a search asks for the provenance on every call, so it moves to the new index.
        self.state.registry.put(fresh)
        self.state.edit_view(lambda view: view.metas.__setitem__((library, model_name), fresh))
        self.state.changed(old.collection)
        self.state.bump()
        self.client.drop_collection(old.collection)
        self.state.loaded.discard(old.collection)
        return fresh


def rebuild(
    index: MilvusIndex, progress: Callable[[str, int, int], None] | None = None, language: str | None = None
) -> CollectionMeta:
    return _Rebuild(index).run(progress, language)
