"""Query sets' storage face, `store.query_sets`: named lists of queries kept per library in the database, so every
process sharing it (the app, the CLI) sees the same sets.

MemoryQuerySets is the in-memory store's; MilvusQuerySets keeps one row per query and one header row per set in a
small collection of the store's own, made on the first set (a database with no set has nothing to read). A set's
queries are rows of their own because one VARCHAR or JSON value stops at 64 KB and a set may hold hundreds."""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from dataclasses import asdict, replace
from typing import Any

from core.storage.consistency import EXACT, settle
from core.storage.filters import quote
from core.storage.schema import REGISTRY_DIM, OwnCollection, query_sets_schema
from core.storage.state import StoreState, engine_call
from core.types import QuerySet, SetQuery, document_key

QUERY_SETS = "potion__query_sets"
HEADER = -1  # the position of a set's header row; its queries are at 0, 1, 2, …
PAGE = 1_000  # rows per read and per write


def set_key(library: str, name: str) -> str:
    return document_key(f"{library}\x00{name}")


def by_name(sets: list[QuerySet]) -> list[QuerySet]:
    return sorted(sets, key=lambda s: s.name)


class QuerySets(ABC):
    @abstractmethod
    def put(self, query_set: QuerySet) -> None:
        """Keep the set, replacing any set of the same library and name."""

    @abstractmethod
    def list(self, library: str) -> list[QuerySet]:
        """Every set of the library, queries included, by name."""

    @abstractmethod
    def get(self, library: str, name: str) -> QuerySet | None: ...

    @abstractmethod
    def delete(self, library: str, name: str) -> bool:
        """Remove the set; False when there was none of that name."""

    @abstractmethod
    def drop(self, library: str) -> None:
        """Remove every set of the library (the library itself is being dropped)."""


class MemoryQuerySets(QuerySets):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sets: dict[tuple[str, str], QuerySet] = {}

    def put(self, query_set: QuerySet) -> None:
        with self._lock:
            self._sets[(query_set.library, query_set.name)] = query_set

    def list(self, library: str) -> list[QuerySet]:
        with self._lock:
            return by_name([s for (lib, _), s in self._sets.items() if lib == library])

    def get(self, library: str, name: str) -> QuerySet | None:
        with self._lock:
            return self._sets.get((library, name))

    def delete(self, library: str, name: str) -> bool:
        with self._lock:
            return self._sets.pop((library, name), None) is not None

    def drop(self, library: str) -> None:
        with self._lock:
            self._sets = {k: s for k, s in self._sets.items() if k[0] != library}


def _rows(query_set: QuerySet) -> list[dict[str, Any]]:
    """The set's query rows, then its header: written in that order, an interrupted write leaves no header, and a
    set without its header is not listed (the next put of that name clears its rows)."""
    library_key, key = document_key(query_set.library), set_key(query_set.library, query_set.name)
    header = asdict(replace(query_set, queries=())) | {"count": len(query_set.queries)}
    metas = [(i, asdict(q)) for i, q in enumerate(query_set.queries)] + [(HEADER, header)]
    return [
        {
            "key": document_key(f"{key}\x00{position}"),
            "library_key": library_key,
            "set_key": key,
            "position": position,
            "meta": json.dumps(meta, ensure_ascii=False),
            "placeholder": [0.0] * REGISTRY_DIM,
        }
        for position, meta in metas
    ]


def _assemble(rows: list[dict[str, Any]]) -> list[QuerySet]:
    """Sets from their rows, queries in position order; rows whose header is missing (a write cut short) are left."""
    headers: dict[str, dict] = {}
    queries: dict[str, list[tuple[int, SetQuery]]] = {}
    for row in rows:
        meta = json.loads(row["meta"])
        if row["position"] == HEADER:
            headers[row["set_key"]] = meta
        else:
            queries.setdefault(row["set_key"], []).append((row["position"], SetQuery(**meta)))
    found = []
    for key, header in headers.items():
        kept = tuple(q for _, q in sorted(queries.get(key, [])))
        if len(kept) != header.pop("count"):  # a later put cut short: not a set to run
            continue
        found.append(QuerySet(**{**header, "queries": kept}))
    return by_name(found)


class MilvusQuerySets(QuerySets):
    """Read afresh on each call (sets are read when a page or command opens them, rarely), so another process's
    change is seen at once."""

    def __init__(self, state: StoreState) -> None:
        self.state = state
        self.collection = OwnCollection(state, QUERY_SETS, query_sets_schema)

    def _read(self, condition: str) -> list[dict[str, Any]]:
        client = self.state.client
        settle(client, QUERY_SETS)
        found: list[dict[str, Any]] = []
        fields = ["set_key", "position", "meta"]
        it = client.query_iterator(
            QUERY_SETS, batch_size=PAGE, filter=condition, output_fields=fields, consistency_level=EXACT
        )
        try:
            while batch := it.next():
                found.extend(batch)
        finally:
            it.close()
        return found

    @engine_call("save the query set")
    def put(self, query_set: QuerySet) -> None:
        self.collection.exists(create=True)
        key = set_key(query_set.library, query_set.name)
        self.state.client.delete(QUERY_SETS, filter=f"set_key == {quote(key)}")  # a longer set it replaces
        rows = _rows(query_set)
        for start in range(0, len(rows), PAGE):
            self.state.client.upsert(QUERY_SETS, rows[start : start + PAGE])
        self.state.bump()

    @engine_call("read query sets", read=True)
    def list(self, library: str) -> list[QuerySet]:
        if not self.collection.exists(create=False):
            return []
        return _assemble(self._read(f"library_key == {quote(document_key(library))}"))

    @engine_call("read the query set", read=True)
    def get(self, library: str, name: str) -> QuerySet | None:
        if not self.collection.exists(create=False):
            return None
        found = _assemble(self._read(f"set_key == {quote(set_key(library, name))}"))
        return found[0] if found else None

    @engine_call("delete the query set")
    def delete(self, library: str, name: str) -> bool:
        if not self.collection.exists(create=False):
            return False
        key = set_key(library, name)
        there = bool(self._read(f"set_key == {quote(key)} and position == {HEADER}"))
        # The header first: a delete cut short leaves rows no listing shows, which the next put of the name clears.
        self.state.client.delete(QUERY_SETS, filter=f"set_key == {quote(key)} and position == {HEADER}")
        self.state.client.delete(QUERY_SETS, filter=f"set_key == {quote(key)}")
        self.state.bump()
        return there

    @engine_call("delete the library's query sets")
    def drop(self, library: str) -> None:
        if self.collection.exists(create=False):
            self.state.client.delete(QUERY_SETS, filter=f"library_key == {quote(document_key(library))}")
            self.state.bump()
