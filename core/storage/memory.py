"""The exact reference store: numpy cosine and a plain BM25 over rows in memory. Tests hold Milvus to it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from core.errors import LibraryNotFoundError
from core.storage import bm25
from core.storage.analyzers import PLAIN_ANALYZER, language_of_code
from core.storage.audit import MemoryAudit
from core.storage.base import Catalog, Judgments, Store, check_compatible, ordered_for_write
from core.storage.index import Index
from core.storage.leases import MemoryLeases
from core.storage.profile import MEMORY
from core.storage.query_sets import MemoryQuerySets
from core.storage.runs import MemoryRuns
from core.storage.vector_index import VectorIndex, check_supported
from core.types import ChunkRow, CollectionMeta, Hit, Judgment, StoredDocument, document_key
from core.vectors import unit_rows

# The engine's analyzer this store's keyword search reproduces for an index with no language; one with a language
# gets that language's (core.storage.analyzers), as the engine does.
ANALYZER = PLAIN_ANALYZER


@dataclass
class _Index:
    meta: CollectionMeta
    rows: dict[str, ChunkRow]
    _matrix: tuple[list[str], np.ndarray] | None = None
    _terms: tuple[list[str], list[Counter], np.ndarray, Counter] | None = None

    def changed(self) -> None:
        self._matrix = self._terms = None

    def matrix(self) -> tuple[list[str], np.ndarray]:
        if self._matrix is None:
            ids = sorted(self.rows)
            m = np.stack([self.rows[i].vector for i in ids]).astype(np.float32) if ids else np.zeros((0, self.meta.dim))
            self._matrix = (ids, unit_rows(m))
        return self._matrix

    def terms(self) -> tuple[list[str], list[Counter], np.ndarray, Counter]:
        if self._terms is None:
            ids = sorted(self.rows)
            bags = [bm25.term_counts(self.rows[i].text, self.meta.analyzer) for i in ids]
            lengths = np.array([sum(b.values()) for b in bags], dtype=np.float64)
            df: Counter = Counter()
            for bag in bags:
                df.update(bag.keys())
            self._terms = (ids, bags, lengths, df)
        return self._terms


class MemoryStore(Store):
    """Everything in dicts, nothing persisted; exact by construction."""

    def __init__(self) -> None:
        self.profile = MEMORY
        self.catalog = MemoryCatalog()
        self.judgments = MemoryJudgments()
        self.catalog.judgments = self.judgments
        self.audit = MemoryAudit()
        self.runs = MemoryRuns()
        self.query_sets = MemoryQuerySets()

    def index(self, library: str, model_name: str) -> MemoryIndex:
        return MemoryIndex(self.catalog, library, model_name)


class MemoryCatalog(Catalog):
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.leases = MemoryLeases()
        self.judgments: MemoryJudgments | None = None
        self._libraries: set[str] = set()
        self.indexes: dict[tuple[str, str], _Index] = {}
        self._settings: dict[str, dict] = {}

    def collections(self) -> list[CollectionMeta]:
        with self.lock:
            return [self.indexes[key].meta for key in sorted(self.indexes)]

    def names(self) -> list[str]:
        with self.lock:
            return sorted(self._libraries | {lib for lib, _ in self.indexes})

    def create(self, library: str) -> None:
        with self.lock:
            self._libraries.add(library)

    def find(self, library: str, model_name: str) -> CollectionMeta | None:
        with self.lock:
            index = self.indexes.get((library, model_name))
            return index.meta if index else None

    def ensure(self, meta: CollectionMeta) -> CollectionMeta:
        with self.lock:
            existing = self.find(meta.library, meta.model_name)
            if existing is not None:
                check_compatible(existing, meta)
                return existing
            language = language_of_code(meta.language)
            stamped = replace(
                meta,
                analyzer=language.analyzer if language else ANALYZER,
                collection=f"memory:{meta.library}:{meta.model_name}",
                created_at=datetime.now(UTC).isoformat(),
            )
            self._libraries.add(meta.library)
            self.indexes[(meta.library, meta.model_name)] = _Index(stamped, {})
            return stamped

    def drop(self, library: str) -> int:
        with self.lock:
            keys = [key for key in self.indexes if key[0] == library]
            if not keys and library not in self._libraries:
                raise LibraryNotFoundError(f"There is no library named '{library}'.")
            for key in keys:
                del self.indexes[key]
            if self.judgments is not None:
                self.judgments.drop(library)
            self._settings.pop(library, None)
            self._libraries.discard(library)
            return len(keys)

    def settings(self, library: str) -> dict:
        with self.lock:
            return dict(self._settings.get(library, {}))

    def set_setting(self, library: str, key: str, value: Any) -> None:
        with self.lock:
            self._libraries.add(library)
            self._settings.setdefault(library, {})[key] = value

    def index_of(self, library: str, model_name: str) -> _Index:
        self.require(library, model_name)
        return self.indexes[(library, model_name)]


class MemoryJudgments(Judgments):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._judgments: dict[str, Judgment] = {}

    def put(self, judgment: Judgment) -> None:
        with self._lock:
            self._judgments[judgment.key] = judgment

    def list(self, library: str) -> list[Judgment]:
        with self._lock:
            found = [j for j in self._judgments.values() if j.library == library]
        return sorted(found, key=lambda j: (j.query, j.document))

    def delete(self, judgment: Judgment) -> None:
        with self._lock:
            self._judgments.pop(judgment.key, None)

    def drop(self, library: str) -> None:
        with self._lock:
            self._judgments = {k: j for k, j in self._judgments.items() if j.library != library}


class MemoryIndex(Index):
    def __init__(self, catalog: MemoryCatalog, library: str, model_name: str) -> None:
        super().__init__(library, model_name)
        self.catalog = catalog

    @property
    def meta(self) -> CollectionMeta:
        return self.catalog.require(self.library, self.model_name)

    def _index(self) -> _Index:
        return self.catalog.index_of(self.library, self.model_name)

    def write(self, rows: Sequence[ChunkRow], *, new: bool = False) -> int:
        ordered = ordered_for_write(rows)
        with self.catalog.lock:
            index = self._index()
            for row in ordered:
                index.rows[row.id] = row
            index.changed()
        return len(ordered)

    def flush(self) -> None:
        self._index()

    def delete_documents(self, documents: Sequence[str]) -> None:
        names = set(documents)
        with self.catalog.lock:
            index = self._index()
            for key in [k for k, row in index.rows.items() if row.document in names]:
                del index.rows[key]
            index.changed()

    def documents(self) -> list[StoredDocument]:
        with self.catalog.lock:
            rows = [r for r in self._index().rows.values() if r.chunk == 0]
        docs = [StoredDocument(r.document, r.doc_hash, r.n_chunks, r.doc_type, r.title) for r in rows]
        return sorted(docs, key=lambda d: d.name)

    def chunk_rows(self) -> list[dict]:
        keys = ("document", "doc_hash", "chunk", "start", "end", "text", "title", "doc_type", "page")
        with self.catalog.lock:
            rows = list(self._index().rows.values())
        return [{k: getattr(r, k) for k in keys} for r in rows]

    def chunk_vectors(self, key_prefixes: Sequence[str] | None = None) -> list[dict]:
        with self.catalog.lock:
            rows = list(self._index().rows.values())
        keep = tuple(key_prefixes) if key_prefixes is not None else ("",)
        return [
            {"id": r.id, "document": r.document, "chunk": r.chunk, "text": r.text, "vector": r.vector}
            for r in rows
            if document_key(r.document).startswith(keep)
        ]

    def count(self) -> int:
        with self.catalog.lock:
            return len(self._index().rows)

    def count_documents(self) -> int:
        return len(self.documents())

    def set_vector_index(self, choice: VectorIndex) -> CollectionMeta:
        check_supported(choice, MEMORY.engine, MEMORY.version, "The in-memory store")
        return self.meta  # FLAT, the one index it has, is what every index here already is

    def set_language(self, language: str, progress: Callable[[str, int, int], None] | None = None) -> CollectionMeta:
        with self.catalog.lock:
            index = self._index()
            chosen = language_of_code(language)
            index.meta = replace(index.meta, language=language, analyzer=chosen.analyzer if chosen else ANALYZER)
            index.changed()  # the terms are counted again under the new analyzer
            return index.meta

    def dense(self, vectors: np.ndarray, top_k: int, document: str | None = None) -> list[list[Hit]]:
        with self.catalog.lock:
            index = self._index()
            ids, matrix = index.matrix()
            rows = index.rows
        queries = unit_rows(np.asarray(vectors, dtype=np.float32))
        allowed = np.array([document is None or rows[i].document == document for i in ids], dtype=bool)
        out = []
        for scores in queries @ matrix.T if len(ids) else np.zeros((len(queries), 0)):
            out.append(_ranked(ids, rows, np.where(allowed, scores, -np.inf), top_k, "dense_score"))
        return out

    def keyword(self, texts: Sequence[str], top_k: int, document: str | None = None) -> list[list[Hit]]:
        with self.catalog.lock:
            index = self._index()
            ids, bags, lengths, df = index.terms()
            rows, analyzer = index.rows, index.meta.analyzer
        n, avgdl = len(ids), float(lengths.mean()) if len(ids) else 0.0
        out = []
        for text in texts:
            scores = np.zeros(n)
            for term, q_count in bm25.term_counts(text, analyzer).items():
                if term not in df:
                    continue
                tf = np.array([bag.get(term, 0) for bag in bags], dtype=np.float64)
                scores += bm25.term_score(q_count, bm25.idf(n, df[term]), tf, lengths, avgdl)
            keep = np.array([s > 0 and (document is None or rows[i].document == document) for i, s in zip(ids, scores)])
            out.append(_ranked(ids, rows, np.where(keep, scores, -np.inf) if n else scores, top_k, "keyword_score"))
        return out


def _ranked(ids: list[str], rows: dict[str, ChunkRow], scores: np.ndarray, top_k: int, component: str) -> list[Hit]:
    """Best first; ties broken by chunk id so the order is the same on every run."""
    order = sorted((i for i in range(len(ids)) if np.isfinite(scores[i])), key=lambda i: (-scores[i], ids[i]))
    hits = []
    for rank, i in enumerate(order[:top_k], start=1):
        row, score = rows[ids[i]], float(scores[i])
        hits.append(
            Hit(
                rank=rank,
                score=score,
                document=row.document,
                chunk=row.chunk,
                text=row.text,
                start=row.start,
                end=row.end,
                page=row.page,
                title=row.title,
                chunk_id=ids[i],
                **{component: score},
            )
        )
    return hits
