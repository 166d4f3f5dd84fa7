"""The ingest pipeline: read -> chunk -> embed -> upsert, with progress and a per-file account."""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from core.access import Actor, require_write
from core.config import Settings, settings_or_environment
from core.embed.embedder import Embedder
from core.errors import ChunkingError
from core.ingest.chunking import ChunkSettings
from core.ingest.index_time import record_index_time
from core.ingest.workers import embedded_batches
from core.read.documents import Document, FailureKind, ReadFailure, ReadLimits, ReadResult, read_bytes, read_path
from core.read.naming import SourceRead, unique_names
from core.sizes import format_bytes
from core.storage import Store
from core.types import CollectionMeta, DocumentOutcome, DocumentStatus, ProgressCallback

Source = Path | str | tuple[str, bytes]  # a path, or an uploaded file's (name, bytes)
# Two batches written at once: while one waits for the engine (GIL released), pymilvus packs the other.
WRITERS = 2


@dataclass
class IngestResult:
    library: str
    model: str
    outcomes: list[DocumentOutcome] = field(default_factory=list)
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


def no_progress(stage: str, done: int, total: int) -> None:
    return None


def read_sources(
    sources: Sequence[Source],
    progress: ProgressCallback = no_progress,
    max_bytes: int | None = None,
    settings: Settings | None = None,
) -> ReadResult:
    """Read every source; documents get unique stored names across the batch (core.read.naming)."""
    settings = settings_or_environment(settings)
    limits = ReadLimits.of(settings)
    reads: list[SourceRead] = []
    upload_left = settings.max_upload_bytes
    # Every stage reports 0/total as it starts, so rates are measured from the stage's real start.
    progress("read", 0, len(sources))
    for i, source in enumerate(sources):
        if isinstance(source, tuple):
            name, data = source
            if len(data) > upload_left:  # refused before it is parsed; later, smaller files may still fit
                reads.append(SourceRead(None, _past_upload_limit(name, settings.max_upload_bytes)))
            else:
                upload_left -= len(data)
                reads.append(SourceRead(None, read_bytes(name, data, max_bytes, limits)))
        else:
            reads.append(SourceRead(Path(source), read_path(source, max_bytes, limits)))
        progress("read", i + 1, len(sources))
    return unique_names(reads)


def _past_upload_limit(name: str, upload_bytes: int) -> ReadResult:
    limit = format_bytes(upload_bytes, exact=True)
    message = (
        f"{name} would take this upload past {limit} in all: upload it in another batch, or raise POTION_MAX_UPLOAD_MB."
    )
    return ReadResult([], [ReadFailure(name, FailureKind.TOO_LARGE, message, source=name)])


def ingest(
    sources: Sequence[Source],
    library: str,
    embedder: Embedder,
    store: Store,
    chunking: ChunkSettings | None = None,
    progress: ProgressCallback = no_progress,
    settings: Settings | None = None,
    actor: Actor | None = None,
) -> IngestResult:
    """Index files into the library's collection for this model; re-running converges and adds nothing new.

    The library's lease is held throughout (shared: other ingests may write beside this one), so no other process
    drops, deletes from or rebuilds it meanwhile. Refused (ReadOnlyError) to an actor who may only read."""
    started = time.perf_counter()
    settings = settings_or_environment(settings)
    actor = require_write(actor, ingest_action(library), settings)
    with store.catalog.lease(library, ingest_label(library), shared=True):
        read = read_sources(sources, progress, settings=settings)
        return ingest_documents(
            read, library, embedder, store, chunking, progress, started, settings, held=True, actor=actor
        )


def ingest_label(library: str) -> str:
    """What an ingest is called in the message another change of the library gets."""
    return f"ingest into {library}"


def ingest_action(library: str) -> str:
    """What an ingest is called when it is refused to a reader."""
    return f"index documents into library '{library}'"


def _holding_the_lease(write: Callable[..., IngestResult]) -> Callable[..., IngestResult]:
    """Hold the library's lease while `write` runs, unless its caller says (`held=True`) that it holds it; refuse
    first an actor who may only read (every path that writes chunks comes through here)."""

    @functools.wraps(write)
    def held_while(
        read: ReadResult,
        library: str,
        embedder: Embedder,
        store: Store,
        *args,
        held: bool = False,
        actor: Actor | None = None,
        **kwargs,
    ) -> IngestResult:
        require_write(actor, ingest_action(library), kwargs.get("settings"))
        with nullcontext() if held else store.catalog.lease(library, ingest_label(library), shared=True):
            return write(read, library, embedder, store, *args, **kwargs)

    return held_while


@_holding_the_lease
def ingest_documents(
    read: ReadResult,
    library: str,
    embedder: Embedder,
    store: Store,
    chunking: ChunkSettings | None = None,
    progress: ProgressCallback = no_progress,
    started: float | None = None,
    settings: Settings | None = None,
) -> IngestResult:
    started = time.perf_counter() if started is None else started
    settings = settings_or_environment(settings)
    info = embedder.info
    existing_meta = store.catalog.find(library, info.name)
    chunking = library_chunking(store, library, info.name, settings) if chunking is None else chunking
    meta = CollectionMeta(
        library,
        info.name,
        info.source,
        info.kind,
        info.fingerprint,
        info.dim,
        chunking.as_dict(),
        model_variant=info.variant,
    )
    store.catalog.ensure(meta)
    result = IngestResult(library=library, model=info.name)
    result.outcomes.extend(
        DocumentOutcome(f.name, DocumentStatus.FAILED, message=f.message, source=f.source) for f in read.failures
    )

    stored = {d.name: d for d in store.index(library, info.name).documents()}
    todo: list[Document] = []
    for doc in read.documents:
        previous = stored.get(doc.name)
        if previous is not None and previous.doc_hash == doc.content_hash:
            outcome = DocumentOutcome(doc.name, DocumentStatus.UNCHANGED, previous.chunks, source=doc.source)
            result.outcomes.append(outcome)
            result.chunks_unchanged += previous.chunks
        else:
            todo.append(doc)

    writing = time.perf_counter()
    if existing_meta is not None and todo:
        # Drop older or partly written versions once, up front: one delete per batch grew with the
        # ingest on Lite 3.x (13-21% of a SciFact ingest). A crash after this leaves those documents
        # absent, not half-present, and the next run writes them again.
        progress("clean", 0, 1)
        store.index(library, info.name).delete_documents([doc.name for doc in todo])
        progress("clean", 1, 1)
    _index(todo, library, embedder, store, chunking, result, progress, settings)
    if todo:
        progress("flush", 0, 1)
        store.index(library, info.name).flush()
        progress("flush", 1, 1)
    if result.chunks_added:
        record_index_time(store, library, info.name, time.perf_counter() - writing, result.chunks_added)

    result.files_ok = len({o.source or o.document for o in result.outcomes if o.status != DocumentStatus.FAILED})
    result.chunks_total = store.index(library, info.name).count()
    result.seconds = time.perf_counter() - started
    return result


def library_chunking(
    store: Store, library: str, model_name: str | None = None, settings: Settings | None = None
) -> ChunkSettings:
    """The settings of this library: the chunking its indexes recorded (this model's own first), else the
    defaults. Every model of a library cuts the text the same way, so their hits line up side by side."""
    metas = [meta for meta in store.catalog.collections() if meta.library == library]
    recorded = next((m for m in metas if m.model_name == model_name), metas[0] if metas else None)
    return ChunkSettings(**recorded.chunking) if recorded else default_chunking(settings)


def requested_chunking(
    store: Store,
    library: str,
    size: int | None = None,
    overlap: int | None = None,
    unit: str | None = None,
    settings: Settings | None = None,
) -> ChunkSettings | None:
    """The chunking asked for by option, each option missing taken from the library's (None: nothing asked).

    A library's chunking is fixed by its first index, as the Library page shows it (its inputs are locked then):
    asking for other settings in a library that has an index is refused, never silently mixed."""
    if size is None and overlap is None and unit is None:
        return None
    base = library_chunking(store, library, settings=settings)
    asked = ChunkSettings(
        size=base.size if size is None else size,
        overlap=base.overlap if overlap is None else overlap,
        unit=base.unit if unit is None else unit,
    )
    if asked != base and any(meta.library == library for meta in store.catalog.collections()):
        raise ChunkingError(
            f"Library '{library}' is chunked {base.size} {base.unit.value} with overlap {base.overlap}, fixed by its "
            "first index: leave out the chunking options, or index into a new library."
        )
    return asked


def default_chunking(settings: Settings | None = None) -> ChunkSettings:
    s = settings_or_environment(settings)
    return ChunkSettings(size=s.chunk_size, overlap=s.chunk_overlap, unit=s.chunk_unit)


def _index(
    todo: list[Document],
    library: str,
    embedder: Embedder,
    store: Store,
    chunking: ChunkSettings,
    result: IngestResult,
    progress: ProgressCallback,
    settings: Settings,
) -> None:
    """Chunk, embed and write the documents a batch at a time.

    One writer thread writes batch n while batch n+1 is chunked and encoded (in a worker process for
    large ingests, see core.ingest.workers), so the engine, the tokenizer and pymilvus work at once. Progress
    counts documents whose chunks are written."""
    progress("index", 0, len(todo))
    with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="ingest-write") as writer:
        pending: deque[tuple[Future, int]] = deque()
        done = 0
        for batch in embedded_batches(todo, embedder, chunking, settings.ingest_workers, settings.max_chunks_per_file):
            result.outcomes.extend(batch.outcomes)
            result.chunks_unreadable += batch.unreadable_chunks
            if len(pending) == WRITERS:
                done += _finish(pending.popleft(), result)
                progress("index", done, len(todo))
            # Every document here is absent from the store: new, or its old version deleted above.
            write = writer.submit(store.index(library, embedder.info.name).write, batch.rows, new=True)
            pending.append((write, batch.documents))
        while pending:
            done += _finish(pending.popleft(), result)
            progress("index", done, len(todo))


def _finish(pending: tuple[Future, int], result: IngestResult) -> int:
    """Wait for a batch's write; returns how many documents the batch held."""
    future, documents = pending
    result.chunks_added += future.result()
    return documents


def ingest_with_models(
    sources: Sequence[Source],
    library: str,
    model_names: Sequence[str],
    store: Store,
    chunking: ChunkSettings | None = None,
    progress: ProgressCallback = no_progress,
    settings: Settings | None = None,
    actor: Actor | None = None,
) -> list[IngestResult]:
    """Index the same files with several models, one after another; stages are prefixed by the model."""
    from core.embed.loading import load_embedder

    settings = settings_or_environment(settings)
    actor = require_write(actor, ingest_action(library), settings)
    results = []
    with store.catalog.lease(library, ingest_label(library), shared=True):
        read = read_sources(sources, progress, settings=settings)
        for name in model_names:
            embedder = load_embedder(name, settings=settings)

            def tagged(stage: str, done: int, total: int, model: str = name) -> None:
                progress(f"{model}: {stage}", done, total)

            results.append(
                ingest_documents(
                    read, library, embedder, store, chunking, tagged, settings=settings, held=True, actor=actor
                )
            )
    return results
