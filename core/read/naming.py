"""Document names in one batch: unique, stable across re-runs, and in the form the stores keep.

A name is what a document is stored, found, replaced and deleted by, so two sources that read to one name
would silently replace each other. Paths that clash get the shortest part of their folder path that tells
them apart ("a/notes.txt", "b/notes.txt"); the same command then gives the same names every time. Clashes
nothing can tell apart (two uploads of one name with different content, two records with one id) are
reported per document instead of guessed at.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from core.read.documents import Document, FailureKind, ReadFailure, ReadResult
from core.types import stored_name


@dataclass(frozen=True)
class SourceRead:
    """What one source of a batch read to; `path` is None for an upload (bytes with a name)."""

    path: Path | None
    result: ReadResult


def unique_names(reads: list[SourceRead]) -> ReadResult:
    """One ReadResult for the batch in which every document has its own stored name."""
    documents: list[Document] = []
    failures: list[ReadFailure] = []
    bases = [_base(read.path) for read in reads]
    owners: dict[str, list[int]] = defaultdict(list)  # name -> the sources whose documents use it
    for index, read in enumerate(reads):
        for name in dict.fromkeys(stored_name(d.name) for d in read.result.documents):
            owners[name].append(index)
    for index, read in enumerate(reads):
        failures.extend(read.result.failures)
        for doc in read.result.documents:
            name, source = stored_name(doc.name), doc.source
            if len(owners[name]) > 1 and bases[index] is not None:
                tail = _distinguishing_tail(index, owners[name], bases)
                name, source = stored_name(_under(tail, doc.name)), _under(tail, doc.source)
            documents.append(replace(doc, name=name, source=source))
    return _drop_repeats(documents, failures)


def _base(path: Path | None) -> tuple[str, ...] | None:
    """The folders a path source's document names sit under: a file's parent, or the folder itself."""
    if path is None:
        return None
    resolved = path.expanduser().resolve()
    return (resolved if resolved.is_dir() else resolved.parent).parts


def _distinguishing_tail(index: int, owners: list[int], bases: list[tuple[str, ...] | None]) -> tuple[str, ...]:
    """The fewest trailing folders of this source that no other source sharing the name has."""
    mine = bases[index] or ()
    others = {bases[i] for i in owners if i != index and bases[i] is not None and bases[i] != mine}
    if not others:  # the same folder given twice, or the clash is with uploads: nothing to tell apart by
        return ()
    for depth in range(1, len(mine) + 1):
        if all(other[-depth:] != mine[-depth:] for other in others):
            return mine[-depth:]
    return mine


def _under(tail: tuple[str, ...], name: str) -> str:
    return "/".join([*tail, name]).lstrip("/")


def _drop_repeats(documents: list[Document], failures: list[ReadFailure]) -> ReadResult:
    """Keep the first document of each name; a repeat with the same text is the same document read twice,
    one with other text is reported."""
    kept: dict[str, Document] = {}
    for doc in documents:
        first = kept.get(doc.name)
        if first is None:
            kept[doc.name] = doc
        elif first.content_hash != doc.content_hash:
            message = (
                f"{doc.name} is the name of another document in this batch with different text: give each "
                "record its own id, or rename one of the files, and add it again."
            )
            failures.append(ReadFailure(doc.name, FailureKind.DUPLICATE, message, source=doc.source))
    return ReadResult(list(kept.values()), failures)
