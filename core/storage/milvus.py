"""The Milvus store: one collection per (library, model) on Milvus Lite or a Milvus server, provenance in a registry.

It opens the engine, works out what the engine can do (core.storage.profile) and hands one shared state to its
parts: the catalog (core.storage.milvus_catalog), the indexes (core.storage.milvus_index), the judgments
(core.storage.judgments), the audit log (core.storage.audit) and the saved runs (core.storage.runs). Thread-safe:
Streamlit sessions share one instance."""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.config import Settings, settings_or_environment
from core.storage import legacy
from core.storage.audit import MilvusAudit
from core.storage.base import Store
from core.storage.connection import connect
from core.storage.judgments import MilvusJudgments
from core.storage.loading import LoadProgress, LoadRecord, LoadTracker, records_in, setting_key
from core.storage.milvus_catalog import MilvusCatalog
from core.storage.milvus_index import MilvusIndex
from core.storage.profile import EngineProfile, profile_for
from core.storage.query_sets import MilvusQuerySets
from core.storage.records import collection_name
from core.storage.registry import Registry
from core.storage.runs import MilvusRuns
from core.storage.state import StoreState, engine_call

__all__ = ["MilvusStore", "collection_name"]

# How long warm_up waits for its first load to be listed: one row count, milliseconds unless the engine is busy.
WARM_UP_LISTED_SECONDS = 10.0


class MilvusStore(Store):
    """The only place that opens Milvus."""

    def __init__(self, settings: Settings | None = None, keep_engine: bool = False) -> None:
        self.client = connect(settings_or_environment(settings), keep_engine)
        self.settings = self.client.settings  # a kept engine's address in place of the Lite path
        self.uri = self.settings.milvus_uri
        self._open(profile_for(self.settings, self.client))

    @engine_call("open the provenance registry", read=True)
    def _open(self, profile: EngineProfile) -> None:
        self.state = StoreState(self.settings, self.client, profile, Registry(self.client))
        self.judgments = MilvusJudgments(self.state)
        self.catalog = MilvusCatalog(self.state, self.judgments)
        self.audit = MilvusAudit(self.state)
        self.runs = MilvusRuns(self.state)
        self.query_sets = MilvusQuerySets(self.state)
        self.state.loads = LoadTracker(self.state.owner, self._load_records, self._record_load)
        self.state.generation = self.registry.generation() if profile.shared else ""
        self.state.reload()
        for meta in legacy.adopt_schema_1(self.client, self.registry, self.state.view, profile):
            self.state.edit_view(lambda view, meta=meta: view.metas.__setitem__((meta.library, meta.model_name), meta))
            self.state.edit_view(lambda view, meta=meta: view.libraries.add(meta.library))

    @property
    def profile(self) -> EngineProfile:
        return self.state.profile

    @profile.setter
    def profile(self, profile: EngineProfile) -> None:
        self.state.profile = profile

    @property
    def registry(self) -> Registry:
        return self.state.registry

    @property
    def revalidate_every(self) -> float:
        return self.state.revalidate_every

    @revalidate_every.setter
    def revalidate_every(self, seconds: float) -> None:
        self.state.revalidate_every = seconds

    def index(self, library: str, model_name: str) -> MilvusIndex:
        return MilvusIndex(self.state, self.catalog, library, model_name)

    def warm_up(self) -> threading.Thread:
        """Load every collection in the background: Lite 2.5.1 takes ~17 s per 100k chunks to load one
        after a restart, which the first search would otherwise wait for. Returns once the first load is
        listed in `loading()` (or there is none), so a page rendered next shows it rather than hanging in it."""
        listed = threading.Event()

        def load_all() -> None:
            try:
                for meta in self.catalog.collections():
                    try:
                        self.state.ensure_loaded(meta.collection, listed)
                    except Exception:  # the search that needs this collection reports the error
                        return
            finally:
                listed.set()

        thread = threading.Thread(target=load_all, name="milvus-warm-up", daemon=True)
        thread.start()
        listed.wait(WARM_UP_LISTED_SECONDS)
        return thread

    def watch_loads(self, watch: Callable[[LoadProgress, bool], None]) -> None:
        self.state.loads.watchers.append(watch)

    def loading(self) -> list[LoadProgress]:
        return self.state.loads.loading()

    @property
    def load_blocks_engine(self) -> bool:
        # Lite 2.5.1's engine (milvus_local.cpp) takes one mutex in LoadCollection, Search, Query, Insert and the
        # stats calls: measured here, a search of a loaded collection waits for another's load to end. A server
        # loads beside its searches; a served Lite is one engine too, but its loads are not seen from here, unless it
        # is the engine this app keeps (core.storage.keeper: Lite 2.5 only), whose loads the app's warm-up starts.
        if self.client.kept is not None:
            return True
        return not self.profile.shared and self.profile.version.startswith("2.")

    def _load_records(self) -> dict[tuple[str, str], LoadRecord]:
        return records_in(self.catalog.settings, self.catalog.names())

    def _record_load(self, library: str, model: str, record: LoadRecord) -> None:
        if not self.settings.read_only:  # a read-only demo writes nothing; it learns for this process only
            self.catalog.set_setting(library, setting_key(model), record.as_setting())

    def revive(self) -> bool:
        return self.client.revive()

    @property
    def engine_restarts(self) -> int:
        return self.client.restarts

    def close(self) -> None:
        self.client.close()
