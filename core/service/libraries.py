"""Whole libraries as the app handles them: the default one on an empty database, and changes that wait for no job.

Drops, deletes and rebuilds hold the library's job key (core.service.jobs.library_job_key) and its lease in the
database while they run, so they are refused while an indexing job writes to the library, in this process or
another, and no job can start on it half-way through them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from core.config import Settings
from core.errors import LibraryNotFoundError
from core.service.jobs import JobRunner, JobState, library_job_key
from core.storage import Store
from core.types import CollectionMeta, ProgressCallback

REBUILD = "rebuild"  # the kind of a rebuild job, so a page knows how to show its outcome


@dataclass(frozen=True)
class LibraryChoice:
    names: list[str]  # every library, sorted
    start: str | None  # the library a new session starts in
    created: bool  # this call created the default library


def library_choice(store: Store, settings: Settings) -> LibraryChoice:
    """Every library, creating the default one (POTION_DEFAULT_LIBRARY) on a database with none, so a first visit
    can upload at once; a session starts in the default library when there is one, else in the first."""
    names = store.catalog.names()
    created = False
    if not names:
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


def drop_library(store: Store, runner: JobRunner, library: str) -> int:
    """Drop the library and every index of it, unless a job is writing to it; returns the indexes dropped."""
    with exclusive(store, runner, library, f"drop library {library}"):
        return store.catalog.drop(library)


def delete_document(
    store: Store, runner: JobRunner, library: str, document: str, models: Sequence[str] | None = None
) -> list[str]:
    """Delete a document from every index of the library, or from the indexes of `models` only when given (each
    must exist), unless a job is writing to the library; returns the models it was deleted from."""
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
        for model in indexed:
            store.index(library, model).delete_document(document)
        return indexed


def rebuild_index(
    store: Store, runner: JobRunner, library: str, model_name: str, progress: ProgressCallback | None = None
) -> CollectionMeta:
    """Bring one index to the current schema, unless a job is writing to the library (rebuilding replaces it)."""
    with exclusive(store, runner, library, f"rebuild {model_name} in {library}"):
        return store.index(library, model_name).rebuild(progress)


def start_rebuild(store: Store, runner: JobRunner, library: str, model_name: str) -> JobState:
    """`rebuild_index` as a background job with progress: the job holds the library's job key in this process and
    its lease in the database while it copies, so no drop, delete or other job overlaps it, here or elsewhere;
    refused (LibraryBusyError) while another job or change holds the key (a lease held elsewhere fails the job)."""
    what = f"rebuild {model_name} in {library}"

    def rebuild(progress: ProgressCallback) -> CollectionMeta:
        with store.catalog.lease(library, what):
            return store.index(library, model_name).rebuild(progress)

    return runner.start(
        library_job_key(library),
        f"Rebuilding {model_name} in {library} with keyword search",
        rebuild,
        kind=REBUILD,
        join=False,
    )
