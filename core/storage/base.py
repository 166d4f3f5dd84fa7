"""The store interface that ingest, search, evaluation and the pages use; Milvus and an exact reference implement it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

from core.errors import KeywordUnavailableError, LibraryNotFoundError, ModelMismatchError
from core.storage.fusion import fuse
from core.types import (
    ChunkRow,
    CollectionMeta,
    CollectionStats,
    Hit,
    HybridParams,
    Judgment,
    LibraryInfo,
    SearchMode,
    StoredDocument,
)


class Store(ABC):
    """Libraries hold one index per model; each index keeps chunks, their vectors and their analysed text."""

    # --- libraries and provenance --------------------------------------------------------------

    @abstractmethod
    def collections(self) -> list[CollectionMeta]:
        """Provenance of every (library, model) index, sorted by library then model."""

    @abstractmethod
    def library_names(self) -> list[str]:
        """Every library, including those with no index yet."""

    @abstractmethod
    def create_library(self, library: str) -> None:
        """Record a library with no documents yet, so it exists at once and survives a restart."""

    @abstractmethod
    def find(self, library: str, model_name: str) -> CollectionMeta | None: ...

    @abstractmethod
    def ensure_collection(self, meta: CollectionMeta) -> CollectionMeta:
        """Create the (library, model) index, or check that the existing one matches; returns its provenance."""

    @abstractmethod
    def drop_library(self, library: str) -> int:
        """Drop the library and every index of it; returns how many indexes were dropped."""

    @abstractmethod
    def library_settings(self, library: str) -> dict:
        """Settings recorded for the library as a whole (for example its hybrid default); {} when none."""

    @abstractmethod
    def set_library_settings(self, library: str, settings: dict) -> None:
        """Replace the library's settings; they persist, and go when the library is dropped."""

    # --- judgments -----------------------------------------------------------------------------

    @abstractmethod
    def put_judgment(self, judgment: Judgment) -> None:
        """Record a judgment, replacing any earlier one of the same library, query and document."""

    @abstractmethod
    def judgments(self, library: str) -> list[Judgment]:
        """Every judgment of the library, sorted by query then document."""

    @abstractmethod
    def delete_judgment(self, judgment: Judgment) -> None: ...

    # --- rows ----------------------------------------------------------------------------------

    @abstractmethod
    def write(self, library: str, model_name: str, rows: Sequence[ChunkRow], *, new: bool = False) -> int:
        """Upsert rows; each document's chunk 0 goes last, so its presence marks the document complete.

        `new=True` promises that no row of these documents is stored (ingest deletes changed documents
        first), which lets an engine insert instead of upsert."""

    @abstractmethod
    def flush(self, library: str, model_name: str) -> None: ...

    @abstractmethod
    def delete_documents(self, library: str, model_name: str, documents: Sequence[str]) -> None: ...

    @abstractmethod
    def documents(self, library: str, model_name: str) -> list[StoredDocument]:
        """Complete documents (those whose chunk 0 is written), sorted by name."""

    @abstractmethod
    def chunk_rows(self, library: str, model_name: str) -> list[dict]:
        """Every stored chunk without its vector: document, doc_hash, chunk, start, end, text, title, doc_type, page."""

    @abstractmethod
    def chunk_vectors(self, library: str, model_name: str, key_prefixes: Sequence[str] | None = None) -> list[dict]:
        """Stored chunks with their vectors: id, document, chunk, text, vector (float32).

        With `key_prefixes`, only documents whose document_key starts with one of them: a sample of whole
        documents that is the same on every call and in every index of the library."""

    @abstractmethod
    def count(self, library: str, model_name: str) -> int:
        """Chunks stored in the index."""

    @abstractmethod
    def count_documents(self, library: str, model_name: str) -> int: ...

    # --- search --------------------------------------------------------------------------------

    @abstractmethod
    def dense(
        self, library: str, model_name: str, vectors: np.ndarray, top_k: int, document: str | None = None
    ) -> list[list[Hit]]:
        """Exact cosine top-k for each query vector, in one call."""

    @abstractmethod
    def keyword(
        self, library: str, model_name: str, texts: Sequence[str], top_k: int, document: str | None = None
    ) -> list[list[Hit]]:
        """BM25 top-k for each query text, in one call."""

    def rebuild(
        self, library: str, model_name: str, progress: Callable[[str, int, int], None] | None = None
    ) -> CollectionMeta:
        """Bring an index to the current schema from its stored rows (progress: stage, done, total);
        nothing to do where it is current."""
        return self.require(library, model_name)

    def warm_up(self) -> object:
        """Start making every index ready for search in the background; nothing to do by default."""
        return None

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release the engine; the store is unusable afterwards."""

    # --- shared behaviour ----------------------------------------------------------------------

    def delete_document(self, library: str, model_name: str, document: str) -> None:
        self.delete_documents(library, model_name, [document])

    def require(self, library: str, model_name: str) -> CollectionMeta:
        meta = self.find(library, model_name)
        if meta is None:
            raise LibraryNotFoundError(
                f"Library '{library}' has no index for model {model_name}: index documents with it first."
            )
        return meta

    def stats(self, library: str, model_name: str) -> CollectionStats:
        meta = self.require(library, model_name)
        return CollectionStats(
            meta=meta,
            collection=meta.collection,
            documents=self.count_documents(library, model_name),
            chunks=self.count(library, model_name),
        )

    def libraries(self) -> list[LibraryInfo]:
        """Every library with per-model counts, empty libraries included."""
        by_name: dict[str, list[CollectionStats]] = {name: [] for name in self.library_names()}
        for meta in self.collections():
            by_name.setdefault(meta.library, []).append(self.stats(meta.library, meta.model_name))
        return [
            LibraryInfo(name, sorted(cols, key=lambda c: c.meta.model_name)) for name, cols in sorted(by_name.items())
        ]

    def indexed_models(self, library: str) -> list[str]:
        """The models the library has an index for, by name: provenance only, so no count is queried."""
        return sorted(meta.model_name for meta in self.collections() if meta.library == library)

    def library_stats(self, library: str) -> list[CollectionStats]:
        """The library's indexes with their counts, by model name; other libraries are not counted."""
        return [self.stats(library, model) for model in self.indexed_models(library)]

    def hybrid(
        self,
        library: str,
        model_name: str,
        vectors: np.ndarray,
        texts: Sequence[str],
        top_k: int,
        document: str | None = None,
        params: HybridParams | None = None,
    ) -> list[list[Hit]]:
        """Dense and keyword rankings fused per query (RRF or weighted); each hit keeps both component scores.

        The keyword ranking runs in a second thread while the dense one runs here: with Milvus both are
        engine calls, and hybrid then costs about the slower of the two rather than their sum."""
        params = params or HybridParams()
        depth = max(top_k, params.depth)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="keyword") as background:
            keyword = background.submit(self.keyword, library, model_name, texts, depth, document)
            dense = self._dense_known(library, model_name, vectors, depth, document)
            return [fuse(d, k, top_k, params) for d, k in zip(dense, keyword.result())]

    def _dense_known(
        self, library: str, model_name: str, vectors: np.ndarray, top_k: int, document: str | None
    ) -> list[list[Hit]]:
        """Dense rankings; a query with no word the model knows has a zero vector, which no cosine can
        rank, and gets an empty list instead of asking the engine."""
        vectors = np.asarray(vectors, dtype=np.float32)
        known = np.flatnonzero(np.any(vectors != 0, axis=1))
        ranked: list[list[Hit]] = [[] for _ in range(len(vectors))]
        if len(known):
            for slot, hits in zip(known, self.dense(library, model_name, vectors[known], top_k, document)):
                ranked[slot] = hits
        return ranked

    def search(
        self,
        library: str,
        model_name: str,
        mode: SearchMode,
        vectors: np.ndarray,
        texts: Sequence[str],
        top_k: int,
        document: str | None = None,
        params: HybridParams | None = None,
    ) -> list[list[Hit]]:
        """One entry point for the three modes."""
        if mode == SearchMode.DENSE:
            return self._dense_known(library, model_name, vectors, top_k, document)
        meta = self.require(library, model_name)
        if not meta.has_keyword:
            raise self.no_keyword(meta)
        if mode == SearchMode.KEYWORD:
            return self.keyword(library, model_name, texts, top_k, document)
        return self.hybrid(library, model_name, vectors, texts, top_k, document, params)

    def no_keyword(self, meta: CollectionMeta) -> KeywordUnavailableError:
        """Why this index has no keyword search, and what to do."""
        return KeywordUnavailableError(
            f"Library '{meta.library}' with model {meta.model_name} was indexed before keyword search existed: "
            "rebuild it from its stored chunks (Library page, or `python -m core rebuild`) to add it."
        )


class ModelIdentity(Protocol):
    """What names the vectors a model gives: their dim and the fingerprint of its weights (ModelInfo has both)."""

    @property
    def dim(self) -> int: ...

    @property
    def fingerprint(self) -> str: ...


def check_compatible(existing: CollectionMeta, wanted: CollectionMeta | ModelIdentity) -> None:
    """Refuse vectors of another dim or other weights than the index holds, and, when `wanted` is an index's
    provenance (a write), text cut another way. Ingest, search and cost measurement all ask this one check."""
    where = f"library '{existing.library}' with model {existing.model_name}"
    if existing.dim != wanted.dim:
        raise ModelMismatchError(
            f"The {where} holds {existing.dim}-dim vectors but the model now gives {wanted.dim}: "
            "re-index the library with this model (drop it and index again), or use another library name."
        )
    if existing.fingerprint != wanted.fingerprint:
        raise ModelMismatchError(
            f"The {where} was indexed with different model weights (fingerprint {existing.fingerprint}, "
            f"now {wanted.fingerprint}): re-index the library with this model (drop it and index again), "
            "or use another library name."
        )
    if isinstance(wanted, CollectionMeta) and existing.chunking != wanted.chunking:
        raise ModelMismatchError(
            f"The {where} was chunked with {existing.chunking}, not {wanted.chunking}: "
            "use the recorded settings, or drop the library to re-chunk."
        )


def ordered_for_write(rows: Sequence[ChunkRow]) -> list[ChunkRow]:
    """Chunk 0 of each document last: an interrupted write then leaves the document absent, not half-present."""
    return [r for r in rows if r.chunk != 0] + [r for r in rows if r.chunk == 0]
