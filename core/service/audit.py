"""The audit log: every destructive or shared-state change recorded with who, when, what and the counts it touched,
in the database (`store.audit`), so the app's Audit page and `python -m core audit` read one log whoever wrote it.

The service functions that make those changes (core.service.libraries, core.service.judgments, core.service.runs)
record them here once they are done; a refused or failed change leaves no entry."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from enum import StrEnum

from core.access import Actor
from core.storage import Store
from core.types import AuditEntry


class AuditAction(StrEnum):
    DROP_LIBRARY = "drop library"
    DELETE_DOCUMENT = "delete document"
    REBUILD_INDEX = "rebuild index"
    IMPORT_JUDGMENTS = "import judgments"
    EDIT_JUDGMENTS = "edit judgments"  # judgments deleted or their verdicts flipped on the Judgments page
    HYBRID_DEFAULT = "set hybrid default"
    VECTOR_INDEX = "set vector index"
    DELETE_RUN = "delete run"  # a saved evaluation run (core.service.runs)
    IMPORT_RUNS = "import runs"
    CREATE_QUERY_SET = "create query set"
    DELETE_QUERY_SET = "delete query set"
    SET_LANGUAGE = "set language"  # the library's language, its keyword indexes analysed anew


_clock = threading.Lock()
_last_ns = 0


def _now_ns() -> int:
    """Nanoseconds since the epoch, strictly increasing in this process: entries made in one millisecond (a drop
    right after a rebuild) still list in the order they were made."""
    global _last_ns
    with _clock:
        _last_ns = max(time.time_ns(), _last_ns + 1)
        return _last_ns


def record(
    store: Store,
    actor: Actor,
    action: AuditAction,
    library: str,
    what: str = "",
    counts: Mapping[str, int] | None = None,
) -> AuditEntry:
    """Add one entry, stamped now (UTC), to the store's log; returns it."""
    ns = _now_ns()
    entry = AuditEntry(
        at=datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="milliseconds"),
        who=actor.name,
        identity=str(actor.identity),
        action=str(action),
        library=library,
        what=what,
        counts={k: int(v) for k, v in (counts or {}).items()},
        id=f"{ns:020d}-{uuid.uuid4().hex[:12]}",  # sorts in time order; unique across processes
    )
    store.audit.add(entry)
    return entry


def entries(store: Store, limit: int | None = None) -> list[AuditEntry]:
    """The newest `limit` entries of the log (all with None), newest first."""
    return store.audit.list(limit)


def counts_text(entry: AuditEntry) -> str:
    """The counts as people read them: "2 indexes, 130 chunks, 4 judgments"."""
    return ", ".join(f"{n:,} {name}" for name, n in entry.counts.items())


def entry_line(entry: AuditEntry) -> str:
    """One entry on one line, as the CLI prints the log."""
    what = f" {entry.what}" if entry.what else ""
    counts = f" ({counts_text(entry)})" if entry.counts else ""
    return f"{entry.at}  {entry.who} ({entry.identity})  {entry.action} in '{entry.library}'{what}{counts}"


def entry_dict(entry: AuditEntry) -> dict:
    return asdict(entry)
