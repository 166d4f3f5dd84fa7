"""A document read from a file: bytes or paths in, Documents and per-file failures out.

One bad file never stops the others: every parser error becomes a ReadFailure with a kind and a
one-sentence message that names the file and says what to do. The iter_ functions give one document at a
time, so a caller that indexes as it reads never holds a whole collection, and a JSONL file on disk is
read a line at a time; read_bytes and read_path hold everything, for callers that want it all.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from core.config import Settings, settings_or_environment
from core.errors import DocumentError
from core.read import formats as readers
from core.read import records
from core.read.text_lines import TextLines
from core.sizes import format_bytes

MAX_ZIP_DEPTH = 3  # an archive inside an archive inside an archive, and no deeper
ZIP_TOTAL_FACTOR = 10  # one upload may unpack to at most this many times the per-file limit
# Text compresses 3-10 to 1, a file of one repeated line far more; the ratio limit (POTION_ZIP_MAX_RATIO)
# is for members big enough to matter, not a small file of spaces.
ZIP_RATIO_FROM_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ReadLimits:
    """How much one read may take: each file's bytes, an archive's members, a member's compression ratio."""

    max_file_bytes: int
    zip_max_members: int
    zip_max_ratio: float
    file_setting: str = "POTION_MAX_FILE_MB"  # what a refusal tells the user to raise

    @classmethod
    def of(cls, settings: Settings | None) -> ReadLimits:
        """The limits of uploads the settings give; None: the environment's, read now."""
        settings = settings_or_environment(settings)
        return cls(settings.max_file_bytes, settings.zip_max_members, settings.zip_max_ratio)

    @classmethod
    def for_paths(cls, settings: Settings | None) -> ReadLimits:
        """The limits of files given by path: a JSONL collection is streamed, with no limit; a file parsed whole
        is held to POTION_MAX_WHOLE_FILE_MB, not to the upload limit; archives as uploads otherwise."""
        settings = settings_or_environment(settings)
        return replace(
            cls.of(settings), max_file_bytes=settings.max_whole_file_bytes, file_setting="POTION_MAX_WHOLE_FILE_MB"
        )

    def capped(self, max_bytes: int | None) -> ReadLimits:
        """These limits with another per-file limit (None: as they are)."""
        return self if max_bytes is None else replace(self, max_file_bytes=max_bytes)


class FailureKind(StrEnum):
    """Why a file gave no document; a str, so it compares equal to its value."""

    EMPTY = "empty"
    UNSUPPORTED = "unsupported"
    CORRUPT = "corrupt"
    ENCRYPTED = "encrypted"
    NO_TEXT = "no_text"
    TOO_LARGE = "too_large"
    DUPLICATE = "duplicate"  # another document of the batch has its name and other text


@dataclass(frozen=True)
class Document:
    name: str
    text: str
    doc_type: str
    content_hash: str
    title: str | None = None
    source_id: str | None = None
    page_offsets: tuple[int, ...] | None = None
    source: str = ""  # the file read: an upload's name or a path's name; the archive or collection for a part


@dataclass(frozen=True)
class ReadFailure:
    name: str
    kind: FailureKind
    message: str
    source: str = ""


Item = Document | ReadFailure  # what reading gives, one file or record at a time


@dataclass(frozen=True)
class ReadResult:
    documents: list[Document]
    failures: list[ReadFailure]

    @classmethod
    def of(cls, items: Iterable[Item]) -> ReadResult:
        """Everything read, held: the documents and the failures, each in order."""
        documents: list[Document] = []
        failures: list[ReadFailure] = []
        for item in items:
            (documents if isinstance(item, Document) else failures).append(item)
        return cls(documents, failures)


Reader = Callable[[bytes, str], "readers.Extracted | list[records.Part]"]
_READERS: dict[str, tuple[str, Reader]] = {
    ".txt": ("txt", readers.read_text),
    ".md": ("md", readers.read_text),
    ".markdown": ("md", readers.read_text),
    ".pdf": ("pdf", readers.read_pdf),
    ".docx": ("docx", readers.read_docx),
    ".html": ("html", readers.read_html),
    ".htm": ("html", readers.read_html),
    ".csv": ("csv", readers.read_csv),
    ".json": ("json", records.read_json),
    ".jsonl": ("jsonl", records.read_jsonl),
}
SUPPORTED_EXTENSIONS: tuple[str, ...] = (*_READERS, ".zip")
# Formats read from disk a record at a time, from the file's lines, so a file of any size takes the memory of a few
# records: a JSONL collection (a JSON file, a CSV or a text is one document, or one JSON value, and is read whole).
_STREAMED: dict[str, Callable[[TextLines, str], Iterator[records.Part]]] = {".jsonl": records.jsonl_parts}
# Where whitespace is all there is, the file is empty; in a PDF, Word or HTML file the text is
# missing (scanned pages, images only), which is worth telling apart.
_PLAIN_TYPES = frozenset({"txt", "md", "csv", "json", "jsonl"})


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_bytes(name: str, data: bytes, max_bytes: int | None = None, limits: ReadLimits | None = None) -> ReadResult:
    """Read one file's bytes, dispatching on the extension of `name` (case-insensitive).

    `limits` default to the environment's settings; `max_bytes` overrides their per-file limit."""
    return ReadResult.of(iter_bytes(name, data, _limits(limits, max_bytes, ReadLimits.of)))


def iter_bytes(name: str, data: bytes, limits: ReadLimits) -> Iterator[Item]:
    """read_bytes one document at a time: an archive's members are parsed as they are reached."""
    budget = _Budget(name, limits.max_file_bytes * ZIP_TOTAL_FACTOR)
    return _from_source(_read(name, data, limits, budget, depth=0), name)


def _from_source(items: Iterable[Item], source: str) -> Iterator[Item]:
    """Record on each document and failure the file it came from, which counts files without parsing names."""
    return (replace(item, source=source) for item in items)


def read_path(path: str | Path, max_bytes: int | None = None, limits: ReadLimits | None = None) -> ReadResult:
    """Read a file, or every file under a directory (sorted, hidden files and folders skipped).

    Files in a directory are named by their path inside it ("papers/a/x.pdf" read as "papers" is "a/x.pdf"),
    so re-reading the folder from anywhere gives the same names, and a top-level file keeps its own name.
    `limits` default to those of files given by path (ReadLimits.for_paths)."""
    limits = _limits(limits, max_bytes, ReadLimits.for_paths)
    return ReadResult.of(item for file in files_under(Path(path)) for item, _ in iter_file(file, limits))


def _limits(
    limits: ReadLimits | None, max_bytes: int | None, default: Callable[[Settings | None], ReadLimits]
) -> ReadLimits:
    return (limits if limits is not None else default(None)).capped(max_bytes)


@dataclass(frozen=True)
class FileEntry:
    """A file found under a path given, by the name it takes; or the folder that could not be listed (`error`)."""

    path: Path
    name: str
    error: OSError | None = None


def files_under(path: Path) -> Iterator[FileEntry]:
    """The path itself if it is not a folder; else every file under it, sorted, named by its path inside it."""
    if not path.is_dir():
        yield FileEntry(path, path.name)
        return
    for file, error in _walk(path):
        yield FileEntry(file, file.relative_to(path).as_posix(), error)


def _walk(directory: Path) -> Iterator[tuple[Path, OSError | None]]:
    try:
        entries = sorted(directory.iterdir(), key=lambda entry: entry.name)
    except OSError as exc:
        yield directory, exc
        return
    for entry in entries:
        if entry.name.startswith(".") or entry.name == "__MACOSX":
            continue
        if entry.is_dir():
            if not entry.is_symlink():  # a linked folder can loop back on itself
                yield from _walk(entry)
        elif entry.is_file():
            yield entry, None


def iter_file(entry: FileEntry, limits: ReadLimits) -> Iterator[tuple[Item, int]]:
    """One file on disk under its name, each document or failure with how many bytes of the file are read after it:
    a JSONL collection streamed a line at a time, whatever its size; any other format read whole, and refused from
    its size alone above `limits.max_file_bytes`."""
    name, size = entry.name, 0
    if entry.error is not None:
        yield ReadFailure(name, FailureKind.CORRUPT, _unreadable(name, entry.error), source=name), size
        return
    streamed = _STREAMED.get(_suffix(name))
    try:
        size = entry.path.stat().st_size
        refused = _precheck(name, size, None if streamed else limits)
        if refused:
            yield replace(refused, source=name), size
        elif streamed:
            entry.path.open("rb").close()  # a file that cannot be opened is named so here, not as a parser failure
            lines = TextLines(entry.path, name)
            for item in _from_source(_guarded(name, "jsonl", lambda: streamed(lines, name)), name):
                yield item, lines.position
        else:
            data = entry.path.read_bytes()
            yield from ((item, size) for item in iter_bytes(name, data, limits))
    except OSError as exc:  # gone or unreadable before it was read
        yield ReadFailure(name, FailureKind.CORRUPT, _unreadable(name, exc), source=name), size


def _read(name: str, data: bytes, limits: ReadLimits, budget: _Budget, depth: int) -> Iterator[Item]:
    refused = _precheck(name, len(data), limits)
    if refused:
        yield refused
        return
    suffix = _suffix(name)
    if suffix == ".zip":
        yield from _read_zip(name, data, limits, budget, depth)
        return
    doc_type, reader = _READERS[suffix]
    yield from _guarded(name, doc_type, lambda: reader(data, name))


def _guarded(
    name: str, doc_type: str, parse: Callable[[], Iterable[records.Part] | readers.Extracted]
) -> Iterator[Item]:
    """The documents `parse` gives; whatever it raises, even part-way through a stream, ends in a failure that
    names the file (the documents before it stand), so one bad file never stops the batch."""
    try:
        output = parse()
        yield from _documents(doc_type, [(name, output)] if isinstance(output, readers.Extracted) else output)
    except DocumentError as exc:
        yield from _fail(name, FailureKind(exc.kind), str(exc))
    except Exception as exc:  # a parser bug or input it never expected: keep the batch going
        detail = f"{type(exc).__name__}: {str(exc)[:120]}"
        message = f"{name} could not be read ({detail}): check that it opens and upload it again."
        yield from _fail(name, FailureKind.CORRUPT, message)


def _documents(doc_type: str, parts: Iterable[records.Part]) -> Iterator[Item]:
    for part_name, item in parts:
        if isinstance(item, DocumentError):
            yield ReadFailure(part_name, FailureKind(item.kind), str(item))
        elif not item.text.strip():
            yield _no_text(part_name, doc_type)
        else:
            yield Document(
                name=part_name,
                text=item.text,
                doc_type=doc_type,
                content_hash=content_hash(item.text),
                title=item.title,
                source_id=item.source_id,
                page_offsets=item.page_offsets,
            )


class _Budget:
    """Uncompressed bytes one upload may still unpack: the guard against zip bombs."""

    def __init__(self, archive: str, total: int) -> None:
        self.archive, self.total, self.left = archive, total, total


def _read_zip(name: str, data: bytes, limits: ReadLimits, budget: _Budget, depth: int) -> Iterator[Item]:
    if depth >= MAX_ZIP_DEPTH:
        message = f"{name} is nested more than {MAX_ZIP_DEPTH} archives deep: unzip it and upload its files."
        yield from _fail(name, FailureKind.UNSUPPORTED, message)
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        message = f"{name} is not a readable zip archive ({exc}): check that it opens and upload it again."
        yield from _fail(name, FailureKind.CORRUPT, message)
        return
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir() and not _junk(info.filename)]
        most = limits.zip_max_members
        if len(members) > most:
            message = (
                f"{name} holds {len(members):,} files, over the limit of {most:,}: "
                "split the archive or raise POTION_ZIP_MAX_MEMBERS."
            )
            yield from _fail(name, FailureKind.TOO_LARGE, message)
            return
        for info in members:
            yield from _read_member(archive, info, name, limits, budget, depth)


def _junk(member: str) -> bool:
    """Folders macOS and editors leave in archives (__MACOSX, hidden files); ".." is no hidden file."""
    parts = [part for part in member.replace("\\", "/").split("/") if part not in ("", ".", "..")]
    return not parts or parts[0] == "__MACOSX" or any(part.startswith(".") for part in parts)


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, outer: str, limits: ReadLimits, budget: _Budget, depth: int
) -> Iterator[Item]:
    name = f"{outer}/{member_path(info.filename)}"
    refused = _precheck(name, info.file_size, limits) or _ratio_check(
        name, info.file_size, info.compress_size, limits.zip_max_ratio
    )
    if refused:
        return iter([refused])
    if info.flag_bits & 0x1:
        message = f"{name} is encrypted: extract it with its password and upload it directly."
        return _fail(name, FailureKind.ENCRYPTED, message)
    if info.file_size > budget.left:
        return _fail(name, FailureKind.TOO_LARGE, _bomb_message(name, budget, limits.file_setting))
    try:
        with archive.open(info) as member:
            data = member.read(limits.max_file_bytes + 1)  # never trust the declared size
    except NotImplementedError:
        message = (
            f"{name} uses a compression method that cannot be read here: re-create the zip with standard compression."
        )
        return _fail(name, FailureKind.UNSUPPORTED, message)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError) as exc:
        message = f"{name} could not be unpacked ({exc}): check that the archive opens and upload it again."
        return _fail(name, FailureKind.CORRUPT, message)
    if len(data) > budget.left:
        return _fail(name, FailureKind.TOO_LARGE, _bomb_message(name, budget, limits.file_setting))
    # The header may have lied about the size: the bytes unpacked are checked too.
    refused = _ratio_check(name, len(data), info.compress_size, limits.zip_max_ratio)
    if refused:
        return iter([refused])
    budget.left -= len(data)
    return _read(name, data, limits, budget, depth + 1)


def member_path(filename: str) -> str:
    """A member's name inside its archive, without the parts that would climb out of it ("..", a leading
    "/", a drive): names only ever label documents, but "a.zip/../../etc/x" should not even look like a path out."""
    parts = [p for p in filename.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    if parts and len(parts[0]) == 2 and parts[0][1] == ":":  # C: of a zip made on Windows
        parts = parts[1:]
    return "/".join(parts) or "unnamed"


def _ratio_check(name: str, size: int, compressed: int, most: float) -> ReadFailure | None:
    """Refuse a member that inflates past the ratio limit: the mark of a zip bomb, checked from the header
    before unpacking and again on the bytes unpacked."""
    ratio = size / max(compressed, 1)
    if size < ZIP_RATIO_FROM_BYTES or ratio <= most:
        return None
    message = (
        f"{name} is compressed {ratio:,.0f} to 1, past the limit of {most:,.0f} to 1 that guards against zip bombs: "
        "unpack it and upload the file itself, or raise POTION_ZIP_MAX_RATIO."
    )
    return ReadFailure(name, FailureKind.TOO_LARGE, message)


def _precheck(name: str, size: int, limits: ReadLimits | None) -> ReadFailure | None:
    """The refusals that need only the name and the size, checked before any parsing (None: no size limit)."""
    if _suffix(name) not in SUPPORTED_EXTENSIONS:
        types = ", ".join(SUPPORTED_EXTENSIONS[:-1]) + f" or {SUPPORTED_EXTENSIONS[-1]}"
        return ReadFailure(name, FailureKind.UNSUPPORTED, f"{name} is not a supported file type: upload {types} files.")
    if size == 0:
        message = f"{name} is empty (0 bytes): check that it is the right file and upload it again."
        return ReadFailure(name, FailureKind.EMPTY, message)
    if limits is not None and size > limits.max_file_bytes:
        message = (
            f"{name} is {format_bytes(size)}, over the {format_bytes(limits.max_file_bytes, exact=True)} limit: "
            f"split it or raise {limits.file_setting}."
        )
        return ReadFailure(name, FailureKind.TOO_LARGE, message)
    return None


def _suffix(name: str) -> str:
    return Path(name).suffix.lower()


def _no_text(name: str, doc_type: str) -> ReadFailure:
    if doc_type in _PLAIN_TYPES:
        return ReadFailure(name, FailureKind.EMPTY, f"{name} contains no text: add some text or leave it out.")
    message = (
        f"{name} contains no readable text: check that it is the right file, or save it as plain text and upload that."
    )
    return ReadFailure(name, FailureKind.NO_TEXT, message)


def _bomb_message(name: str, budget: _Budget, setting: str) -> str:
    return (
        f"{name} would unpack {budget.archive} past {format_bytes(budget.total, exact=True)} "
        f"({ZIP_TOTAL_FACTOR} times the file limit): split the archive or raise {setting}."
    )


def _unreadable(name: str, exc: OSError) -> str:
    return f"{name} could not be opened ({exc.strerror or exc}): check that it exists and is readable."


def _fail(name: str, kind: FailureKind, message: str) -> Iterator[ReadFailure]:
    return iter([ReadFailure(name, kind, message)])
