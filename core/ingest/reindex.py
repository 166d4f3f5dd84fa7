"""Index a library with another model from what the store already holds, without the original files.

A document is rebuilt only when its stored chunks give back its exact text, checked against the content
hash recorded at ingest. Chunks hold every non-blank character with its offsets, so only the white space
between them is unknown; a chunk cut at the store's text limit, or one left out (no word the model knew),
leaves a hole no guess can fill. Such documents are reported as needing their file, never invented.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from core.access import Actor, require_write
from core.config import Settings
from core.embed.embedder import Embedder
from core.errors import LibraryNotFoundError
from core.ingest.chunking import ChunkSettings
from core.ingest.pipeline import IngestResult, ingest_action, ingest_documents, no_progress
from core.read.documents import Document, FailureKind, ReadFailure, ReadResult, content_hash
from core.storage import Store
from core.types import ProgressCallback

# Fillings tried for the white space between two chunks, most likely first (clean_text leaves no
# trailing spaces on a line, so a gap is a space, line breaks, or line breaks before an indent).
_ONE = (" ", "\n")
MAX_TRIES = 4_096  # fillings hashed per document before giving up on it


@dataclass(frozen=True)
class Rebuilt:
    """The documents whose exact text came back, and those that need their file."""

    documents: list[Document] = field(default_factory=list)
    missing: list[ReadFailure] = field(default_factory=list)


def rebuild_documents(store: Store, library: str, model_name: str) -> Rebuilt:
    """Reassemble each document's text from its chunks' offsets; keep only those matching their content hash."""
    by_doc: dict[str, list[dict]] = defaultdict(list)
    for row in store.index(library, model_name).chunk_rows():
        by_doc[row["document"]].append(row)
    out = Rebuilt()
    for name, rows in sorted(by_doc.items()):
        doc = _assemble(name, rows)
        if doc is None:
            message = (
                f"{name} cannot be rebuilt from its stored chunks (part of its text was cut or left out): "
                "add the file again to index it with this model."
            )
            out.missing.append(ReadFailure(name, FailureKind.NO_TEXT, message, source=name))
        else:
            out.documents.append(doc)
    return out


def _assemble(name: str, rows: list[dict]) -> Document | None:
    rows.sort(key=lambda r: (r["start"], r["end"]))
    if any(len(r["text"]) != r["end"] - r["start"] for r in rows):
        return None  # stored text cut at the store's limit
    pieces: list[str] = []  # known text between the gaps
    gaps: list[int] = []  # unknown white space before pieces[i + 1] (and before pieces[0])
    cursor = 0
    for row in rows:
        if row["end"] <= cursor and pieces:
            continue
        if row["start"] > cursor or not pieces:
            gaps.append(row["start"] - cursor)
            pieces.append(row["text"])
        else:
            pieces[-1] += row["text"][cursor - row["start"] :]
        cursor = row["end"]
    first = rows[0]
    for fill in _fillings(gaps):
        text = "".join(gap + piece for gap, piece in zip(fill, pieces, strict=True))
        if content_hash(text) == first["doc_hash"]:
            return Document(
                name=name,
                text=text,
                doc_type=first["doc_type"],
                content_hash=first["doc_hash"],
                title=first["title"] or None,
                source=name,
            )
    return None


def _fillings(gaps: list[int]) -> Iterator[tuple[str, ...]]:
    """White space for each gap: every combination while few, else each choice made alike everywhere."""
    options = [_options(gap) for gap in gaps]
    combos = 1
    for choice in options:
        combos *= len(choice)
    if combos <= MAX_TRIES:
        yield from itertools.product(*options)
        return
    for pick in range(3):
        yield tuple(choice[min(pick, len(choice) - 1)] for choice in options)


def _options(gap: int) -> tuple[str, ...]:
    if gap <= 0:
        return ("",)
    if gap == 1:
        return _ONE
    return ("\n" * gap, "\n\n" + " " * (gap - 2), " " * gap, "\n" + " " * (gap - 1))


def index_like(
    library: str,
    embedder: Embedder,
    store: Store,
    chunking: ChunkSettings | None = None,
    progress: ProgressCallback = no_progress,
    settings: Settings | None = None,
    actor: Actor | None = None,
) -> IngestResult:
    """Index the library's documents with `embedder`, taking them from any model already indexed.

    Documents that cannot be rebuilt exactly are listed as failed, each saying to add its file again."""
    actor = require_write(actor, ingest_action(library), settings)
    sources = [meta for meta in store.catalog.collections() if meta.library == library]
    source = next((m for m in sources if m.model_name != embedder.info.name), None)
    if source is None:
        raise LibraryNotFoundError(f"Library '{library}' has no documents indexed with another model to start from.")
    rebuilt = rebuild_documents(store, library, source.model_name)
    total = len(rebuilt.documents) + len(rebuilt.missing)
    progress("read", total, total)
    read = ReadResult(documents=rebuilt.documents, failures=rebuilt.missing)
    return ingest_documents(read, library, embedder, store, chunking, progress, settings=settings, actor=actor)
