"""One reader per file format: bytes in, cleaned text and metadata out, DocumentError on failure.

Failure kinds are the string values of core.read.documents.FailureKind; they are spelled out here so
that this module stays a leaf that core.read.documents can import.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from typing import Any

from core.errors import DocumentError


@dataclass(frozen=True)
class Extracted:
    """Canonical text of one document plus what the format told us about it."""

    text: str
    title: str | None = None
    page_offsets: tuple[int, ...] | None = None
    source_id: str | None = None


_BOMS = (  # UTF-32 first: its little-endian BOM starts with the UTF-16 one
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BLANK_RUNS = re.compile(r"\n{3,}")
# Characters that text does not show: control characters other than \t \n \v \f \r and ESC (which
# starts the colour codes that saved terminal logs are full of), DEL, C1, U+FFFD (what a decode
# could not map) and private-use code points.
_UNPRINTABLE = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f\ufffd\ue000-\uf8ff]")
# Measured on the samples of tests/test_binary_text.py: text decodes to at most 0.2% of those; random
# bytes and PNG, ELF, zip or gzip files to 21-28% from 256 bytes up. 64 random bytes can fall to 3%,
# but charset-normalizer finds no encoding for them, and where none fits 1% is more than text has.
BINARY_SHARE, BINARY_SHARE_NO_FIT = 0.10, 0.01
# In UTF-16 every ASCII or Latin-1 character, and every space, has a zero byte, on the odd side in
# little-endian; text has almost no characters whose other byte is zero (U+0100, U+4E00...).
_UTF16_ZEROS, _UTF16_STRAY_ZEROS, HEAD_BYTES = 0.10, 0.02, 65536


def clean_text(text: str) -> str:
    """Remove NULs, normalise newlines, strip line ends, collapse runs of blank lines into one."""
    text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip("\n")


def decode_text(data: bytes) -> str:
    """Decode bytes of unknown encoding: BOM, then UTF-16 told by its zero bytes, strict UTF-8, then a guess."""
    return _decode(data)[0]


def decode_text_file(data: bytes, name: str) -> str:
    """decode_text for a file that claims to be text, refusing it when it decodes to binary noise."""
    text, fits = _decode(data)
    _refuse_binary(text, fits, name)
    return text


def _refuse_binary(text: str, fits: bool, name: str) -> None:
    refuse_binary_share(unprintable_share(text), fits, name)


def refuse_binary_share(share: float, fits: bool, name: str) -> None:
    """Raise if a text's share of unprintable characters says it is binary data (`fits`: an encoding fit its bytes)."""
    if share > BINARY_SHARE or (share > BINARY_SHARE_NO_FIT and not fits):
        raise DocumentError(
            "corrupt",
            f"{name} looks like binary data, not text: "
            "check that it is the right file, or save it as plain text and upload that.",
        )


def _decode_html(data: bytes, name: str) -> str:
    """A declared charset is trusted; without one, bs4's own guess turns cp1252 "très" into "trčs"."""
    from bs4.dammit import EncodingDetector

    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    if not declared:
        return decode_text_file(data, name)
    try:
        text = data.decode(declared, errors="replace")
    except LookupError:  # a charset Python does not know: read it as any text of unknown encoding
        return decode_text_file(data, name)
    # A <meta charset> in front of binary bytes (a renamed file, a truncated download) is still binary.
    _refuse_binary(text, True, name)
    return text


def _decode(data: bytes) -> tuple[str, bool]:
    """The text, and whether an encoding fits the bytes (False where charset-normalizer found none)."""
    announced = announced_encoding(data)
    if announced:
        return data.decode(announced, errors="replace"), True
    try:
        return data.decode("utf-8"), True
    except UnicodeDecodeError:
        encoding, fits = guess_encoding(data)
        return data.decode(encoding, errors="replace"), fits


def announced_encoding(head: bytes) -> str | None:
    """The encoding a file's first bytes announce: a BOM, or UTF-16 told by the zero bytes of its first 64 KB.

    Checked before UTF-8, which accepts the ASCII part of UTF-16 and keeps every zero byte."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    return _bomless_utf16(head)


def unprintable_share(text: str) -> float:
    """The share of characters in `text` that no text shows (see _UNPRINTABLE)."""
    return unprintable_count(text) / len(text) if text else 0.0


def unprintable_count(text: str) -> int:
    # Counted match by match: sub("") built a second copy of the whole text (a 32 MB corpus read at once).
    return sum(1 for _ in _UNPRINTABLE.finditer(text))


def _bomless_utf16(data: bytes) -> str | None:
    """The UTF-16 codec to use when the zero bytes of the first 64 KB sit on one side of the byte pairs."""
    sample = data[:HEAD_BYTES]
    pairs = len(sample) // 2
    if not pairs:
        return None
    even, odd = sample[0 : 2 * pairs : 2].count(0) / pairs, sample[1 : 2 * pairs : 2].count(0) / pairs
    if odd >= _UTF16_ZEROS and even <= _UTF16_STRAY_ZEROS:
        return "utf-16-le"
    if even >= _UTF16_ZEROS and odd <= _UTF16_STRAY_ZEROS:
        return "utf-16-be"
    return None


def guess_encoding(data: bytes) -> tuple[str, bool]:
    """charset-normalizer's encoding and True; cp1252 or Latin-1 and False when it finds none."""
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        return ("cp1252" if _decodes(data, "cp1252") else "latin-1"), False
    # On short Western text many code pages tie (cp1250 often ranks first and turns "très" into
    # "trčs"); among the least chaotic guesses prefer cp1252, the usual legacy Windows encoding.
    least = min(match.chaos for match in matches)
    tied = [match for match in matches if match.chaos <= least]
    if any("cp1252" in match.could_be_from_charset for match in tied) and _decodes(data, "cp1252"):
        return "cp1252", True
    return matches[0].encoding, True


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def error_detail(exc: BaseException) -> str:
    """The first line of an exception's message, short enough for a one-line report."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]


def corrupt_error(name: str, what: str, exc: BaseException) -> DocumentError:
    message = f"{name} could not be read as {what} ({error_detail(exc)}): check that it opens and upload it again."
    return DocumentError("corrupt", message)


def read_text(data: bytes, name: str) -> Extracted:
    """Plain text and markdown; markdown stays as source, since it is searched as text."""
    return Extracted(clean_text(decode_text_file(data, name)))


def read_csv(data: bytes, name: str) -> Extracted:
    """One line per row, "header: value | header: value", empty cells left out."""
    text = decode_text_file(data, name)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), _sniff(text))
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise corrupt_error(name, "CSV", exc) from exc
    if len(rows) < 2:  # a header alone is still text worth finding
        return Extracted(clean_text("\n".join(" | ".join(_one_line(c) for c in r) for r in rows)))
    header = [_one_line(cell) for cell in rows[0]]
    lines = [_csv_line(header, row) for row in rows[1:]]
    return Extracted(clean_text("\n".join(lines)))


def _sniff(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _csv_line(header: list[str], row: list[str]) -> str:
    cells = []
    for i, value in enumerate(row):
        if value.strip():
            label = header[i] if i < len(header) and header[i] else f"column {i + 1}"
            cells.append(f"{label}: {_one_line(value)}")
    return " | ".join(cells)


# fmt: off
_PARAGRAPH_TAGS = frozenset((
    "address", "article", "aside", "blockquote", "caption", "details", "dialog", "div", "dl", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main",
    "nav", "ol", "p", "pre", "section", "summary", "table", "ul",
))
# fmt: on
_LINE_TAGS = frozenset(("li", "tr", "dt", "dd", "option"))
_DROP_TAGS = ("script", "style", "noscript", "template", "head")
_PARA, _LINE = "\ue000", "\ue001"  # private-use markers survive whitespace collapsing


def read_html(data: bytes, name: str) -> Extracted:
    """Visible text with block elements as line and paragraph breaks; title from <title>."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode_html(data, name), "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for pre in soup.find_all("pre"):  # the only place where source newlines mean something
        for string in pre.find_all(string=True):
            string.replace_with(string.replace("\n", _LINE))
    for tag in soup.find_all(True):
        if tag.name == "br":
            tag.replace_with(_LINE)
        elif tag.name in _PARAGRAPH_TAGS:
            tag.insert_before(_PARA)
            tag.insert_after(_PARA)
        elif tag.name in _LINE_TAGS:
            tag.insert_after(_LINE)
        elif tag.name in ("td", "th"):
            tag.insert_after(" ")
    text = " ".join(soup.get_text().split()).replace(_PARA, "\n\n").replace(_LINE, "\n")
    text = "\n".join(line.strip() for line in text.split("\n"))
    return Extracted(clean_text(text), title=title or None)


_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")


def read_docx(data: bytes, name: str) -> Extracted:
    """Paragraphs and table rows in document order; title from the core properties."""
    if data.startswith(_OLE_MAGIC):  # Word saves password-protected files as OLE, like old .doc
        if _ENCRYPTED_PACKAGE in data:
            raise DocumentError(
                "encrypted", f"{name} is password-protected: remove the password in Word and upload it again."
            )
        raise DocumentError(
            "unsupported",
            f"{name} is an old Word .doc file: open it in Word, save it as .docx and upload that.",
        )
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
        blocks = [_docx_block(item) for item in document.iter_inner_content()]
        title = document.core_properties.title
    except Exception as exc:  # python-docx raises KeyError, ValueError, BadZipFile, XML errors...
        raise corrupt_error(name, "a Word document", exc) from exc
    return Extracted(clean_text("\n\n".join(b for b in blocks if b.strip())), title=title or None)


def _docx_block(item: Any) -> str:
    if not hasattr(item, "rows"):  # a Paragraph
        return item.text
    lines = []
    for row in item.rows:
        seen, cells = set(), []
        for cell in row.cells:  # a merged cell is repeated once per grid column it spans
            if id(cell._tc) not in seen and cell.text.strip():
                seen.add(id(cell._tc))
                cells.append(_one_line(cell.text))
        lines.append(" | ".join(cells))
    return "\n".join(line for line in lines if line)


def read_pdf(data: bytes, name: str) -> Extracted:
    """Text per page joined with a blank line; page count and the offset where each page starts."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError("encrypted", f"{name} is encrypted: remove the password and upload it again.")
        pages = list(reader.pages)
    except DocumentError:
        raise
    except DependencyError as exc:
        raise DocumentError(
            "encrypted",
            f"{name} is AES-encrypted and this installation lacks the 'cryptography' package: "
            "install it, or save the PDF without encryption and upload it again.",
        ) from exc
    except Exception as exc:  # pypdf raises many types on damaged files, not only PdfReadError
        raise corrupt_error(name, "a PDF", exc) from exc
    texts, broken = [], 0
    for page in pages:
        try:
            texts.append(clean_text(page.extract_text()))
        except Exception:  # one damaged page should not cost the whole document
            broken += 1
            texts.append("")
    if pages and broken == len(pages):
        raise corrupt_error(name, "a PDF", ValueError("no page could be read"))
    if not pages:
        raise DocumentError("no_text", f"{name} has no pages: check that it is the right file.")
    if not any(texts):
        raise DocumentError(
            "no_text",
            f"{name} has {len(pages)} page(s) but no extractable text, probably because it is scanned: "
            "run OCR on it (for example with ocrmypdf) and upload the result.",
        )
    text, offsets = _join_pages(texts)
    return Extracted(text, title=_pdf_title(reader), page_offsets=offsets)


def _join_pages(texts: list[str]) -> tuple[str, tuple[int, ...]]:
    """Join page texts with blank lines; an empty page starts where the previous one ended."""
    parts: list[str] = []
    offsets: list[int] = []
    position = 0
    for text in texts:
        if text and parts:
            position += 2
        offsets.append(position)
        if text:
            parts.append(text)
            position += len(text)
    return "\n\n".join(parts), tuple(offsets)


def _pdf_title(reader: Any) -> str | None:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # a broken info dictionary is no reason to lose the text
        return None
    return (str(title).strip() or None) if title else None
