"""The Milvus store: one collection per (library, model) on Milvus Lite or a Milvus server, provenance in a registry.

It opens the engine, works out what the engine can do (core.storage.profile) and hands one shared state to its
three parts: the catalog (core.storage.milvus_catalog), the indexes (core.storage.milvus_index) and the judgments
(core.storage.judgments). Thread-safe: Streamlit sessions share one instance."""

from __future__ import annotations

import threading

from core.config import Settings, settings_or_environment
from core.storage import legacy
from core.storage.audit import MilvusAudit
from core.storage.base import Store
from core.storage.connection import connect
from core.storage.judgments import MilvusJudgments
from core.storage.milvus_catalog import MilvusCatalog
from core.storage.milvus_index import MilvusIndex
from core.storage.profile import EngineProfile, profile_for
from core.storage.records import collection_name
from core.storage.registry import Registry
from core.storage.state import StoreState, engine_call

__all__ = ["MilvusStore", "collection_name"]


class MilvusStore(Store):
    """The only place that opens Milvus."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings_or_environment(settings)
        self.uri = self.settings.milvus_uri
        self.client = connect(self.settings)
        self._open(profile_for(self.settings, self.client))

    @engine_call("open the provenance registry", read=True)
    def _open(self, profile: EngineProfile) -> None:
        self.state = StoreState(self.settings, self.client, profile, Registry(self.client))
        self.judgments = MilvusJudgments(self.state)
        self.catalog = MilvusCatalog(self.state, self.judgments)
        self.audit = MilvusAudit(self.state)
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
        after a restart, which the first search would otherwise wait for."""

        def load_all() -> None:
            for meta in self.catalog.collections():
                try:
                    self.state.ensure_loaded(meta.collection)
                except Exception:  # the search that needs this collection reports the error
                    return

        thread = threading.Thread(target=load_all, name="milvus-warm-up", daemon=True)
        thread.start()
        return thread

    def revive(self) -> bool:
        return self.client.revive()

    @property
    def engine_restarts(self) -> int:
        return self.client.restarts

    def close(self) -> None:
        self.client.close()
