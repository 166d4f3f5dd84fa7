"""Storage: chunk rows and provenance in, hits and listings out.

`open_store()` gives a Store: `store.catalog` (libraries, provenance, settings, leases), `store.index(library,
model)` (rows and search of one index), `store.judgments`, `store.audit` and `store.runs`; Milvus
(core.storage.milvus) and an exact in-memory reference (core.storage.memory) implement it."""

from __future__ import annotations

from core.config import Settings
from core.storage.base import Catalog, Judgments, Store
from core.storage.index import Index


def open_store(settings: Settings | None = None, keep_engine: bool = False) -> Store:
    """The Milvus store for the configured URI (Milvus Lite by default); the engine is imported only here.

    `keep_engine` (the app): a Lite database is reached through an engine kept running in the background, started
    now if none runs, so a restarted app finds its libraries loaded (core.storage.keeper)."""
    from core.storage.milvus import MilvusStore

    return MilvusStore(settings, keep_engine)


__all__ = ["Catalog", "Index", "Judgments", "Store", "open_store"]
