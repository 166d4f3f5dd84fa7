"""Query sets as the app and the CLI make, list, run and delete them: making and deleting one is refused to an actor
who may only read and recorded in the audit log; running one writes nothing (core.search.set_run).

Judging a hit of a run goes through core.evaluate.judgments.judge, as judging on the Search page does: checked,
and not logged (judging is what the library's verdicts are for; importing or editing them is logged)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from core.access import Actor, require_write
from core.embed.embedder import Embedder
from core.errors import LibraryNotFoundError, QuerySetError
from core.evaluate.query_sets import check_name
from core.evaluate.results import RunKey
from core.ingest.pipeline import no_progress
from core.search.set_run import SetRun, run_set
from core.service.audit import AuditAction, record
from core.storage import Store
from core.types import ProgressCallback, QuerySet, SetQuery


def create_query_set(
    store: Store,
    library: str,
    name: str,
    queries: Sequence[SetQuery],
    source: str,
    actor: Actor | None = None,
) -> QuerySet:
    """Keep a new set of `queries` (read by core.evaluate.query_sets) under `name` in the library, and log it."""
    actor = require_write(actor, f"make a query set in library '{library}'")
    name = check_name(name)
    if library not in store.catalog.names():
        raise LibraryNotFoundError(f"There is no library named '{library}': check the name with `libraries`.")
    if not queries:
        raise QuerySetError(f"The query set '{name}' holds no query: give at least one.")
    if store.query_sets.get(library, name) is not None:
        raise QuerySetError(
            f"Library '{library}' already has a query set named '{name}': pick another name, or delete that set first."
        )
    made = QuerySet(
        library=library,
        name=name,
        queries=tuple(queries),
        source=source,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        created_by=actor.name,
    )
    store.query_sets.put(made)
    record(store, actor, AuditAction.CREATE_QUERY_SET, library, f"'{name}' from {source}", {"queries": len(queries)})
    return made


def delete_query_set(store: Store, library: str, name: str, actor: Actor | None = None) -> QuerySet:
    """Remove the set and log it; returns what was removed."""
    actor = require_write(actor, f"delete query set '{name}' of library '{library}'")
    doomed = query_set(store, library, name)
    store.query_sets.delete(library, name)
    record(store, actor, AuditAction.DELETE_QUERY_SET, library, f"'{name}'", {"queries": len(doomed.queries)})
    return doomed


def query_sets(store: Store, library: str) -> list[QuerySet]:
    return store.query_sets.list(library)


def query_set(store: Store, library: str, name: str) -> QuerySet:
    """The set, or a QuerySetError naming the sets the library has."""
    found = store.query_sets.get(library, name)
    if found is not None:
        return found
    names = [s.name for s in store.query_sets.list(library)]
    have = f"its sets are {', '.join(repr(n) for n in names)}" if names else "it has none yet"
    raise QuerySetError(f"Library '{library}' has no query set named '{name}': {have}.")


def run_query_set(
    store: Store,
    library: str,
    name: str,
    columns: Sequence[RunKey],
    embedders: Mapping[str, Embedder],
    top_k: int = 5,
    progress: ProgressCallback = no_progress,
) -> SetRun:
    """Every query of the set searched in every column, with verdicts and agreement (core.search.set_run)."""
    return run_set(query_set(store, library, name), columns, store, embedders, top_k, progress)
