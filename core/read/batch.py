"""The sources of one ingest, uploads and paths, read one after another as a stream of documents.

Every file is found, named (core.read.naming) and measured before any is read, so names do not depend on what the
files hold and progress has a total; then the files are read one at a time, each document handed on as it comes.
Uploads are bytes already in memory and keep the upload limits (POTION_MAX_FILE_MB per file, POTION_MAX_UPLOAD_MB
in all); files given by path are held to ReadLimits.for_paths (a JSONL collection is streamed, with no limit).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from core.config import Settings
from core.read.documents import (
    Document,
    FailureKind,
    FileEntry,
    Item,
    ReadFailure,
    ReadLimits,
    files_under,
    iter_bytes,
    iter_file,
)
from core.read.naming import Repeats, batch_names
from core.sizes import format_bytes
from core.types import stored_name

Source = Path | str | tuple[str, bytes]  # a path, or an uploaded file's (name, bytes)


@dataclass(frozen=True)
class _Upload:
    name: str
    data: bytes


_Entry = _Upload | FileEntry | ReadFailure  # a file to read, or an upload refused before it is parsed


class SourceBatch:
    """The sources of one ingest, named and measured; iterating reads them, giving each document or failure
    with how many bytes of the batch are read after it (of `total`)."""

    def __init__(self, sources: Sequence[Source], settings: Settings, max_bytes: int | None = None) -> None:
        self.upload_limits = ReadLimits.of(settings).capped(max_bytes)
        self.path_limits = ReadLimits.for_paths(settings).capped(max_bytes)
        self.plan = [
            [(entry, _size(entry)) for entry in entries] for entries in _plan(sources, settings.max_upload_bytes)
        ]
        self.total = sum(size for entries in self.plan for _, size in entries)

    def __iter__(self) -> Iterator[tuple[Item, int]]:
        for source in self.by_source():
            yield from source

    def by_source(self) -> Iterator[Iterator[tuple[Item, int]]]:
        """The reads of each source given, in order: documents get their stored names, and the batch's repeats are
        dropped or reported (core.read.naming.Repeats), across sources."""
        repeats, done = Repeats(), 0
        for entries in self.plan:
            yield self._read(entries, repeats, done)
            done += sum(size for _, size in entries)

    def _read(self, entries: list[tuple[_Entry, int]], repeats: Repeats, done: int) -> Iterator[tuple[Item, int]]:
        for entry, size in entries:
            for item, position in self._items(entry):
                checked = repeats.check(_stored(item)) if isinstance(item, Document) else item
                if checked is not None:
                    yield checked, done + min(position, size)  # a file that grew since it was measured
            done += size

    def _items(self, entry: _Entry) -> Iterator[tuple[Item, int]]:
        if isinstance(entry, ReadFailure):
            return iter([(entry, 0)])
        if isinstance(entry, _Upload):
            return ((item, len(entry.data)) for item in iter_bytes(entry.name, entry.data, self.upload_limits))
        return iter_file(entry, self.path_limits)


def _plan(sources: Sequence[Source], upload_bytes: int) -> list[list[_Entry]]:
    """Every source's files by the names they take in the batch; an upload that would take the batch past
    `upload_bytes` is refused before it is parsed (later, smaller ones may still fit)."""
    found = {i: list(files_under(Path(s))) for i, s in enumerate(sources) if not isinstance(s, tuple)}
    names = batch_names([(Path(sources[i]), [entry.name for entry in entries]) for i, entries in found.items()])
    named = {i: [replace(e, name=n) for e, n in zip(found[i], ns, strict=True)] for i, ns in zip(found, names)}
    plan: list[list[_Entry]] = []
    left = upload_bytes
    for i, source in enumerate(sources):
        if not isinstance(source, tuple):
            plan.append(list(named[i]))
            continue
        name, data = source
        if len(data) > left:
            plan.append([_past_upload_limit(name, upload_bytes)])
        else:
            left -= len(data)
            plan.append([_Upload(name, data)])
    return plan


def _size(entry: _Entry) -> int:
    """The bytes an entry counts for in progress: a file's size on disk (0 if it is gone), an upload's length."""
    if isinstance(entry, _Upload):
        return len(entry.data)
    if isinstance(entry, ReadFailure) or entry.error is not None:
        return 0
    try:
        return entry.path.stat().st_size
    except OSError:
        return 0


def _stored(doc: Document) -> Document:
    """The document under the name stores keep (core.types.stored_name shortens only names over its limit)."""
    name = stored_name(doc.name)
    return doc if name == doc.name else replace(doc, name=name)


def _past_upload_limit(name: str, upload_bytes: int) -> ReadFailure:
    limit = format_bytes(upload_bytes, exact=True)
    message = (
        f"{name} would take this upload past {limit} in all: upload it in another batch, or raise POTION_MAX_UPLOAD_MB."
    )
    return ReadFailure(name, FailureKind.TOO_LARGE, message, source=name)
