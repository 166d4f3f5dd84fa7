"""The store that ingest, search, evaluation and the pages use, by concern; Milvus and an exact reference implement it.

store.catalog                 libraries, provenance of each (library, model) index, settings, leases
store.index(library, model)   the rows and search of one index (core.storage.index)
store.judgments               relevance judgments, per library
store.audit                   the log of destructive and shared-state changes (core.storage.audit)
store.runs                    saved evaluation runs, each whole or not at all (core.storage.runs)
store.query_sets              named sets of queries, per library (core.storage.query_sets)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from core.errors import ModelMismatchError
from core.storage.analyzers import language_of_analyzer
from core.storage.audit import Audit
from core.storage.index import Index, not_indexed
from core.storage.leases import Lease, LeaseBook
from core.storage.loading import LoadProgress
from core.storage.profile import EngineProfile
from core.storage.query_sets import QuerySets
from core.storage.runs import Runs
from core.types import ChunkRow, CollectionMeta, CollectionStats, Judgment, LibraryInfo

LANGUAGE_SETTING = "language"  # the library setting holding its language


class Catalog(ABC):
    """What libraries exist, the provenance of their indexes, their settings and who is changing them."""

    leases: LeaseBook

    # --- libraries -----------------------------------------------------------------------------

    @abstractmethod
    def names(self) -> list[str]:
        """Every library, including those with no index yet."""

    @abstractmethod
    def create(self, library: str) -> None:
        """Record a library with no documents yet, so it exists at once and survives a restart."""

    @abstractmethod
    def drop(self, library: str) -> int:
        """Drop the library, every index of it, its judgments and settings; returns how many indexes were dropped."""

    # --- provenance ----------------------------------------------------------------------------

    @abstractmethod
    def collections(self) -> list[CollectionMeta]:
        """Provenance of every (library, model) index, sorted by library then model."""

    @abstractmethod
    def find(self, library: str, model_name: str) -> CollectionMeta | None: ...

    @abstractmethod
    def ensure(self, meta: CollectionMeta) -> CollectionMeta:
        """Create the (library, model) index, or check that the existing one matches; returns its provenance."""

    def require(self, library: str, model_name: str) -> CollectionMeta:
        meta = self.find(library, model_name)
        if meta is None:
            raise not_indexed(library, model_name)
        return meta

    def models(self, library: str) -> list[str]:
        """The models the library has an index for, by name: provenance only, so no count is queried."""
        return sorted(meta.model_name for meta in self.collections() if meta.library == library)

    def language(self, library: str) -> str:
        """The library's language (an ISO code or "none", core.storage.analyzers): the one chosen for it, else the
        one its indexes were made for, else the one their analyzer is for (an "english" analyzer is English, a
        "standard" one none); "" when none was chosen and it has no index with keyword search yet."""
        chosen = self.settings(library).get(LANGUAGE_SETTING)
        if chosen:
            return str(chosen)
        metas = [m for m in self.collections() if m.library == library]
        found = [m.language or getattr(language_of_analyzer(m.analyzer), "code", "") for m in metas]
        return next((code for code in found if code), "")

    # --- settings ------------------------------------------------------------------------------

    @abstractmethod
    def settings(self, library: str) -> dict:
        """Settings recorded for the library as a whole (its hybrid default, say), key by key; {} when none."""

    @abstractmethod
    def set_setting(self, library: str, key: str, value: Any) -> None:
        """Record one setting of the library, leaving its other keys as they are (whoever wrote them)."""

    # --- leases --------------------------------------------------------------------------------

    @contextmanager
    def lease(self, library: str, what: str, shared: bool = False) -> Iterator[Lease]:
        """Hold the library while the block runs, across every process sharing the database: refused with
        LibraryBusyError while another holder has it (or, for a `shared` holder such as an ingest, while an
        exclusive one has it); renewed while held; taken over once it has expired."""
        with self.leases.hold(library, what, shared) as held:
            yield held


class Judgments(ABC):
    """Relevance judgments, kept per library in the database so they outlive the browser session."""

    @abstractmethod
    def put(self, judgment: Judgment) -> None:
        """Record a judgment, replacing any earlier one of the same library, query and document."""

    @abstractmethod
    def list(self, library: str) -> list[Judgment]:
        """Every judgment of the library, sorted by query then document."""

    @abstractmethod
    def delete(self, judgment: Judgment) -> None: ...


class Store(ABC):
    """Libraries hold one index per model; each index keeps chunks, their vectors and their analysed text."""

    catalog: Catalog
    judgments: Judgments
    audit: Audit  # who dropped, deleted, rebuilt, imported or changed what (core.service.audit)
    runs: Runs  # every evaluation, kept (core.service.runs)
    query_sets: QuerySets  # named sets of queries per library, run over several models at once
    profile: EngineProfile

    @abstractmethod
    def index(self, library: str, model_name: str) -> Index:
        """The index of this (library, model) pair; cheap to ask for, and it need not exist yet."""

    def warm_up(self) -> object:
        """Start making every index ready for search in the background; nothing to do by default."""
        return None

    def loading(self) -> list[LoadProgress]:
        """Indexes being loaded into the engine right now, each with its estimated progress (core.storage.loading);
        nothing to load by default."""
        return []

    @property
    def load_blocks_engine(self) -> bool:
        """Whether a running load holds every other call to the engine (the embedded Milvus Lite 2.5.1)."""
        return False

    def waits_for(self, library: str, model_name: str) -> list[LoadProgress]:
        """The noticeable running loads (LoadProgress.noticeable) a search of (library, model) would wait for: every
        one where a load holds the whole engine, else the index's own."""
        loads = [p for p in self.loading() if p.noticeable()]
        if self.load_blocks_engine:
            return loads
        return [p for p in loads if (p.library, p.model) == (library, model_name)]

    def watch_loads(self, watch: Callable[[LoadProgress, bool], None]) -> None:  # noqa: B027 - none to watch
        """Call `watch(progress, True)` as each load begins and `watch(progress, False)` as it ends."""

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release the engine; the store is unusable afterwards."""

    def revive(self) -> bool:
        """Start the embedded engine again if it died; True if it was restarted. Any store call does this by itself;
        a page asks first, so it can say so before its first search."""
        return False

    @property
    def engine_restarts(self) -> int:
        """How many times the embedded engine was started again since this store opened."""
        return 0

    def libraries(self) -> list[LibraryInfo]:
        """Every library with per-model counts, empty libraries included."""
        by_name: dict[str, list[CollectionStats]] = {name: [] for name in self.catalog.names()}
        for meta in self.catalog.collections():
            by_name.setdefault(meta.library, []).append(self.index(meta.library, meta.model_name).stats())
        return [
            LibraryInfo(name, sorted(cols, key=lambda c: c.meta.model_name)) for name, cols in sorted(by_name.items())
        ]

    def library_stats(self, library: str) -> list[CollectionStats]:
        """The library's indexes with their counts, by model name; other libraries are not counted."""
        return [self.index(library, model).stats() for model in self.catalog.models(library)]


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
