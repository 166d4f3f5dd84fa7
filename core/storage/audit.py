"""The audit log's storage face, `store.audit`: entries added and listed newest first, kept in the database itself
so every process sharing it (the app, CLI runs through `serve`, a Milvus server) writes to one log.

MemoryAudit is the in-memory store's; MilvusAudit keeps one row per entry in a small collection of the store's own,
made on the first entry (a database nobody changed has no log to read)."""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from dataclasses import asdict

from core.storage.consistency import EXACT, settle
from core.storage.schema import REGISTRY_DIM, OwnCollection, audit_schema
from core.storage.state import StoreState, engine_call
from core.types import AuditEntry

AUDIT = "potion__audit"
PAGE = 1_000  # rows per read of the log


def newest_first(entries: list[AuditEntry], limit: int | None) -> list[AuditEntry]:
    ordered = sorted(entries, key=lambda e: (e.at, e.id), reverse=True)
    return ordered if limit is None else ordered[: max(0, limit)]


class Audit(ABC):
    @abstractmethod
    def add(self, entry: AuditEntry) -> None:
        """Keep the entry (its `id` is unique: the service gives each one)."""

    @abstractmethod
    def list(self, limit: int | None = None) -> list[AuditEntry]:
        """The newest `limit` entries (every one with None), newest first."""


class MemoryAudit(Audit):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[AuditEntry] = []

    def add(self, entry: AuditEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def list(self, limit: int | None = None) -> list[AuditEntry]:
        with self._lock:
            return newest_first(list(self._entries), limit)


class MilvusAudit(Audit):
    """Entries as JSON rows; read whole and sorted here, since no engine query sorts (the log stays small)."""

    def __init__(self, state: StoreState) -> None:
        self.state = state
        self.collection = OwnCollection(state, AUDIT, audit_schema)

    @engine_call("record the change in the audit log")
    def add(self, entry: AuditEntry) -> None:
        self.collection.exists(create=True)
        row = {
            "key": entry.id,
            "meta": json.dumps(asdict(entry), ensure_ascii=False),
            "placeholder": [0.0] * REGISTRY_DIM,
        }
        self.state.client.upsert(AUDIT, [row])

    @engine_call("read the audit log", read=True)
    def list(self, limit: int | None = None) -> list[AuditEntry]:
        if not self.collection.exists(create=False):
            return []
        client = self.state.client
        settle(client, AUDIT)
        found = []
        it = client.query_iterator(AUDIT, batch_size=PAGE, filter="", output_fields=["meta"], consistency_level=EXACT)
        try:
            while batch := it.next():
                found.extend(AuditEntry(**json.loads(r["meta"])) for r in batch)
        finally:
            it.close()
        return newest_first(found, limit)
