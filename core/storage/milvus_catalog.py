"""The Milvus catalog: libraries, the provenance of each index, settings and leases, all on registry rows."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from core.errors import LibraryNotFoundError
from core.storage.analyzers import PLAIN_ANALYZER, language_of_code
from core.storage.base import Catalog, check_compatible
from core.storage.leases import LeaseBook
from core.storage.records import collection_name
from core.storage.registry import LeaseRow
from core.storage.schema import DENSE_METRIC, chunk_schema, create_indexed
from core.storage.state import StoreState, engine_call
from core.storage.vector_index import VectorIndex
from core.types import SCHEMA_VERSION, CollectionMeta

# Two processes making one index on a server at once: an unregistered collection is waited for this long
# (a create takes seconds on Milvus 2.3), looking every CREATE_RETRY_SECONDS; a create whose collection was
# dropped under it is retried up to CREATE_ATTEMPTS times.
REGISTRATION_WAIT_SECONDS, CREATE_RETRY_SECONDS, CREATE_ATTEMPTS = 20.0, 0.5, 4


class _MadeElsewhere(Exception):
    """An unregistered collection of the wanted name exists on a server: another process may be making it."""


class MilvusLeases(LeaseBook):
    def __init__(self, state: StoreState) -> None:
        self.state = state

    @engine_call("record who is changing the library")
    def write(self, row: LeaseRow) -> None:
        self.state.registry.put_lease(row)

    @engine_call("read who is changing the library", read=True)
    def rows(self, library: str) -> list[LeaseRow]:
        return self.state.registry.leases(library)

    @engine_call("release the library")
    def remove(self, library: str, holder: str) -> None:
        self.state.registry.remove_lease(library, holder)


class MilvusCatalog(Catalog):
    def __init__(self, state: StoreState, judgments: Any) -> None:
        self.state, self.client, self.judgments = state, state.client, judgments
        self.leases = MilvusLeases(state)
        # Creates and drops of collections, one at a time in this process; searches never wait for it.
        self._changing = threading.Lock()
        self._analyzer: str | None = None  # the first of the profile's analyzers the engine took

    # --- libraries -----------------------------------------------------------------------------

    def names(self) -> list[str]:
        self.state.revalidate()
        with self.state.lock:
            return sorted(self.state.view.libraries)

    @engine_call("create the library")
    def create(self, library: str) -> None:
        self.state.revalidate()
        if library not in self.state.view.libraries:
            self.state.registry.put_library(library)
            self.state.edit_view(lambda view: view.libraries.add(library))
            self.state.bump()

    @engine_call("drop the library")
    def drop(self, library: str) -> int:
        self.state.revalidate(now=True)
        with self._changing:
            metas = [m for m in self.state.metas().values() if m.library == library]
            if not metas and library not in self.state.view.libraries:
                raise LibraryNotFoundError(f"There is no library named '{library}'.")
            for meta in metas:
                self._drop(meta)
            self.judgments.drop(library)
            # Every row of the library (its own, settings, this holder's lease), read afresh: another process
            # may have added a setting this one never cached.
            self.state.registry.remove_keys(self.state.registry.keys_of(library))

            def forget(view) -> None:
                view.libraries.discard(library)
                view.settings.pop(library, None)

            self.state.edit_view(forget)
        self.state.bump()
        return len(metas)

    def _drop(self, meta: CollectionMeta) -> None:
        # Unregistered first: a crash before the drop leaves an orphan collection, which is ignored.
        self.state.registry.remove(meta.library, meta.model_name)
        self.state.edit_view(lambda view: view.metas.pop((meta.library, meta.model_name), None))
        self.state.changed(meta.collection)
        if self.client.has_collection(meta.collection):
            self.client.drop_collection(meta.collection)
        self.state.loaded.discard(meta.collection)

    # --- provenance ----------------------------------------------------------------------------

    def collections(self) -> list[CollectionMeta]:
        metas = self.state.metas()
        return [metas[key] for key in sorted(metas)]

    def find(self, library: str, model_name: str) -> CollectionMeta | None:
        return self.state.find(library, model_name)

    @engine_call("create the index")
    def ensure(self, meta: CollectionMeta) -> CollectionMeta:
        from pymilvus.exceptions import MilvusException

        # On a server, an index this store does not know may be another process's, made a moment ago and not
        # registered yet: it is waited for, never dropped, until REGISTRATION_WAIT_SECONDS have passed; only then
        # is it the debris of an interrupted create or drop.
        shared = self.state.profile.shared
        patience, failures = time.monotonic() + REGISTRATION_WAIT_SECONDS, 0
        while True:
            try:
                with self._changing:
                    return self._ensure(meta, not shared or time.monotonic() > patience)
            except _MadeElsewhere:
                pass
            except MilvusException:
                failures += 1
                name = collection_name(meta.library, meta.model_name)
                # Only a create whose collection vanished under it (another process dropped it) is retried.
                if not shared or failures >= CREATE_ATTEMPTS or self.client.has_collection(name):
                    raise
            time.sleep(CREATE_RETRY_SECONDS)
            self.state.revalidate(now=True, force=True)

    def _ensure(self, meta: CollectionMeta, drop_unknown: bool) -> CollectionMeta:
        existing = self.find(meta.library, meta.model_name)
        if existing is not None:
            check_compatible(existing, meta)
            if self.client.has_collection(existing.collection):
                return existing
            # Registered, but the collection is gone (dropped behind our back): make it again, empty,
            # in today's schema, whatever schema the registry row recorded.
            fresh = replace(existing, schema_version=SCHEMA_VERSION, analyzer="", metric=DENSE_METRIC)
            return self.register(self.create_collection(fresh))
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
            if self.state.profile.shared:
                self.state.revalidate(now=True, force=True)
                if (registered := self.find(meta.library, meta.model_name)) is not None:
                    check_compatible(registered, meta)
                    return registered
            if not drop_unknown:
                raise _MadeElsewhere
            self.client.drop_collection(stamped.collection)  # an interrupted create or drop
        # Registered after the collection exists, so a crash in between leaves an orphan that the
        # lines above replace, never a registry row pointing at nothing.
        return self.register(self.create_collection(stamped))

    def register(self, meta: CollectionMeta) -> CollectionMeta:
        if meta.library not in self.state.view.libraries:
            self.state.registry.put_library(meta.library)
        self.state.registry.put(meta)

        def add(view) -> None:
            view.libraries.add(meta.library)
            view.metas[(meta.library, meta.model_name)] = meta

        self.state.edit_view(add)
        self.state.bump()
        return meta

    def create_collection(self, meta: CollectionMeta) -> CollectionMeta:
        """Create the collection with the analyzer of its language, or the best this engine takes; returns meta
        with that analyzer.

        The profile names the analyzers this engine has, best first. A served database does not say which Lite
        line runs it, so where the first is refused the next is tried; the one taken is kept for later creates of
        indexes with no language. An engine refusing a language's analyzer (Lite 3.x has no stemmers) gets the plain
        one, and the provenance says so."""
        from pymilvus.exceptions import MilvusException

        candidates = self._analyzers_for(meta)
        for i, analyzer in enumerate(candidates):
            choice = VectorIndex.of(meta.vector_index)
            schema, index = chunk_schema(self.client, meta.dim, analyzer, meta.metric, choice)
            try:
                create_indexed(self.client, meta.collection, schema, index)
            except MilvusException:
                if i == len(candidates) - 1:
                    raise
                if self.client.has_collection(meta.collection):
                    self.client.drop_collection(meta.collection)
                continue
            if not meta.language:
                self._analyzer = analyzer or self._analyzer
            self.state.loaded.add(meta.collection)
            return replace(meta, analyzer=analyzer or "")
        raise AssertionError("unreachable: the last candidate raises or returns")

    def _analyzers_for(self, meta: CollectionMeta) -> list[str | None]:
        """The analyzers to try, in order: the recorded one, else the language's then the plain one, else the
        profile's best first (the one this engine took before, once known)."""
        analyzers = self.state.profile.analyzers
        if not analyzers:
            return [None]
        if meta.analyzer:
            return [meta.analyzer]
        language = language_of_code(meta.language)
        if language is not None:
            return list(dict.fromkeys([language.analyzer, PLAIN_ANALYZER]))
        return [self._analyzer] if self._analyzer else list(analyzers)

    # --- settings ------------------------------------------------------------------------------

    def settings(self, library: str) -> dict:
        self.state.revalidate()
        with self.state.lock:
            return dict(self.state.view.settings.get(library, {}))

    @engine_call("save the library's settings")
    def set_setting(self, library: str, key: str, value: Any) -> None:
        self.state.revalidate()
        if library not in self.state.view.libraries:
            self.state.registry.put_library(library)
        self.state.registry.put_setting(library, key, value)

        def put(view) -> None:
            view.libraries.add(library)
            view.settings.setdefault(library, {})[key] = value

        self.state.edit_view(put)
        self.state.bump()
