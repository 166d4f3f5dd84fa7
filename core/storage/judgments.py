"""Judgments in the database: a small collection of the store's own, so they outlive the browser session."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from core.storage.base import Judgments
from core.storage.consistency import EXACT, settle
from core.storage.filters import quote
from core.storage.schema import REGISTRY_DIM, judgments_schema, own_collection
from core.storage.state import StoreState, engine_call
from core.types import Judgment, document_key

JUDGMENTS = "potion__judgments"


class JudgmentTable:
    """Reads and writes judgment rows through a MilvusClient."""

    def __init__(self, client: Any) -> None:
        self.client = client
        own_collection(client, JUDGMENTS, judgments_schema)

    def rows(self, library: str) -> list[Judgment]:
        found = []
        settle(self.client, JUDGMENTS)
        it = self.client.query_iterator(
            JUDGMENTS,
            batch_size=1_000,
            filter=f"library_key == {quote(document_key(library))}",
            output_fields=["meta"],
            consistency_level=EXACT,
        )
        try:
            while batch := it.next():
                found.extend(Judgment(**json.loads(r["meta"])) for r in batch)
        finally:
            it.close()
        return sorted(found, key=lambda j: (j.query, j.document))

    def put(self, judgment: Judgment) -> None:
        row = {
            "key": judgment.key,
            "library_key": document_key(judgment.library),
            "meta": json.dumps(asdict(judgment), ensure_ascii=False),
            "placeholder": [0.0] * REGISTRY_DIM,
        }
        self.client.upsert(JUDGMENTS, [row])

    def remove(self, judgment: Judgment) -> None:
        self.client.delete(JUDGMENTS, filter=f"key == {quote(judgment.key)}")

    def remove_library(self, library: str) -> None:
        self.client.delete(JUDGMENTS, filter=f"library_key == {quote(document_key(library))}")


class MilvusJudgments(Judgments):
    """Judgments of a Milvus store, cached per library until this store or another process changes them."""

    def __init__(self, state: StoreState) -> None:
        self.state = state
        self.table = JudgmentTable(state.client)

    @engine_call("save the judgment")
    def put(self, judgment: Judgment) -> None:
        self.table.put(judgment)
        self.state.judged_changed(judgment.library)
        self.state.bump()

    @engine_call("read judgments", read=True)
    def list(self, library: str) -> list[Judgment]:
        self.state.revalidate()
        with self.state.lock:
            cached, token = self.state.judged.get(library), self.state.token(f"judgments:{library}")
        if cached is None:
            cached = self.table.rows(library)  # no lock held across the read
            self.state.publish(self.state.judged, library, token, f"judgments:{library}", cached)
        return list(cached)

    @engine_call("delete the judgment")
    def delete(self, judgment: Judgment) -> None:
        self.table.remove(judgment)
        self.state.judged_changed(judgment.library)
        self.state.bump()

    def drop(self, library: str) -> None:
        self.table.remove_library(library)
        self.state.judged_changed(library)
