"""The ingest pipeline: read -> chunk -> embed -> upsert, with progress and a per-file account.

Files are read as they are indexed: documents go on to be chunked, embedded and written a batch at a time, so the
memory an ingest takes depends on its batches, not on the size of its files (a JSONL collection given by path is
read a line at a time). What stays for the whole run is a name and a hash per document: the batch's names must stay
unique (core.read.naming.Repeats) and unchanged documents are skipped by their hash.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace

from core.access import Actor, require_write
from core.config import Settings, settings_or_environment
from core.embed.embedder import Embedder
from core.errors import ChunkingError
from core.ingest.chunking import ChunkSettings
from core.ingest.index_time import record_index_time
from core.ingest.language import DETECT_MAX_CHARS, DETECTED_SETTING, detection
from core.ingest.result import IngestResult
from core.ingest.writing import Meter, write_stream
from core.read.batch import Source, SourceBatch
from core.read.documents import Item, ReadResult
from core.storage import Store
from core.storage.base import LANGUAGE_SETTING
from core.types import CollectionMeta, DocumentStatus, ProgressCallback

# Progress stages: an ingest that reads as it indexes counts bytes of its files; one given documents counts them.
INGEST_STAGE, INDEX_STAGE = "ingest", "index"


def no_progress(stage: str, done: int, total: int) -> None:
    return None


def read_sources(
    sources: Sequence[Source],
    progress: ProgressCallback = no_progress,
    max_bytes: int | None = None,
    settings: Settings | None = None,
) -> ReadResult:
    """Read every source and hold it all (to index one read with several models); documents get unique stored names
    across the batch (core.read.naming). Progress counts the sources given."""
    batch = SourceBatch(sources, settings_or_environment(settings), max_bytes)
    items: list[Item] = []
    # Every stage reports 0/total as it starts, so rates are measured from the stage's real start.
    progress("read", 0, len(sources))
    for i, source in enumerate(batch.by_source()):
        items.extend(item for item, _ in source)
        progress("read", i + 1, len(sources))
    return ReadResult.of(items)


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

    The files are read as they are indexed (progress: stage "ingest", in bytes of the files). The library's lease
    is held throughout (shared: other ingests may write beside this one), so no other process drops, deletes from or
    rebuilds it meanwhile. Refused (ReadOnlyError) to an actor who may only read."""
    started = time.perf_counter()
    settings = settings_or_environment(settings)
    actor = require_write(actor, ingest_action(library), settings)
    with store.catalog.lease(library, ingest_label(library), shared=True):
        batch = SourceBatch(sources, settings)
        stream = _Stream(batch, batch.total, INGEST_STAGE)
        return _index_stream(stream, library, embedder, store, chunking, progress, started, settings)


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
    """Index documents already read (progress: stage "index", in documents)."""
    stream = _Stream(_in_order(read), len(read.documents), INDEX_STAGE)
    return _index_stream(
        stream, library, embedder, store, chunking, progress, started, settings_or_environment(settings)
    )


@dataclass(frozen=True)
class _Stream:
    """What an ingest indexes: documents and failures in order, each with how far the stream is after it, of
    `total`, in the unit of the progress `stage`."""

    items: Iterable[tuple[Item, int]]
    total: int
    stage: str


def _in_order(read: ReadResult) -> Iterator[tuple[Item, int]]:
    """A read already made as a stream: its failures, then its documents, counted."""
    yield from ((failure, 0) for failure in read.failures)
    yield from ((doc, number) for number, doc in enumerate(read.documents, start=1))


def _index_stream(
    stream: _Stream,
    library: str,
    embedder: Embedder,
    store: Store,
    chunking: ChunkSettings | None,
    progress: ProgressCallback,
    started: float | None,
    settings: Settings,
) -> IngestResult:
    started = time.perf_counter() if started is None else started
    info = embedder.info
    existing_meta = store.catalog.find(library, info.name)
    chunking = library_chunking(store, library, info.name, settings) if chunking is None else chunking
    items, language = _with_language(store, library, stream.items)
    stream = replace(stream, items=items)
    meta = CollectionMeta(
        library,
        info.name,
        info.source,
        info.kind,
        info.fingerprint,
        info.dim,
        chunking.as_dict(),
        model_variant=info.variant,
        language=language,
    )
    store.catalog.ensure(meta)
    index = store.index(library, info.name)
    result = IngestResult(library=library, model=info.name)
    stored = {d.name: d for d in index.documents()} if existing_meta is not None else None
    meter = Meter(progress, stream.stage, stream.total)

    writing = time.perf_counter()
    write_stream(stream.items, index, embedder, chunking, stored, result, meter, settings)
    meter.finish()
    if meter.sent:
        progress("flush", 0, 1)
        index.flush()
        progress("flush", 1, 1)
    if result.chunks_added:  # reading is part of the time where it is interleaved with writing (ingest)
        record_index_time(store, library, info.name, time.perf_counter() - writing, result.chunks_added)

    result.files_ok = len({o.source or o.document for o in result.outcomes if o.status != DocumentStatus.FAILED})
    result.chunks_total = index.count()
    result.seconds = time.perf_counter() - started
    return result


def _with_language(
    store: Store, library: str, items: Iterable[tuple[Item, int]]
) -> tuple[Iterable[tuple[Item, int]], str]:
    """The library's language, detected from its first documents when it has none and was never detected (and
    recorded, so its next indexes follow; that it was detected too, so an English library is not detected at every
    ingest), with the items to index: those read to detect it come first, none lost."""
    language = store.catalog.language(library)
    if language or DETECTED_SETTING in store.catalog.settings(library):
        return items, language
    stream = iter(items)
    first: list[tuple[Item, int]] = []
    size = 0
    for item in stream:
        first.append(item)
        size += len(getattr(item[0], "text", ""))
        if size >= DETECT_MAX_CHARS:
            break
    items = itertools.chain(first, stream)
    found = detection(getattr(item, "text", "") for item, _ in first)
    if found is None:  # too little text to tell: the next ingest asks again
        return items, ""
    chosen = found.library_language
    if chosen is not None:
        store.catalog.set_setting(library, LANGUAGE_SETTING, chosen.code)
    # Recorded after the language: an ingest stopped between them detects again rather than never.
    store.catalog.set_setting(library, DETECTED_SETTING, found.found.code if found.found else "")
    return items, chosen.code if chosen else ""


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
