"""A document read from a file: bytes or paths in, Documents and per-file failures out.

One bad file never stops the others: every parser error becomes a ReadFailure with a kind and a
one-sentence message that names the file and says what to do.
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

    @classmethod
    def of(cls, settings: Settings | None) -> ReadLimits:
        """The limits the settings give; None: the environment's, read now."""
        settings = settings_or_environment(settings)
        return cls(settings.max_file_bytes, settings.zip_max_members, settings.zip_max_ratio)


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


@dataclass(frozen=True)
class ReadResult:
    documents: list[Document]
    failures: list[ReadFailure]

    @classmethod
    def merge(cls, results: Iterable[ReadResult]) -> ReadResult:
        documents: list[Document] = []
        failures: list[ReadFailure] = []
        for result in results:
            documents.extend(result.documents)
            failures.extend(result.failures)
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
# Where whitespace is all there is, the file is empty; in a PDF, Word or HTML file the text is
# missing (scanned pages, images only), which is worth telling apart.
_PLAIN_TYPES = frozenset({"txt", "md", "csv", "json", "jsonl"})


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_bytes(name: str, data: bytes, max_bytes: int | None = None, limits: ReadLimits | None = None) -> ReadResult:
    """Read one file's bytes, dispatching on the extension of `name` (case-insensitive).

    `limits` default to the environment's settings; `max_bytes` overrides their per-file limit."""
    limits = _limits(limits, max_bytes)
    budget = _Budget(name, limits.max_file_bytes * ZIP_TOTAL_FACTOR)
    return _from_source(_read(name, data, limits, budget, depth=0), name)


def _from_source(result: ReadResult, source: str) -> ReadResult:
    """Record on each document and failure the file it came from, which counts files without parsing names."""
    return ReadResult(
        [replace(d, source=source) for d in result.documents],
        [replace(f, source=source) for f in result.failures],
    )


def read_path(path: str | Path, max_bytes: int | None = None, limits: ReadLimits | None = None) -> ReadResult:
    """Read a file, or every file under a directory (sorted, hidden files and folders skipped).

    Files in a directory are named by their path inside it ("papers/a/x.pdf" read as "papers" is "a/x.pdf"),
    so re-reading the folder from anywhere gives the same names, and a top-level file keeps its own name."""
    path, limits = Path(path), _limits(limits, max_bytes)
    if not path.is_dir():
        return _read_file(path, path.name, limits)
    results: list[ReadResult] = []
    for file, error in _walk(path):
        name = file.relative_to(path).as_posix()
        results.append(
            _from_source(_fail(name, FailureKind.CORRUPT, _unreadable(name, error)), name)
            if error
            else _read_file(file, name, limits)
        )
    return ReadResult.merge(results)


def _limits(limits: ReadLimits | None, max_bytes: int | None) -> ReadLimits:
    chosen = limits if limits is not None else ReadLimits.of(None)
    return chosen if max_bytes is None else replace(chosen, max_file_bytes=max_bytes)


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


def _read_file(path: Path, name: str, limits: ReadLimits) -> ReadResult:
    try:
        refused = _precheck(name, path.stat().st_size, limits.max_file_bytes)
        return (
            _from_source(ReadResult([], [refused]), name)
            if refused
            else read_bytes(name, path.read_bytes(), None, limits)
        )
    except OSError as exc:
        return _from_source(_fail(name, FailureKind.CORRUPT, _unreadable(name, exc)), name)


def _read(name: str, data: bytes, limits: ReadLimits, budget: _Budget, depth: int) -> ReadResult:
    refused = _precheck(name, len(data), limits.max_file_bytes)
    if refused:
        return ReadResult([], [refused])
    suffix = _suffix(name)
    if suffix == ".zip":
        return _read_zip(name, data, limits, budget, depth)
    doc_type, reader = _READERS[suffix]
    try:
        return _collect(name, doc_type, reader(data, name))
    except DocumentError as exc:
        return _fail(name, FailureKind(exc.kind), str(exc))
    except Exception as exc:  # a parser bug or input it never expected: keep the batch going
        detail = f"{type(exc).__name__}: {str(exc)[:120]}"
        message = f"{name} could not be read ({detail}): check that it opens and upload it again."
        return _fail(name, FailureKind.CORRUPT, message)


def _collect(name: str, doc_type: str, output: readers.Extracted | list[records.Part]) -> ReadResult:
    parts = output if isinstance(output, list) else [(name, output)]
    documents, failures = [], []
    for part_name, item in parts:
        if isinstance(item, DocumentError):
            failures.append(ReadFailure(part_name, FailureKind(item.kind), str(item)))
        elif not item.text.strip():
            failures.append(_no_text(part_name, doc_type))
        else:
            documents.append(
                Document(
                    name=part_name,
                    text=item.text,
                    doc_type=doc_type,
                    content_hash=content_hash(item.text),
                    title=item.title,
                    source_id=item.source_id,
                    page_offsets=item.page_offsets,
                )
            )
    return ReadResult(documents, failures)


class _Budget:
    """Uncompressed bytes one upload may still unpack: the guard against zip bombs."""

    def __init__(self, archive: str, total: int) -> None:
        self.archive, self.total, self.left = archive, total, total


def _read_zip(name: str, data: bytes, limits: ReadLimits, budget: _Budget, depth: int) -> ReadResult:
    if depth >= MAX_ZIP_DEPTH:
        message = f"{name} is nested more than {MAX_ZIP_DEPTH} archives deep: unzip it and upload its files."
        return _fail(name, FailureKind.UNSUPPORTED, message)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        message = f"{name} is not a readable zip archive ({exc}): check that it opens and upload it again."
        return _fail(name, FailureKind.CORRUPT, message)
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir() and not _junk(info.filename)]
        most = limits.zip_max_members
        if len(members) > most:
            message = (
                f"{name} holds {len(members):,} files, over the limit of {most:,}: "
                "split the archive or raise POTION_ZIP_MAX_MEMBERS."
            )
            return _fail(name, FailureKind.TOO_LARGE, message)
        return ReadResult.merge(_read_member(archive, info, name, limits, budget, depth) for info in members)


def _junk(member: str) -> bool:
    """Folders macOS and editors leave in archives (__MACOSX, hidden files); ".." is no hidden file."""
    parts = [part for part in member.replace("\\", "/").split("/") if part not in ("", ".", "..")]
    return not parts or parts[0] == "__MACOSX" or any(part.startswith(".") for part in parts)


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, outer: str, limits: ReadLimits, budget: _Budget, depth: int
) -> ReadResult:
    name = f"{outer}/{member_path(info.filename)}"
    refused = _precheck(name, info.file_size, limits.max_file_bytes) or _ratio_check(
        name, info.file_size, info.compress_size, limits.zip_max_ratio
    )
    if refused:
        return ReadResult([], [refused])
    if info.flag_bits & 0x1:
        message = f"{name} is encrypted: extract it with its password and upload it directly."
        return _fail(name, FailureKind.ENCRYPTED, message)
    if info.file_size > budget.left:
        return _fail(name, FailureKind.TOO_LARGE, _bomb_message(name, budget))
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
        return _fail(name, FailureKind.TOO_LARGE, _bomb_message(name, budget))
    # The header may have lied about the size: the bytes unpacked are checked too.
    refused = _ratio_check(name, len(data), info.compress_size, limits.zip_max_ratio)
    if refused:
        return ReadResult([], [refused])
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


def _precheck(name: str, size: int, limit: int) -> ReadFailure | None:
    """The refusals that need only the name and the size, checked before any parsing."""
    if _suffix(name) not in SUPPORTED_EXTENSIONS:
        types = ", ".join(SUPPORTED_EXTENSIONS[:-1]) + f" or {SUPPORTED_EXTENSIONS[-1]}"
        return ReadFailure(name, FailureKind.UNSUPPORTED, f"{name} is not a supported file type: upload {types} files.")
    if size == 0:
        message = f"{name} is empty (0 bytes): check that it is the right file and upload it again."
        return ReadFailure(name, FailureKind.EMPTY, message)
    if size > limit:
        message = (
            f"{name} is {format_bytes(size)}, over the {format_bytes(limit, exact=True)} limit: "
            "split it or raise POTION_MAX_FILE_MB."
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


def _bomb_message(name: str, budget: _Budget) -> str:
    return (
        f"{name} would unpack {budget.archive} past {format_bytes(budget.total, exact=True)} "
        f"({ZIP_TOTAL_FACTOR} times the file limit): split the archive or raise POTION_MAX_FILE_MB."
    )


def _unreadable(name: str, exc: OSError) -> str:
    return f"{name} could not be opened ({exc.strerror or exc}): check that it exists and is readable."


def _fail(name: str, kind: FailureKind, message: str) -> ReadResult:
    return ReadResult([], [ReadFailure(name, kind, message)])
