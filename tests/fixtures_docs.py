"""Builders for test documents, made in memory with the runtime libraries only.

The PDFs are written with pypdf: a standard Helvetica font and a content stream per page, so the
text in them is real text that pypdf's extractor has to find.
"""

from __future__ import annotations

import io
import json
import zipfile


def make_pdf(
    pages: list[str],
    title: str | None = None,
    password: str | None = None,
    algorithm: str = "RC4-128",
) -> bytes:
    """A PDF with one page per string (an empty string gives a page without text)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    font_ref = writer._add_object(font)
    for text in pages:
        page = writer.add_blank_page(612, 792)
        fonts = DictionaryObject({NameObject("/F1"): font_ref})
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
        stream = DecodedStreamObject()
        stream.set_data(_page_operators(text))
        page[NameObject("/Contents")] = writer._add_object(stream)
    if title:
        writer.add_metadata({"/Title": title})
    if password is not None:
        writer.encrypt(password, algorithm=algorithm)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def _page_operators(text: str) -> bytes:
    if not text:
        return b""
    operators = ["BT /F1 12 Tf 14 TL 72 720 Td"]
    for line in text.splitlines():
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        operators.append(f"({escaped}) Tj T*")
    operators.append("ET")
    return "\n".join(operators).encode("latin-1")


def make_docx(before: list[str], table: list[list[str]], after: list[str], title: str | None = None) -> bytes:
    """A Word file: paragraphs, then a table, then more paragraphs."""
    import docx

    document = docx.Document()
    for text in before:
        document.add_paragraph(text)
    grid = document.add_table(rows=len(table), cols=len(table[0]))
    for r, row in enumerate(table):
        for c, value in enumerate(row):
            grid.cell(r, c).text = value
    for text in after:
        document.add_paragraph(text)
    if title:
        document.core_properties.title = title
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_zip(members: dict[str, bytes], encrypted: tuple[str, ...] = ()) -> bytes:
    """A zip of the given members; names in `encrypted` get the encryption flag bit set.

    Python's zipfile cannot encrypt, but readers decide from that flag, as real tools do.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    raw = buffer.getvalue()
    for name in encrypted:
        raw = _set_encrypted_flag(raw, name)
    return raw


def _set_encrypted_flag(raw: bytes, name: str) -> bytes:
    """Set general-purpose bit 0 in both the local and the central header of one member."""
    data = bytearray(raw)
    encoded = name.encode("utf-8")
    for signature, flag_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            if data[start + name_at : start + name_at + len(encoded)] == encoded:
                data[start + flag_at] |= 0x1
            start += 4
    return bytes(data)


def make_jsonl(records: list[dict], broken_lines: dict[int, str] | None = None) -> bytes:
    """One JSON object per line; `broken_lines` inserts raw text at the given 1-based line numbers."""
    lines = [json.dumps(record) for record in records]
    for number, text in sorted((broken_lines or {}).items()):
        lines.insert(number - 1, text)
    return ("\n".join(lines) + "\n").encode("utf-8")


HTML_PAGE = b"""<!DOCTYPE html>
<html><head>
  <title>Wing Tests</title>
  <meta name="description" content="metadata words">
  <style>body { color: hotpink; }</style>
  <script>var secretTracker = 1;</script>
</head>
<body>
  <h1>Slipstream results</h1>
  <p>The propeller
     slipstream raised lift.</p>
  <noscript>enable javascript please</noscript>
  <template><p>template words</p></template>
  <ul><li>first item</li><li>second item</li></ul>
  <script type="text/javascript">document.write("injected");</script>
  <p>Closing<br>remarks</p>
</body></html>
"""
