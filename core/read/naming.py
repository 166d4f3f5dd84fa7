"""Document names in one batch: unique, stable across re-runs, and in the form the stores keep.

A name is what a document is stored, found, replaced and deleted by, so two sources that read to one name
would silently replace each other. Files of one name under two paths given get the shortest part of their folder
path that tells them apart ("a/notes.txt", "b/notes.txt"), with every document they hold (a/c.jsonl#7). That is
decided from the files' names before any is read, so the same command gives the same names every time, whatever
the files hold, and a batch can be indexed while it is read. Clashes nothing can tell apart (two uploads of one
name with different content, two records with one id) are reported per document instead of guessed at.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from core.read.documents import Document, FailureKind, ReadFailure


def batch_names(sources: Sequence[tuple[Path, Sequence[str]]]) -> list[list[str]]:
    """For each path given, with the names of the files under it (core.read.documents.files_under), the names
    those files take in the batch: their own, unless a file of the same name sits under another path given."""
    bases = [_base(path) for path, _ in sources]
    owners: dict[str, list[int]] = defaultdict(list)  # file name -> the sources holding a file of that name
    for index, (_, names) in enumerate(sources):
        for name in dict.fromkeys(names):
            owners[name].append(index)
    return [
        [
            _under(_distinguishing_tail(index, owners[name], bases), name) if len(owners[name]) > 1 else name
            for name in names
        ]
        for index, (_, names) in enumerate(sources)
    ]


def _base(path: Path) -> tuple[str, ...]:
    """The folders a path source's file names sit under: a file's parent, or the folder itself."""
    resolved = path.expanduser().resolve()
    return (resolved if resolved.is_dir() else resolved.parent).parts


def _distinguishing_tail(index: int, owners: list[int], bases: list[tuple[str, ...]]) -> tuple[str, ...]:
    """The fewest trailing folders of this source that no other source sharing the name has."""
    mine = bases[index]
    others = {bases[i] for i in owners if i != index and bases[i] != mine}
    if not others:  # the same folder given twice: nothing to tell apart by, and its documents are repeats
        return ()
    for depth in range(1, len(mine) + 1):
        if all(other[-depth:] != mine[-depth:] for other in others):
            return mine[-depth:]
    return mine


def _under(tail: tuple[str, ...], name: str) -> str:
    return "/".join([*tail, name]).lstrip("/")


class Repeats:
    """The first document of each name in a batch passes; a repeat with the same text is the same document read
    twice and is dropped, one with other text is reported. Holds each name seen and 60 bits of its text's hash (an
    int, a third the size of the hex digest: a batch read as it is indexed keeps one per document, not the texts)."""

    def __init__(self) -> None:
        self._hashes: dict[str, int] = {}

    def check(self, doc: Document) -> Document | ReadFailure | None:
        """The document if its name is new to the batch; None for the same document again; else a failure."""
        digest = int(doc.content_hash[:15], 16)
        first = self._hashes.get(doc.name)
        if first is None:
            self._hashes[doc.name] = digest
            return doc
        if first == digest:
            return None
        message = (
            f"{doc.name} is the name of another document in this batch with different text: give each "
            "record its own id, or rename one of the files, and add it again."
        )
        return ReadFailure(doc.name, FailureKind.DUPLICATE, message, source=doc.source)
