"""Reading indexes written by older versions, apart from the current path.

Schema 1 kept provenance in collection properties (which only some engines keep) and had no BM25 field and no
document keys: its rows are filtered by document name. Schema 2 ranked raw vectors under COSINE; schema 3 stores
unit vectors under IP. Such indexes are read as they are until `rebuild` copies them into the current schema."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from core.storage.filters import field_in
from core.storage.judgments import JUDGMENTS
from core.storage.profile import EngineProfile
from core.storage.records import PREFIX
from core.storage.registry import REGISTRY, Registry, RegistryView
from core.types import MAX_DOCUMENT_CHARS, SCHEMA_VERSION, CollectionMeta, document_key

LEGACY_META_KEY = "potion.meta"  # schema 1 kept provenance in collection properties


def keyed(meta: CollectionMeta) -> bool:
    """Whether the index's rows carry doc_key (schema 2 on)."""
    return meta.schema_version >= 2


def stores_unit_vectors(meta: CollectionMeta) -> bool:
    """Whether vectors are stored (and queries must be sent) at unit length: schema 3's IP metric."""
    return meta.metric == "IP"


def is_current(meta: CollectionMeta, profile: EngineProfile) -> bool:
    """Nothing for a rebuild to do: the current schema, with BM25 wherever the engine has it."""
    return meta.schema_version == SCHEMA_VERSION and (meta.has_keyword or not profile.has_bm25)


def document_filter(meta: CollectionMeta, documents: Sequence[str]) -> str:
    if keyed(meta):
        return field_in("doc_key", [document_key(d[:MAX_DOCUMENT_CHARS]) for d in documents])
    return field_in("document", [d[:MAX_DOCUMENT_CHARS] for d in documents])


def key_prefix_filter(meta: CollectionMeta, key_prefixes: Sequence[str]) -> str | None:
    """The filter for a sample of documents by key prefix; None where rows have no keys (every row, then)."""
    if not keyed(meta):
        return None
    # doc_key is lowercase hex, so a prefix needs no escaping in the LIKE pattern
    return " or ".join(f'doc_key like "{p}%"' for p in key_prefixes if p.isalnum())


def adopt_schema_1(client, registry: Registry, view: RegistryView, profile: EngineProfile) -> list[CollectionMeta]:
    """Register schema-1 collections (provenance in properties) as they are; their data is not touched.

    Only an engine that keeps properties can hold one (2.5.1 keeps none, so it never wrote any)."""
    if not profile.keeps_properties:
        return []
    known = {meta.collection for meta in view.metas.values()}
    adopted = []
    for name in client.list_collections():
        if not name.startswith(PREFIX) or name in (REGISTRY, JUDGMENTS) or name in known:
            continue
        props = client.describe_collection(name).get("properties", {})
        if LEGACY_META_KEY not in props:
            continue  # an orphan of an interrupted create or drop; ensure replaces it
        meta = replace(CollectionMeta.from_json(props[LEGACY_META_KEY]), collection=name, schema_version=1)
        registry.put(meta)
        adopted.append(meta)
    return adopted
