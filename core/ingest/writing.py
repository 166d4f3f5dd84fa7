"""Writing a stream of documents into one index: chunked, embedded and written a batch at a time, as they are read.

One writer thread writes batch n while batch n+1 is chunked and encoded (in a worker process for large ingests,
see core.ingest.workers), so the engine, the tokenizer and pymilvus work at once, and what is read runs only a
few batches ahead of what is written. A document replacing rows (an older version, or the remains of an
interrupted ingest) has them deleted just before its batch is written, so its rows are inserted, not upserted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

from core.config import Settings
from core.embed.embedder import Embedder
from core.ingest.chunking import ChunkSettings
from core.ingest.result import IngestResult
from core.ingest.workers import embedded_batches
from core.read.documents import Document, Item, ReadFailure
from core.storage.index import Index
from core.types import ChunkRow, DocumentOutcome, DocumentStatus, ProgressCallback, StoredDocument

# Two batches written at once: while one waits for the engine (GIL released), pymilvus packs the other.
WRITERS = 2


def write_stream(
    items: Iterable[tuple[Item, int]],
    index: Index,
    embedder: Embedder,
    chunking: ChunkSettings,
    stored: dict[str, StoredDocument] | None,
    result: IngestResult,
    meter: Meter,
    settings: Settings,
) -> None:
    """Index the stream into `result`: failures recorded, documents `stored` with the same text counted unchanged,
    every other one chunked, embedded and written. `stored` is None for an index made by this ingest."""
    may_own_rows = _none if stored is None else _may_own_rows(index, stored)
    ledger = Ledger(result.outcomes)
    todo = _to_write(items, stored or {}, result, ledger, meter)
    _write(todo, index, embedder, chunking, result, ledger, meter, may_own_rows, settings)


def _to_write(
    items: Iterable[tuple[Item, int]],
    stored: dict[str, StoredDocument],
    result: IngestResult,
    ledger: Ledger,
    meter: Meter,
) -> Iterator[Document]:
    """The documents to chunk, embed and write, as they are read; failures and unchanged documents are recorded on
    the way."""
    for item, position in items:
        if isinstance(item, ReadFailure):
            ledger.add(DocumentOutcome(item.name, DocumentStatus.FAILED, message=item.message, source=item.source))
            meter.passed(position)
            continue
        previous = stored.get(item.name)
        if previous is not None and previous.doc_hash == item.content_hash:
            ledger.add(DocumentOutcome(item.name, DocumentStatus.UNCHANGED, previous.chunks, source=item.source))
            result.chunks_unchanged += previous.chunks
            meter.passed(position)
            continue
        ledger.reserve(item.name)
        meter.sending(position)
        yield item


def _write(
    todo: Iterator[Document],
    index: Index,
    embedder: Embedder,
    chunking: ChunkSettings,
    result: IngestResult,
    ledger: Ledger,
    meter: Meter,
    may_own_rows: Callable[[list[str]], list[str]],
    settings: Settings,
) -> None:
    """Chunk, embed and write the documents a batch at a time, WRITERS batches in flight."""
    with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="ingest-write") as writer:
        pending: deque[tuple[Future, int]] = deque()
        for batch in embedded_batches(todo, embedder, chunking, settings.ingest_workers, settings.max_chunks_per_file):
            ledger.settle(batch.outcomes)
            result.chunks_unreadable += batch.unreadable_chunks
            if len(pending) == WRITERS:
                _finish(pending.popleft(), result, meter)
            doomed = may_own_rows([o.document for o in batch.outcomes])
            pending.append((writer.submit(_replace, index, doomed, batch.rows), batch.documents))
        while pending:
            _finish(pending.popleft(), result, meter)


def _replace(index: Index, doomed: list[str], rows: list[ChunkRow]) -> int:
    """Delete the rows these documents may have stored, then write theirs: with none left, rows are inserted."""
    if doomed:
        index.delete_documents(doomed)
    return index.write(rows, new=True)


def _may_own_rows(index: Index, stored: dict[str, StoredDocument]) -> Callable[[list[str]], list[str]]:
    """Which documents of a batch may have rows stored, to be deleted before the batch is written: those stored
    complete (an older version), or every one when the index holds rows no complete document owns (left by an
    ingest that was interrupted, which any document may own). So a clean index deletes only what changed.

    Deletes run batch by batch because the documents are known only as they are read; a delete scans the
    collection even for names that own no rows (Lite 2.5.1: 5 ms per 500 names when empty, 47 ms at 400k rows),
    so deleting every new name, as the up-front delete did, would cost more as the ingest grows the collection."""
    if index.count() != sum(doc.chunks for doc in stored.values()):
        return _every
    return lambda names: [name for name in names if name in stored]


def _every(names: list[str]) -> list[str]:
    return names


def _none(names: list[str]) -> list[str]:
    return []


def _finish(pending: tuple[Future, int], result: IngestResult, meter: Meter) -> None:
    """Wait for a batch's write."""
    future, documents = pending
    result.chunks_added += future.result()
    meter.written(documents)


class Ledger:
    """Outcomes in the order documents were read, whichever batch settles them: a document sent to be written
    keeps its place until its batch is embedded, so every run of one batch lists them in one order."""

    def __init__(self, outcomes: list[DocumentOutcome]) -> None:
        self.outcomes = outcomes
        self.places: dict[str, int] = {}  # documents sent and not yet embedded -> their place

    def add(self, outcome: DocumentOutcome) -> None:
        self.outcomes.append(outcome)

    def reserve(self, document: str) -> None:
        self.places[document] = len(self.outcomes)
        # Replaced when the batch is embedded; a run that stops before returns no result at all.
        self.outcomes.append(DocumentOutcome(document, DocumentStatus.FAILED, message="not embedded"))

    def settle(self, outcomes: list[DocumentOutcome]) -> None:
        for outcome in outcomes:
            place = self.places.pop(outcome.document)
            name = self.outcomes[place].document  # the name read, which the batch's names share: one string each
            self.outcomes[place] = outcome if outcome.document is name else replace(outcome, document=name)


class Meter:
    """Progress of an ingest in its stage's unit: how far the stream is read, held back to the first document not
    yet written, so `done` reaches `total` as the last write ends (what is read runs a few batches ahead)."""

    def __init__(self, progress: ProgressCallback, stage: str, total: int) -> None:
        self.progress, self.stage, self.total = progress, stage, total
        self.waiting: deque[int] = deque()  # where the stream stood after each document sent and not yet written
        self.read = self.shown = self.sent = 0
        # Every stage reports 0/total as it starts, so rates are measured from the stage's real start.
        progress(stage, 0, total)

    def passed(self, position: int) -> None:
        """An item that needs no writing (a failure, an unchanged document) has been read."""
        self.read = position
        if not self.waiting:
            self._show(position)

    def sending(self, position: int) -> None:
        self.read = position
        self.waiting.append(position)
        self.sent += 1

    def written(self, documents: int) -> None:
        done = self.read
        for _ in range(documents):
            done = self.waiting.popleft()
        self._show(done if self.waiting else self.read)

    def finish(self) -> None:
        self._show(self.total)

    def _show(self, done: int) -> None:
        done = min(done, self.total)
        if done != self.shown:
            self.shown = done
            self.progress(self.stage, done, self.total)
