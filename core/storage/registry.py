"""The provenance registry: a small collection of the store's own, kept the same way on every Milvus engine.

Collection properties would be the obvious place, but Milvus Lite 2.5.1 keeps none and 3.x loses the
description on reopen; rows are the one thing every engine keeps. Rows by their `model` field:
- "" says the library exists (its `meta` once held all its settings as one JSON object: still read);
- a model name holds that index's provenance as JSON;
- ":setting:KEY" holds one setting of the library, so two processes setting two keys never undo each other;
- ":lease:HOLDER" says HOLDER is changing the library until the expiry in `meta` (core.storage.leases).
No model name starts with ":" (hub ids and paths do not)."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from core.storage.consistency import EXACT
from core.storage.filters import field_in
from core.storage.schema import REGISTRY_DIM, own_collection, registry_schema
from core.types import SCHEMA_VERSION, CollectionMeta

REGISTRY = "potion__registry"
GENERATION = "generation"  # the key of the row every writer changes, so readers know their caches are stale
SETTING, LEASE = ":setting:", ":lease:"
FIELDS = ["key", "library", "model", "schema_version", "meta"]


@dataclass
class RegistryView:
    """Everything the registry records but leases, as read at one moment."""

    metas: dict[tuple[str, str], CollectionMeta] = field(default_factory=dict)
    libraries: set[str] = field(default_factory=set)
    settings: dict[str, dict] = field(default_factory=dict)  # library -> {key: value}
    newest_schema: int = SCHEMA_VERSION


@dataclass(frozen=True)
class LeaseRow:
    library: str
    holder: str
    what: str  # what the holder is doing, for the message another holder gets
    expires: float  # seconds since the epoch
    shared: bool = False  # held beside other shared holders (ingests), never beside an exclusive one


def _json(raw: str) -> Any:
    try:
        return json.loads(raw or "null")
    except ValueError:
        return None


def _key(library: str, model: str) -> str:
    return hashlib.sha256(f"{library}\x00{model}".encode()).hexdigest()[:40]


class Registry:
    """Reads and writes registry rows through a MilvusClient."""

    def __init__(self, client: Any) -> None:
        self.client = client
        own_collection(client, REGISTRY, registry_schema)

    def _query(self, flt: str) -> list[dict]:
        return self.client.query(REGISTRY, filter=flt, output_fields=FIELDS, limit=16_384, consistency_level=EXACT)

    def read(self) -> RegistryView:
        view = RegistryView()
        per_key: dict[str, dict] = {}
        for r in self._query(f'key != "" and key != "{GENERATION}"'):
            library, model = r["library"], r["model"]
            view.newest_schema = max(view.newest_schema, int(r["schema_version"]))
            if model == "":
                view.libraries.add(library)
                legacy = _json(r["meta"])  # a whole-dict of settings, as versions before per-key settings wrote
                if isinstance(legacy, dict) and legacy:
                    view.settings[library] = {**legacy, **view.settings.get(library, {})}
            elif model.startswith(SETTING):
                value = _json(r["meta"])
                if isinstance(value, dict) and value.get("value") is not None:
                    per_key.setdefault(library, {})[model.removeprefix(SETTING)] = value["value"]
            elif not model.startswith(LEASE):
                view.libraries.add(library)
                view.metas[(library, model)] = CollectionMeta.from_json(r["meta"])
        for library, values in per_key.items():
            view.settings[library] = {**view.settings.get(library, {}), **values}  # a key's own row wins
        return view

    def keys_of(self, library: str) -> list[str]:
        """The primary keys of every row of the library, whatever it records."""
        return [r["key"] for r in self._query(f'key != "{GENERATION}"') if r["library"] == library]

    def leases(self, library: str) -> list[LeaseRow]:
        found = []
        for r in self._query(f'model like "{LEASE}%"'):
            value = _json(r["meta"])
            if r["library"] == library and isinstance(value, dict):
                holder, what = r["model"].removeprefix(LEASE), str(value.get("what", ""))
                found.append(
                    LeaseRow(library, holder, what, float(value.get("expires", 0.0)), bool(value.get("shared")))
                )
        return found

    def generation(self) -> str:
        """The token the last writer left; "" before anyone wrote one."""
        flt = f'key == "{GENERATION}"'
        found = self.client.query(REGISTRY, filter=flt, output_fields=["meta"], limit=1, consistency_level=EXACT)
        return found[0]["meta"] if found else ""

    def bump_generation(self) -> str:
        token = uuid.uuid4().hex
        # model "": an older version reads a row of "" as a library row, not as provenance
        self._put(GENERATION, "", "", SCHEMA_VERSION, token)
        return token

    def put_library(self, library: str) -> None:
        self._upsert(library, "", SCHEMA_VERSION, "{}")

    def put(self, meta: CollectionMeta) -> None:
        self._upsert(meta.library, meta.model_name, meta.schema_version, meta.to_json())

    def put_setting(self, library: str, key: str, value: Any) -> None:
        self._upsert(library, SETTING + key, SCHEMA_VERSION, json.dumps({"value": value}, ensure_ascii=False))

    def put_lease(self, lease: LeaseRow) -> None:
        meta = json.dumps({"what": lease.what, "expires": lease.expires, "shared": lease.shared}, ensure_ascii=False)
        self._upsert(lease.library, LEASE + lease.holder, SCHEMA_VERSION, meta)

    def remove_lease(self, library: str, holder: str) -> None:
        self.remove(library, LEASE + holder)

    def remove(self, library: str, model: str) -> None:
        self.remove_keys([_key(library, model)])

    def remove_keys(self, keys: list[str]) -> None:
        if keys:
            self.client.delete(REGISTRY, filter=field_in("key", keys))

    def _upsert(self, library: str, model: str, version: int, meta: str) -> None:
        self._put(_key(library, model), library, model, version, meta)

    def _put(self, key: str, library: str, model: str, version: int, meta: str) -> None:
        row = {"key": key, "library": library, "model": model, "schema_version": version, "meta": meta}
        self.client.upsert(REGISTRY, [{**row, "placeholder": [0.0] * REGISTRY_DIM}])
