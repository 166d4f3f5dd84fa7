"""Whole libraries as the app handles them: the default one on an empty database, and changes that wait for no job.

Drops, deletes and rebuilds hold the library's job key (core.service.jobs.library_job_key) and its lease in the
database while they run, so they are refused while an indexing job writes to the library, in this process or
another, and no job can start on it half-way through them. Each is refused to an actor who may only read
(core.access) and, once done, recorded in the audit log (core.service.audit) with who did it and what it touched."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from core.access import Actor, may_write, require_write
from core.config import Settings
from core.errors import LibraryNotFoundError
from core.insight.index_quality import IndexQuality, measure_index_quality
from core.service.audit import AuditAction, record
from core.service.jobs import JobRunner, JobState, library_job_key
from core.storage import Store
from core.storage.analyzers import Language
from core.storage.base import LANGUAGE_SETTING
from core.storage.vector_index import VectorIndex
from core.types import CollectionMeta, ProgressCallback

REBUILD = "rebuild"  # the kind of a rebuild job, so a page knows how to show its outcome
VECTOR_INDEX = "vector index"  # the kind of a job changing an index's vector index

T = TypeVar("T")


@dataclass(frozen=True)
class LibraryChoice:
    names: list[str]  # every library, sorted
    start: str | None  # the library a new session starts in
    created: bool  # this call created the default library


def library_choice(store: Store, settings: Settings, actor: Actor | None = None) -> LibraryChoice:
    """Every library, creating the default one (POTION_DEFAULT_LIBRARY) on a database with none, so a first visit
    can upload at once (unless the actor may only read); a session starts in the default library when there is one,
    else in the first."""
    names = store.catalog.names()
    created = False
    if not names and may_write(actor, settings):
        # Recorded in the registry like any library: it persists, and creating it twice is harmless.
        store.catalog.create(settings.default_library)
        names, created = store.catalog.names(), True
    start = settings.default_library if settings.default_library in names else (names[0] if names else None)
    return LibraryChoice(names=names, start=start, created=created)


@contextmanager
def exclusive(store: Store, runner: JobRunner, library: str, what: str) -> Iterator[None]:
    """Hold the library against this process's jobs (so pages find the job that has it) and, through its lease in
    the database, against every other process: a CLI ingest elsewhere refuses a drop here, and the reverse."""
    with runner.exclusive(library_job_key(library), what), store.catalog.lease(library, what):
        yield


def start_exclusive(
    store: Store,
    runner: JobRunner,
    library: str,
    what: str,
    label: str,
    work: Callable[[ProgressCallback], T],
    kind: str,
) -> JobState:
    """`work(progress)` as a background job holding the library as `exclusive` does: the library's job key in this
    process for as long as it runs, and its lease in the database while it works, so no drop, delete or other job
    overlaps it, here or elsewhere. Refused (LibraryBusyError) while another job or change holds the key; a lease
    held elsewhere fails the job."""

    def held(progress: ProgressCallback) -> T:
        with store.catalog.lease(library, what):
            return work(progress)

    return runner.start(library_job_key(library), label, held, kind=kind, join=False)


def create_library(store: Store, library: str, actor: Actor | None = None, language: Language | None = None) -> None:
    """Record a library with no documents yet (creating it twice is harmless), in `language` when given (its
    keyword analyzer, core.storage.analyzers); without one, its first ingest detects it."""
    require_write(actor, f"create library '{library}'")
    store.catalog.create(library)
    if language is not None:
        store.catalog.set_setting(library, LANGUAGE_SETTING, language.code)


def drop_library(store: Store, runner: JobRunner, library: str, actor: Actor | None = None) -> int:
    """Drop the library and every index of it, unless a job is writing to it; returns the indexes dropped."""
    actor = require_write(actor, f"drop library '{library}'")
    with exclusive(store, runner, library, f"drop library {library}"):
        chunks = sum(store.index(library, model).row_count() for model in store.catalog.models(library))
        judged = len(store.judgments.list(library))
        dropped = store.catalog.drop(library)
        store.query_sets.drop(library)  # kept beside the catalog, not in it: a new library of the name starts bare
    record(
        store,
        actor,
        AuditAction.DROP_LIBRARY,
        library,
        counts={"indexes": dropped, "chunks": chunks, "judgments": judged},
    )
    return dropped


def delete_document(
    store: Store,
    runner: JobRunner,
    library: str,
    document: str,
    models: Sequence[str] | None = None,
    actor: Actor | None = None,
) -> list[str]:
    """Delete a document from every index of the library, or from the indexes of `models` only when given (each
    must exist), unless a job is writing to the library; returns the models it was deleted from."""
    actor = require_write(actor, f"delete {document} from library '{library}'")
    with exclusive(store, runner, library, f"delete {document} from {library}"):
        indexed = [meta.model_name for meta in store.catalog.collections() if meta.library == library]
        if models is not None:
            missing = [m for m in models if m not in indexed]
            if missing:
                raise LibraryNotFoundError(
                    f"Library '{library}' has no index for {', '.join(missing)}: its indexes are "
                    f"{', '.join(indexed) or 'none'}."
                )
            indexed = [m for m in indexed if m in models]
        chunks = 0
        for model in indexed:
            index = store.index(library, model)
            chunks += next((d.chunks for d in index.documents() if d.name == document), 0)
            index.delete_document(document)
    counts = {"indexes": len(indexed), "chunks": chunks}
    record(store, actor, AuditAction.DELETE_DOCUMENT, library, document, counts)
    return indexed


def rebuild_index(
    store: Store,
    runner: JobRunner,
    library: str,
    model_name: str,
    progress: ProgressCallback | None = None,
    actor: Actor | None = None,
) -> CollectionMeta:
    """Bring one index to the current schema, unless a job is writing to the library (rebuilding replaces it)."""
    actor = require_write(actor, f"rebuild {model_name} in library '{library}'")
    with exclusive(store, runner, library, f"rebuild {model_name} in {library}"):
        return _rebuilt(store, actor, library, model_name, progress)


def _rebuilt(
    store: Store, actor: Actor, library: str, model_name: str, progress: ProgressCallback | None
) -> CollectionMeta:
    meta = store.index(library, model_name).rebuild(progress)
    chunks = store.index(library, model_name).count()
    record(store, actor, AuditAction.REBUILD_INDEX, library, model_name, {"chunks": chunks})
    return meta


def set_vector_index(
    store: Store,
    runner: JobRunner,
    library: str,
    model_name: str,
    choice: VectorIndex,
    progress: ProgressCallback | None = None,
    actor: Actor | None = None,
) -> IndexQuality:
    """Index the dense field of one index with `choice`, unless a job is writing to the library, then measure its
    recall@10 against exact ranking and its latency on the library's own vectors (recorded for Costs and the CLI)."""
    actor = require_write(actor, f"change the vector index of {model_name} in library '{library}'")
    with exclusive(store, runner, library, f"change the vector index of {model_name} in {library}"):
        return _changed_index(store, actor, library, model_name, choice, progress)


def _changed_index(
    store: Store, actor: Actor, library: str, model_name: str, choice: VectorIndex, progress: ProgressCallback | None
) -> IndexQuality:
    before = VectorIndex.of(store.index(library, model_name).meta.vector_index)
    store.index(library, model_name).set_vector_index(choice)
    record(store, actor, AuditAction.VECTOR_INDEX, library, f"{model_name}: {before.label} to {choice.label}")
    return measure_index_quality(store, library, model_name, progress=progress)


def measure_vector_index(
    store: Store, library: str, model_name: str, progress: ProgressCallback | None = None, actor: Actor | None = None
) -> IndexQuality:
    """Measure the index's recall and latency again; the result is recorded in the database, so it is a write."""
    require_write(actor, f"record the recall of {model_name} in library '{library}'")
    return measure_index_quality(store, library, model_name, progress=progress)


def start_vector_index(
    store: Store, runner: JobRunner, library: str, model_name: str, choice: VectorIndex, actor: Actor | None = None
) -> JobState:
    """`set_vector_index` as a background job with progress, held against other jobs and changes as a rebuild is."""
    actor = require_write(actor, f"change the vector index of {model_name} in library '{library}'")
    return start_exclusive(
        store,
        runner,
        library,
        f"change the vector index of {model_name} in {library}",
        f"Indexing {model_name} in {library} with {choice.label}",
        lambda progress: _changed_index(store, actor, library, model_name, choice, progress),
        VECTOR_INDEX,
    )


def start_rebuild(
    store: Store, runner: JobRunner, library: str, model_name: str, actor: Actor | None = None
) -> JobState:
    """`rebuild_index` as a background job with progress, holding the library while it copies (`start_exclusive`)."""
    actor = require_write(actor, f"rebuild {model_name} in library '{library}'")
    return start_exclusive(
        store,
        runner,
        library,
        f"rebuild {model_name} in {library}",
        f"Rebuilding {model_name} in {library} with keyword search",
        lambda progress: _rebuilt(store, actor, library, model_name, progress),
        REBUILD,
    )
