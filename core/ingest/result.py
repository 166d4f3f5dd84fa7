"""What one ingest did: every document's outcome, in the order read, and the chunk counts the CLI and pages show."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.types import DocumentOutcome, DocumentStatus


@dataclass
class IngestResult:
    library: str
    model: str
    outcomes: list[DocumentOutcome] = field(default_factory=list)  # one per document, in the order they were read
    chunks_added: int = 0
    chunks_unchanged: int = 0  # chunks of documents already stored with the same text
    chunks_unreadable: int = 0  # chunks with no word the model knows, left out
    chunks_total: int = 0
    files_ok: int = 0
    seconds: float = 0.0

    @property
    def failures(self) -> list[DocumentOutcome]:
        return [o for o in self.outcomes if o.status == DocumentStatus.FAILED]

    def count(self, status: DocumentStatus) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def summary(self) -> dict:
        """The JSON the CLI prints: counts plus every failure with its message."""
        return {
            "library": self.library,
            "model": self.model,
            "files_ok": self.files_ok,
            "files_failed": [{"file": o.document, "error": o.message} for o in self.failures],
            "documents_indexed": self.count(DocumentStatus.INDEXED),
            "documents_unchanged": self.count(DocumentStatus.UNCHANGED),
            "chunks_added": self.chunks_added,
            "chunks_unchanged": self.chunks_unchanged,
            "chunks_unreadable": self.chunks_unreadable,
            "chunks_total": self.chunks_total,
            "seconds": round(self.seconds, 3),
        }
