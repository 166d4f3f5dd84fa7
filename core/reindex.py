"""Index a library with another model from what the store already holds, without the original files."""

from __future__ import annotations

from collections import defaultdict

from core.chunking import ChunkSettings
from core.documents import Document, ReadResult
from core.embedder import Embedder
from core.errors import LibraryNotFoundError
from core.ingest import IngestResult, ProgressCallback, ingest_documents, no_progress
from core.storage import Store


def rebuild_documents(store: Store, library: str, model_name: str) -> list[Document]:
    """Reassemble each document's text from its chunks' offsets.

    Chunks cover every non-blank character of a document, so only the white space between them is
    unknown: one character becomes a space, longer gaps become line breaks (paragraphs). The
    original content hash is kept, so the rebuilt document counts as the same document."""
    by_doc: dict[str, list[dict]] = defaultdict(list)
    for row in store.chunk_rows(library, model_name):
        by_doc[row["document"]].append(row)
    return [_assemble(name, rows) for name, rows in sorted(by_doc.items())]


def _assemble(name: str, rows: list[dict]) -> Document:
    rows.sort(key=lambda r: (r["start"], r["end"]))
    parts, cursor = [], 0
    for row in rows:
        if row["end"] <= cursor:
            continue
        if row["start"] > cursor:
            gap = row["start"] - cursor
            parts.append(" " if gap == 1 else "\n" * gap)
            parts.append(row["text"])
        else:
            parts.append(row["text"][cursor - row["start"] :])
        cursor = row["end"]
    text = "".join(parts)
    first = rows[0]
    return Document(
        name=name,
        text=text,
        doc_type=first["doc_type"],
        size_bytes=len(text.encode("utf-8")),
        content_hash=first["doc_hash"],
        title=first["title"] or None,
    )


def index_like(
    library: str,
    embedder: Embedder,
    store: Store,
    chunking: ChunkSettings | None = None,
    progress: ProgressCallback = no_progress,
) -> IngestResult:
    """Index the library's documents with `embedder`, taking them from any model already indexed."""
    sources = [meta for meta in store.collections() if meta.library == library]
    source = next((m for m in sources if m.model_name != embedder.info.name), None)
    if source is None:
        raise LibraryNotFoundError(f"Library '{library}' has no documents indexed with another model to start from.")
    documents = rebuild_documents(store, library, source.model_name)
    progress("read", len(documents), len(documents))
    if chunking is None and store.find(library, embedder.info.name) is None:
        chunking = ChunkSettings(**source.chunking)
    return ingest_documents(ReadResult(documents=documents, failures=[]), library, embedder, store, chunking, progress)
