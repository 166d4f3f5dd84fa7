"""Dataclasses that cross stages: what the store keeps (rows, provenance) and what search returns (hits)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from enum import StrEnum

import numpy as np

# 1: provenance in collection properties, no BM25; 2: registry, doc_key, BM25 field;
# 3: unit vectors under the IP metric (the engine ranks them as COSINE would, in two thirds of the time).
SCHEMA_VERSION = 3


ProgressCallback = Callable[[str, int, int], None]  # (stage, done, total), called as long work goes on


class SearchMode(StrEnum):
    DENSE = "dense"
    KEYWORD = "keyword"
    HYBRID = "hybrid"


class Fusion(StrEnum):
    RRF = "rrf"
    WEIGHTED = "weighted"


@dataclass(frozen=True)
class HybridParams:
    """How hybrid search blends its two rankings; `weight` is the dense share of a weighted blend."""

    fusion: Fusion = Fusion.RRF
    weight: float = 0.5
    rrf_k: int = 60
    depth: int = 100  # candidates taken from each ranking before fusing


class DocumentStatus(StrEnum):
    """What one ingest did with one document; a str, so it compares equal to its value."""

    INDEXED = "indexed"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)  # slots: an ingest keeps one per document, a third less memory each
class DocumentOutcome:
    document: str
    status: DocumentStatus
    chunks: int = 0
    message: str = ""
    source: str = ""  # the file it came from (an upload, a path, the archive or collection holding it)


MAX_DOCUMENT_CHARS = 1_000  # the longest document name a store keeps; longer ones get stored_name()


def stored_name(name: str) -> str:
    """The name as stores keep it: names over MAX_DOCUMENT_CHARS keep their start and a digest of the whole,
    so ids, deletes and "unchanged" checks all see one form, and two long names never collapse into one."""
    if len(name) <= MAX_DOCUMENT_CHARS:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
    return f"{name[: MAX_DOCUMENT_CHARS - 14]}…~{digest}"


def document_key(name: str) -> str:
    """The hex digest stores filter on instead of the name, which no filter grammar round-trips everywhere."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class CollectionMeta:
    """Provenance of one (library, model) index: what made its vectors and how its text was cut."""

    library: str
    model_name: str
    model_source: str
    model_kind: str
    fingerprint: str
    dim: int
    chunking: dict
    analyzer: str = ""  # the BM25 analyzer of the text field; "" when the index has no keyword search
    # The library's language its analyzer was made for (ISO 639-1 or "none", core.storage.analyzers); "" when none
    # was chosen. Registries written before languages existed read it from the analyzer ("english" is "en").
    language: str = ""
    collection: str = ""  # the engine's name for it; set by the store
    created_at: str = ""
    schema_version: int = SCHEMA_VERSION
    metric: str = "COSINE"  # the engine's metric of the dense field; schema 3 stores unit vectors under "IP"
    model_variant: str = ""  # a variant of the model at model_source (128d, int8, ...); "" for the model itself
    # The dense field's index (core.storage.vector_index.VectorIndex.as_dict); empty: exact FLAT, as every index
    # made before the choice existed.
    vector_index: dict = field(default_factory=dict)

    @property
    def has_keyword(self) -> bool:
        return bool(self.analyzer)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> CollectionMeta:
        data = json.loads(raw)
        data.setdefault("schema_version", 1)  # version 1 wrote no version of its own
        if "language" not in data:
            from core.storage.analyzers import language_of_analyzer

            language = language_of_analyzer(data.get("analyzer", ""))
            data["language"] = language.code if language else ""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class ChunkRow:
    document: str
    doc_hash: str
    chunk: int
    n_chunks: int
    text: str
    start: int
    end: int
    vector: np.ndarray
    page: int = -1
    title: str = ""
    doc_type: str = ""

    @property
    def id(self) -> str:
        """Derived from content, so writing the same chunk again replaces it instead of adding one."""
        key = f"{self.document}\x00{self.doc_hash}\x00{self.chunk}\x00{self.start}:{self.end}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class StoredDocument:
    name: str
    doc_hash: str
    chunks: int
    doc_type: str = ""
    title: str = ""


@dataclass(frozen=True)
class CollectionStats:
    meta: CollectionMeta
    collection: str
    documents: int
    chunks: int

    @property
    def vector_bytes(self) -> int:
        return self.chunks * self.meta.dim * 4


@dataclass(frozen=True)
class LibraryInfo:
    name: str
    collections: list[CollectionStats] = field(default_factory=list)


def query_id(query: str) -> str:
    """A judged query's id in exported qrels: stable for the same text, whatever order queries were judged in."""
    return "q" + hashlib.sha256(" ".join(query.split()).encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Judgment:
    """A user's verdict that a document answers (relevance 1) or does not answer (0) a query, in one library."""

    library: str
    query: str
    document: str
    relevance: int
    chunk: int = -1  # the hit that was judged, for context; qrels judge whole documents
    model: str = ""
    judged_at: str = ""

    @property
    def key(self) -> str:
        text = f"{self.library}\x00{' '.join(self.query.split())}\x00{self.document}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]

    @property
    def query_id(self) -> str:
        return query_id(self.query)


@dataclass(frozen=True)
class AuditEntry:
    """One destructive or shared-state change, as the audit log keeps it: who, when, what and how much."""

    at: str  # UTC, ISO 8601 to the millisecond: sorts as text in time order
    who: str
    identity: str  # how `who` was learnt (core.access.Identity): signed in, OS user, anonymous
    action: str
    library: str
    what: str = ""  # the action's object in words: a document, a model, a weight
    counts: dict[str, int] = field(default_factory=dict)
    id: str = ""  # nanoseconds since the epoch then a random tail: unique, and orders entries of one millisecond


@dataclass(frozen=True)
class Hit:
    """One ranked chunk. `score` orders the hits of its mode; each component the hit has is kept beside it."""

    rank: int
    score: float
    document: str
    chunk: int
    text: str
    start: int
    end: int
    page: int = -1
    title: str = ""
    chunk_id: str = ""
    dense_score: float | None = None  # cosine
    keyword_score: float | None = None  # BM25

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SetQuery:
    id: str  # the file's own id (BEIR's "_id"), else query_id(text)
    text: str


@dataclass(frozen=True)
class QuerySet:
    """A named list of queries kept with a library, to run over several models or modes at once and judge."""

    library: str
    name: str
    queries: tuple[SetQuery, ...]
    source: str = ""  # where the queries came from: "typed", a file's name, "judgments"
    created_at: str = ""
    created_by: str = ""

    @property
    def texts(self) -> list[str]:
        return [q.text for q in self.queries]
