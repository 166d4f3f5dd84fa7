"""Changes to a library's judgments and hybrid default as the app and the CLI make them: refused to an actor who may
only read (core.evaluate checks it where it writes) and, once done, recorded in the audit log.

Marking one hit on the Search page (core.evaluate.judgments.judge) is checked but not logged: it adds a verdict,
as judging is meant to; importing, deleting or flipping verdicts and changing the hybrid default are logged."""

from __future__ import annotations

from collections.abc import Sequence

from core.access import Actor, acting
from core.evaluate import judgment_files
from core.evaluate import judgments as judging
from core.evaluate.judgment_files import ImportSummary
from core.evaluate.judgments import HybridDefault, HybridSweep, Revision
from core.service.audit import AuditAction, record
from core.storage import Store
from core.types import Judgment


def import_judgments(
    store: Store, library: str, judgments: Sequence[Judgment], actor: Actor | None = None
) -> ImportSummary:
    """Add `judgments` to the library (core.evaluate.judgment_files.import_judgments) and log the counts."""
    actor = acting(actor)
    done = judgment_files.import_judgments(store, library, judgments, actor)
    counts = {"added": done.added, "replaced": done.replaced, "unchanged": done.unchanged}
    record(store, actor, AuditAction.IMPORT_JUDGMENTS, library, counts=counts)
    return done


def revise_judgments(
    store: Store,
    library: str,
    judgments: Sequence[Judgment],
    relevant: Sequence[bool],
    delete: Sequence[bool],
    actor: Actor | None = None,
) -> Revision:
    """Apply the Judgments page's edited table; logs how many verdicts were deleted and flipped, if any."""
    actor = acting(actor)
    done = judging.revise_judgments(store, library, judgments, relevant, delete, actor)
    if done.changed:
        counts = {"deleted": done.deleted, "flipped": done.flipped}
        record(store, actor, AuditAction.EDIT_JUDGMENTS, library, counts=counts)
    return done


def adopt_hybrid_default(store: Store, library: str, sweep: HybridSweep, actor: Actor | None = None) -> HybridDefault:
    """Make the sweep's best weight the library's hybrid default; logs the weight, the one it replaced, and the
    judgments it was chosen on."""
    actor = acting(actor)
    before = judging.hybrid_default(store, library)
    chosen = judging.adopt_hybrid_default(store, library, sweep, actor)
    was = f", was {before.weight:.1f}" if before is not None else ", was none"
    what = f"weight {chosen.weight:.1f} ({chosen.model}{was})"
    counts = {"queries": chosen.queries, "judgments": chosen.judgments}
    record(store, actor, AuditAction.HYBRID_DEFAULT, library, what, counts)
    return chosen
