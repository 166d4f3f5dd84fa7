"""Measuring a library's costs from an edge: an editor's measurements are kept in the database (a write, checked like
any other), a reader's are measured all the same and returned, saying why they were not kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from core.access import Actor, require_write
from core.embed.embedder import Embedder
from core.errors import ReadOnlyError
from core.insight.costs import CostReport, measure_costs
from core.storage import Store
from core.types import ProgressCallback


def measure_library_costs(
    store: Store,
    library: str,
    load: Callable[[str], Embedder],
    progress: ProgressCallback | None = None,
    actor: Actor | None = None,
    again: bool = False,
) -> CostReport:
    """Measure the library's indexes that have no current measurement (all of them when `again`), keeping each in
    the database when the actor may write; measuring itself only reads, so a reader is not refused it."""
    try:
        require_write(actor, f"keep cost measurements in library '{library}'")
    except ReadOnlyError as exc:
        return replace(measure_costs(store, library, load, progress, again=again, keep=False), not_kept=str(exc))
    return measure_costs(store, library, load, progress, again=again)
