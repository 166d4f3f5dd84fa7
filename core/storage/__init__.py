"""Storage: the Store interface, the Milvus store and the exact in-memory reference."""

from __future__ import annotations

from core.config import Settings
from core.storage.base import Store


def open_store(settings: Settings | None = None) -> Store:
    """The Milvus store for the configured URI (Milvus Lite by default); the engine is imported only here."""
    from core.storage.milvus import MilvusStore

    return MilvusStore(settings)


__all__ = ["Store", "open_store"]
