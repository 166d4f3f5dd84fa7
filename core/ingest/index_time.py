"""How long indexing took, per library and model, recorded in the database beside the library.

The cost panel shows index time as measured when the user indexed, not re-measured: indexing again to
time it would write the whole library a second time. Every ingest that writes chunks adds its seconds
and chunk count, so the rate stays true across incremental uploads. The record belongs to one index:
when the model's index is dropped and made again, its creation time changes and counting starts over.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.storage import Store

SETTING = "index_time"  # before settings were kept per key: {model name: record} under this one key


def setting_key(model: str) -> str:
    """The library setting holding one model's record: a key per model, so two ingests of two models into one
    library, in two processes, never undo each other's record."""
    return f"{SETTING}:{model}"


@dataclass(frozen=True)
class IndexTime:
    seconds: float  # chunking, embedding, writing and flushing, summed over the ingests that wrote chunks
    chunks: int  # chunks those ingests wrote
    created_at: str  # the index the record belongs to

    @property
    def rate(self) -> float:
        """Chunks indexed per second."""
        return self.chunks / self.seconds if self.seconds > 0 else 0.0


def record_index_time(store: Store, library: str, model: str, seconds: float, chunks: int) -> IndexTime:
    """Add one ingest's writing time to the index's record."""
    meta = store.catalog.require(library, model)
    kept = index_time(store, library, model)
    total = IndexTime((kept.seconds if kept else 0.0) + seconds, (kept.chunks if kept else 0) + chunks, meta.created_at)
    record = {"seconds": total.seconds, "chunks": total.chunks, "created_at": total.created_at}
    store.catalog.set_setting(library, setting_key(model), record)
    return total


def index_time(store: Store, library: str, model: str) -> IndexTime | None:
    """The recorded indexing time of the model's current index, or None if none was recorded for it."""
    meta = store.catalog.find(library, model)
    settings = store.catalog.settings(library)
    record = settings.get(setting_key(model)) or (settings.get(SETTING) or {}).get(model)
    if meta is None or not isinstance(record, dict) or record.get("created_at") != meta.created_at:
        return None
    try:
        return IndexTime(float(record["seconds"]), int(record["chunks"]), str(record["created_at"]))
    except (KeyError, TypeError, ValueError):  # written by another version: not recorded rather than a crash
        return None
