"""The provenance registry: a small collection of the store's own, kept the same way on every Milvus engine.

Collection properties would be the obvious place, but Milvus Lite 2.5.1 keeps none and 3.x loses the
description on reopen; rows are the one thing every engine keeps. One row per library (model "") so
a library exists before its first document, and one per library x model with its provenance as JSON."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from core.storage.consistency import EXACT
from core.storage.filters import quote
from core.storage.schema import REGISTRY_DIM, registry_schema
from core.types import SCHEMA_VERSION, CollectionMeta

REGISTRY = "potion__registry"
GENERATION = "generation"  # the key of the row every writer changes, so readers know their caches are stale


@dataclass(frozen=True)
class RegistryRow:
    library: str
    model: str  # "" for the row that says the library exists
    schema_version: int
    meta: CollectionMeta | None
    settings: dict = field(default_factory=dict)  # a library row's own settings (the hybrid default, say)


def _settings(raw: str) -> dict:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _key(library: str, model: str) -> str:
    return hashlib.sha256(f"{library}\x00{model}".encode()).hexdigest()[:40]


class Registry:
    """Reads and writes registry rows through a MilvusClient; the caller holds the store's lock."""

    def __init__(self, client: Any) -> None:
        self.client = client
        if not client.has_collection(REGISTRY):
            schema, index = registry_schema(client)
            client.create_collection(REGISTRY, schema=schema, index_params=index)
        client.load_collection(REGISTRY)

    def rows(self) -> list[RegistryRow]:
        fields = ["library", "model", "schema_version", "meta"]
        flt = f'key != "" and key != "{GENERATION}"'
        raw = self.client.query(REGISTRY, filter=flt, output_fields=fields, limit=16_384, consistency_level=EXACT)
        return [
            RegistryRow(
                r["library"],
                r["model"],
                int(r["schema_version"]),
                CollectionMeta.from_json(r["meta"]) if r["model"] else None,
                {} if r["model"] else _settings(r["meta"]),
            )
            for r in raw
        ]

    def generation(self) -> str:
        """The token the last writer left; "" before anyone wrote one."""
        flt = f'key == "{GENERATION}"'
        found = self.client.query(REGISTRY, filter=flt, output_fields=["meta"], limit=1, consistency_level=EXACT)
        return found[0]["meta"] if found else ""

    def bump_generation(self) -> str:
        token = uuid.uuid4().hex
        self.client.upsert(
            REGISTRY,
            [
                {
                    "key": GENERATION,
                    "library": "",
                    "model": "",  # an older version reads a row of "" as a library row, not as provenance
                    "schema_version": SCHEMA_VERSION,
                    "meta": token,
                    "placeholder": [0.0] * REGISTRY_DIM,
                }
            ],
        )
        return token

    def put_library(self, library: str, settings: dict | None = None) -> None:
        self._upsert(library, "", SCHEMA_VERSION, json.dumps(settings or {}, ensure_ascii=False))

    def put(self, meta: CollectionMeta) -> None:
        self._upsert(meta.library, meta.model_name, meta.schema_version, meta.to_json())

    def remove(self, library: str, model: str) -> None:
        self.client.delete(REGISTRY, filter=f"key == {quote(_key(library, model))}")

    def _upsert(self, library: str, model: str, version: int, meta: str) -> None:
        row = {
            "key": _key(library, model),
            "library": library,
            "model": model,
            "schema_version": version,
            "meta": meta,
            "placeholder": [0.0] * REGISTRY_DIM,
        }
        self.client.upsert(REGISTRY, [row])
