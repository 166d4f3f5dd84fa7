"""One (library, model) index: its rows and its search. Both stores implement the engine calls; the fusion of
the hybrid mode, the zero-vector rule and the three-mode entry point live here once."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from core.errors import KeywordUnavailableError, LibraryNotFoundError
from core.storage.fusion import fuse
from core.storage.vector_index import VectorIndex
from core.types import ChunkRow, CollectionMeta, CollectionStats, Hit, HybridParams, SearchMode, StoredDocument


def not_indexed(library: str, model_name: str) -> LibraryNotFoundError:
    return LibraryNotFoundError(
        f"Library '{library}' has no index for model {model_name}: index documents with it first."
    )


class Index(ABC):
    """The index of `library` for `model_name`. Every call looks its provenance up afresh (a cache lookup), so
    a handle stays valid across a rebuild and raises LibraryNotFoundError once the index is gone."""

    def __init__(self, library: str, model_name: str) -> None:
        self.library, self.model_name = library, model_name

    @property
    @abstractmethod
    def meta(self) -> CollectionMeta:
        """The index's provenance; LibraryNotFoundError when the library has no index for the model."""

    # --- rows ----------------------------------------------------------------------------------

    @abstractmethod
    def write(self, rows: Sequence[ChunkRow], *, new: bool = False) -> int:
        """Upsert rows; each document's chunk 0 goes last, so its presence marks the document complete.

        `new=True` promises that no row of these documents is stored (ingest deletes changed documents
        first), which lets an engine insert instead of upsert."""

    @abstractmethod
    def flush(self) -> None: ...

    @abstractmethod
    def delete_documents(self, documents: Sequence[str]) -> None: ...

    def delete_document(self, document: str) -> None:
        self.delete_documents([document])

    @abstractmethod
    def documents(self) -> list[StoredDocument]:
        """Complete documents (those whose chunk 0 is written), sorted by name."""

    @abstractmethod
    def chunk_rows(self) -> list[dict]:
        """Every stored chunk without its vector: document, doc_hash, chunk, start, end, text, title, doc_type, page."""

    @abstractmethod
    def chunk_vectors(self, key_prefixes: Sequence[str] | None = None) -> list[dict]:
        """Stored chunks with their vectors: id, document, chunk, text, vector (float32).

        With `key_prefixes`, only documents whose document_key starts with one of them: a sample of whole
        documents that is the same on every call and in every index of the library."""

    @abstractmethod
    def count(self) -> int:
        """Chunks stored in the index."""

    @abstractmethod
    def count_documents(self) -> int: ...

    def stats(self) -> CollectionStats:
        meta = self.meta
        return CollectionStats(
            meta=meta, collection=meta.collection, documents=self.count_documents(), chunks=self.count()
        )

    def row_count(self) -> int:
        """The rows the engine reports holding, asked without loading the index (a drop counts what it removes
        this way: loading a released 1M-chunk index takes minutes); count() itself by default."""
        return self.count()

    def rebuild(self, progress: Callable[[str, int, int], None] | None = None) -> CollectionMeta:
        """Bring the index to the current schema from its stored rows (progress: stage, done, total);
        nothing to do where it is current."""
        return self.meta

    @abstractmethod
    def set_language(self, language: str, progress: Callable[[str, int, int], None] | None = None) -> CollectionMeta:
        """Analyse the text again for `language` (an ISO code or "none", core.storage.analyzers): the keyword index
        is made anew from the stored rows, vectors and all, and the provenance records the language and analyzer."""

    @abstractmethod
    def set_vector_index(self, choice: VectorIndex) -> CollectionMeta:
        """Index the dense field anew with `choice` (its rows stay) and record it in the provenance;
        VectorIndexError in one sentence when the engine has no such index."""

    # --- search --------------------------------------------------------------------------------

    @abstractmethod
    def dense(self, vectors: np.ndarray, top_k: int, document: str | None = None) -> list[list[Hit]]:
        """Cosine top-k for each query vector, in one call: exact under FLAT, approximate under other indexes."""

    @abstractmethod
    def keyword(self, texts: Sequence[str], top_k: int, document: str | None = None) -> list[list[Hit]]:
        """BM25 top-k for each query text, in one call."""

    def hybrid(
        self,
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
            keyword = background.submit(self.keyword, texts, depth, document)
            dense = self._dense_known(vectors, depth, document)
            return [fuse(d, k, top_k, params) for d, k in zip(dense, keyword.result())]

    def _dense_known(self, vectors: np.ndarray, top_k: int, document: str | None) -> list[list[Hit]]:
        """Dense rankings; a query with no word the model knows has a zero vector, which no cosine can
        rank, and gets an empty list instead of asking the engine."""
        vectors = np.asarray(vectors, dtype=np.float32)
        known = np.flatnonzero(np.any(vectors != 0, axis=1))
        ranked: list[list[Hit]] = [[] for _ in range(len(vectors))]
        if len(known):
            for slot, hits in zip(known, self.dense(vectors[known], top_k, document)):
                ranked[slot] = hits
        return ranked

    def search(
        self,
        mode: SearchMode,
        vectors: np.ndarray,
        texts: Sequence[str],
        top_k: int,
        document: str | None = None,
        params: HybridParams | None = None,
    ) -> list[list[Hit]]:
        """One entry point for the three modes."""
        if mode == SearchMode.DENSE:
            return self._dense_known(vectors, top_k, document)
        meta = self.meta
        if not meta.has_keyword:
            raise self.no_keyword(meta)
        if mode == SearchMode.KEYWORD:
            return self.keyword(texts, top_k, document)
        return self.hybrid(vectors, texts, top_k, document, params)

    def no_keyword(self, meta: CollectionMeta) -> KeywordUnavailableError:
        """Why this index has no keyword search, and what to do."""
        return KeywordUnavailableError(
            f"Library '{meta.library}' with model {meta.model_name} was indexed before keyword search existed: "
            "rebuild it from its stored chunks (Library page, or `python -m core rebuild`) to add it."
        )
