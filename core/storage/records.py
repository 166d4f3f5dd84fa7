"""How one chunk becomes a Milvus row and a search result becomes a Hit, and the names collections get."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from core.types import MAX_DOCUMENT_CHARS, SCHEMA_VERSION, ChunkRow, Hit, document_key
from core.vectors import unit_rows

PREFIX = "potion_"
MAX_TEXT_CHARS = 16_000  # VARCHAR limits count bytes: 16k chars of up to 4 bytes stay under 65,535
OUTPUT_FIELDS = ["document", "chunk", "text", "start", "end", "page", "title"]
# Every field of a current chunk row but doc_key (derived from the name) and sparse (derived from the text).
COPIED_FIELDS = ["id", "vector", "text", "document", "doc_hash", "title", "doc_type", "chunk", "n_chunks"]
COPIED_FIELDS += ["start", "end", "page"]


def collection_name(library: str, model_name: str, version: int = SCHEMA_VERSION) -> str:
    """A valid Milvus name (letters, digits, underscores) that stays readable and unique per pair and schema."""
    slug = lambda s: re.sub(r"[^0-9a-zA-Z]+", "_", s).strip("_").lower()[:40] or "x"  # noqa: E731
    digest = hashlib.sha1(f"{library}\x00{model_name}".encode()).hexdigest()[:8]
    suffix = "" if version == 1 else f"_v{version}"
    return f"{PREFIX}{slug(library)}__{slug(model_name)}_{digest}{suffix}"


def unit_vectors(records: list[dict]) -> list[dict]:
    """Records with their vectors at unit length, normalised as one matrix (schema 3 stores unit vectors)."""
    vectors = unit_rows(np.asarray([r["vector"] for r in records], dtype=np.float32))
    return [{**r, "vector": v} for r, v in zip(records, vectors, strict=True)]


def to_record(row: ChunkRow, keyed: bool, vector: np.ndarray) -> dict:
    document = row.document[:MAX_DOCUMENT_CHARS]
    record = {
        "id": row.id,
        "vector": vector,  # pymilvus takes numpy rows; .tolist() cost 3-7 s/100k
        "text": row.text[:MAX_TEXT_CHARS],
        "document": document,
        "doc_hash": row.doc_hash,
        "title": (row.title or "")[:500],
        "doc_type": row.doc_type[:16],
        "chunk": row.chunk,
        "n_chunks": row.n_chunks,
        "start": row.start,
        "end": row.end,
        "page": row.page,
    }
    if keyed:
        record["doc_key"] = document_key(document)
    return record


def to_hits(raw: list[dict], component: str) -> list[Hit]:
    hits = []
    for rank, found in enumerate(raw, start=1):
        entity = found.get("entity") or {}
        # A BM25 score is never negative, whatever sign the engine gives its distance (Lite 3.x negates it), so
        # its magnitude is right on every engine and no version needs asking.
        score = abs(float(found["distance"])) if component == "keyword_score" else float(found["distance"])
        hits.append(
            Hit(
                rank=rank,
                score=score,
                document=entity.get("document", ""),
                chunk=int(entity.get("chunk", -1)),
                text=entity.get("text", ""),
                start=int(entity.get("start", -1)),
                end=int(entity.get("end", -1)),
                page=int(entity.get("page", -1)),
                title=entity.get("title", ""),
                chunk_id=str(found.get("id", entity.get("id", ""))),
                **{component: score},
            )
        )
    return hits
