"""Documents to embedded chunk rows: chunk, encode, shape into rows; in this thread or in worker processes.

Why worker processes: the writer thread spends most of an ingest packing rows in pymilvus (Python, holding
the GIL: 112 ms per 500 rows, measured in bench/storage.py's profile), so chunking and encoding in the same
process only take turns with it. In a spawned worker they run on the other core instead.

Why not for a transformer (core.embed.transformer): its forward pass already uses every core through torch's
own threads and releases the GIL meanwhile, so the writer thread packs rows beside it anyway; a worker would only
import torch and copy the model a second time, and oversubscribe the cores.

Why a lifeline: a worker must end with its parent however the parent ends (core.lifetime). It reads a pipe
whose write end only the parent holds: EOF means the parent died, or that it closed the pipe because it stopped
early and wants its workers gone now rather than after the batches already queued for them.
"""

from __future__ import annotations

import bisect
import itertools
import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import numpy as np

from core.embed.embedder import Embedder
from core.errors import IngestWorkerError
from core.ingest.chunking import Chunk, ChunkSettings, ChunkUnit, chunk_text
from core.lifetime import STOP_SIGNALS, children_keep_interrupts_blocked, unblock_stop_signals, watch_parent
from core.read.documents import Document
from core.types import ChunkRow, DocumentOutcome, DocumentStatus

# Documents go to a batch until their text reaches this size: ~2,000 chunks with the default chunking,
# a few MB of rows in flight per batch, and progress that moves every second or so.
BATCH_CHARS = 1_000_000
# Below this much text the in-thread path finishes before a spawned worker has imported numpy and
# received the model (~1 s measured here), so small uploads never start one.
WORKER_MIN_CHARS = 4_000_000


@dataclass
class EmbeddedBatch:
    """The rows of a batch of documents, and what became of each document."""

    rows: list[ChunkRow] = field(default_factory=list)
    outcomes: list[DocumentOutcome] = field(default_factory=list)
    unreadable_chunks: int = 0  # chunks with no word the model knows, left out
    documents: int = 0


def batches(documents: Iterable[Document], max_chars: int = BATCH_CHARS) -> Iterator[list[Document]]:
    """Consecutive groups of documents, each closed once its text reaches max_chars."""
    batch: list[Document] = []
    size = 0
    for doc in documents:
        batch.append(doc)
        size += len(doc.text)
        if size >= max_chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def embed_batch(
    documents: Sequence[Document], embedder: Embedder, chunking: ChunkSettings, max_chunks: int | None = None
) -> EmbeddedBatch:
    """Chunk and encode the documents; those with no word the model knows, or more than `max_chunks`
    chunks (refused before they are encoded), are reported as failed."""
    out = EmbeddedBatch(documents=len(documents))
    ids_path = chunking.unit is ChunkUnit.TOKENS and embedder.ids_concatenate
    chunked = []
    for doc in documents:
        # Chunking tokenized every sentence already; tokenizing each chunk again was a third of the work.
        chunks = (
            chunk_text(doc.text, chunking, token_ids=embedder.token_ids)
            if ids_path
            else chunk_text(doc.text, chunking, embedder.count_tokens)
        )
        if max_chunks is not None and len(chunks) > max_chunks:
            out.outcomes.append(_too_many_chunks(doc, len(chunks), max_chunks))
        else:
            chunked.append((doc, chunks))
    if ids_path:
        vectors = embedder.encode_ids([c.token_ids or () for _, chunks in chunked for c in chunks])
    else:
        vectors = embedder.encode([c.text for _, chunks in chunked for c in chunks])
    known = np.any(vectors != 0, axis=1)  # all-zero rows: the text had no token the model knows
    cursor = 0
    for doc, chunks in chunked:
        keep = [(c, vectors[cursor + j]) for j, c in enumerate(chunks) if known[cursor + j]]
        cursor += len(chunks)
        if not keep:
            message = f"{doc.name} has no words the model knows: try another model."
            out.outcomes.append(DocumentOutcome(doc.name, DocumentStatus.FAILED, message=message, source=doc.source))
            continue
        out.rows.extend(_rows(doc, keep))
        out.outcomes.append(DocumentOutcome(doc.name, DocumentStatus.INDEXED, len(keep), source=doc.source))
        out.unreadable_chunks += len(chunks) - len(keep)
    return out


def embedded_batches(
    documents: Iterable[Document],
    embedder: Embedder,
    chunking: ChunkSettings,
    workers: int,
    max_chunks: int | None = None,
) -> Iterator[EmbeddedBatch]:
    """Every batch embedded, in order, taking documents from `documents` only as batches are needed (a stream read
    as it is indexed stays a few batches ahead); with workers > 0 and enough text, in that many spawned processes,
    unless the model says it runs in this process (a transformer: see TransformerEmbedder.runs_in_workers)."""
    in_process = workers < 1 or not embedder.runs_in_workers or not _main_is_importable()
    documents = iter(documents)
    # Read ahead up to the text that pays for a worker: a stream that ends before is embedded here.
    ahead = [] if in_process else _read_ahead(documents, WORKER_MIN_CHARS)
    groups = batches(itertools.chain(ahead, documents))
    if in_process or sum(len(d.text) for d in ahead) < WORKER_MIN_CHARS:
        for group in groups:
            yield embed_batch(group, embedder, chunking, max_chunks)
        return
    # Spawned, not forked: the parent runs gRPC and Streamlit threads, which a fork would copy mid-flight.
    context = multiprocessing.get_context("spawn")
    lifeline, release = context.Pipe(duplex=False)  # workers read; only this process holds the write end
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(embedder, chunking, max_chunks, lifeline)
    )

    def submit(group: list[Document]) -> Future[EmbeddedBatch]:
        # The pool starts its workers as work arrives. A stop signal waits until a new worker has its start-up
        # data, which it would otherwise read cut short, printing a traceback; the worker unblocks them itself.
        with children_keep_interrupts_blocked(STOP_SIGNALS):
            return pool.submit(_embed_in_worker, group)

    try:
        # One batch more than workers in flight: a worker never waits, and memory stays a few batches.
        first = [g for _, g in zip(range(workers + 1), groups)]
        pending: deque[Future[EmbeddedBatch]] = deque(submit(g) for g in first)
        while pending:
            try:
                result = pending.popleft().result()
            except BrokenProcessPool as exc:
                raise IngestWorkerError(
                    "The embedding worker process stopped (out of memory, or killed): index again to finish, "
                    "or set POTION_INGEST_WORKERS=0 to embed in this process."
                ) from exc
            following = next(groups, None)
            if following is not None:
                pending.append(submit(following))
            yield result
    except BaseException:  # stopped (a signal, the consumer gone) or failed: nobody will write what is queued
        release.close()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        release.close()
        lifeline.close()


def _read_ahead(documents: Iterator[Document], chars: int) -> list[Document]:
    """Documents from the stream until their text reaches `chars`, or the stream ends."""
    taken, size = [], 0
    while size < chars and (doc := next(documents, None)) is not None:
        taken.append(doc)
        size += len(doc.text)
    return taken


def _main_is_importable() -> bool:
    """True when a spawned process can import this one's __main__ without running it again.

    A spawned child first imports the parent's __main__: by module name when the parent ran `python -m`
    (multiprocessing skips a package's __main__, as `python -m core` and pytest have), but by file path
    otherwise. Under Streamlit that file is the page
    script it runs as __main__, so each worker would run the app again (measured: a page that started a
    worker ran itself in the child). There, and in plain scripts, embedding stays in this process."""
    main = sys.modules.get("__main__")
    return getattr(getattr(main, "__spec__", None), "name", None) is not None


_worker: tuple[Embedder, ChunkSettings, int | None] | None = None


class _Steps:
    """Whether this worker is embedding, so that a release ends it only where no message is half-sent: a worker
    ended mid-send would leave the parent's pool waiting for the rest of the message forever."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.embedding = False
        self.released = False

    def release(self) -> None:  # called by the watching thread: the parent wants its workers gone
        with self.lock:
            self.released = True
            if self.embedding:
                os._exit(1)

    def embedding_now(self, embedding: bool) -> None:
        with self.lock:
            if self.released:
                os._exit(1)
            self.embedding = embedding


_steps = _Steps()


def _start_worker(embedder: Embedder, chunking: ChunkSettings, max_chunks: int | None, lifeline: Connection) -> None:
    global _worker  # one model per worker process, received once at its start
    _worker = (embedder, chunking, max_chunks)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops its workers
    unblock_stop_signals()
    parent = multiprocessing.parent_process()
    assert parent is not None, "a pool worker has a parent"
    watch_parent(lifeline, parent.sentinel, _steps.release)


def _embed_in_worker(documents: list[Document]) -> EmbeddedBatch:
    assert _worker is not None, "the pool's initializer sets the model"
    _steps.embedding_now(True)
    try:
        return embed_batch(documents, *_worker)
    finally:
        _steps.embedding_now(False)


def _too_many_chunks(doc: Document, chunks: int, most: int) -> DocumentOutcome:
    message = (
        f"{doc.name} makes {chunks:,} chunks, over the limit of {most:,} chunks per file: split it, "
        "index it with larger chunks, or raise POTION_MAX_CHUNKS_PER_FILE."
    )
    return DocumentOutcome(doc.name, DocumentStatus.FAILED, message=message, source=doc.source)


def _rows(doc: Document, kept: list[tuple[Chunk, np.ndarray]]) -> list[ChunkRow]:
    return [
        ChunkRow(
            document=doc.name,
            doc_hash=doc.content_hash,
            chunk=number,
            n_chunks=len(kept),
            text=chunk.text,
            start=chunk.start,
            end=chunk.end,
            vector=vector,
            page=_page_of(doc, chunk.start),
            title=doc.title or "",
            doc_type=doc.doc_type,
        )
        for number, (chunk, vector) in enumerate(kept)
    ]


def _page_of(doc: Document, offset: int) -> int:
    if not doc.page_offsets:
        return -1
    return bisect.bisect_right(doc.page_offsets, offset)  # pages count from 1
