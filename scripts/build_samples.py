"""Build the binary sample documents in data/samples/docs/ from their text sources.

The "load sample documents" button fills an empty library from data/samples/docs/. Most samples
there are plain text written by hand (.txt .md .html .csv .json .jsonl) and are their own source;
this script makes the three binary ones from sources in data/samples/src/:

    src/wing-aerodynamics.md  ->  docs/wing-aerodynamics.pdf   (fpdf2, 3 A4 pages, real text)
    src/vegetable-garden.md   ->  docs/vegetable-garden.docx   (python-docx, headings and a table)
    src/product-help/*        ->  docs/product-help.zip        (zipfile, one entry per file)

The built files are committed, so the app never needs fpdf2; only this script does:

    .venv/bin/pip install fpdf2==2.8.9
    .venv/bin/python scripts/build_samples.py           # rebuild, then read docs/ back as the app does
    .venv/bin/python scripts/build_samples.py --check   # build into a temp folder, compare with docs/

The output is deterministic: fixed dates in the PDF and Word metadata, fixed timestamps and
permissions on every zip entry (the .docx is re-zipped the same way, since python-docx stamps the
current time). --check exits 1 if a committed file differs from a fresh build (with another fpdf2
or python-docx version the bytes may differ while the text stays the same).

The sources use a tiny subset of markdown: "# " title, "## " headings, blocks separated by blank
lines, and blocks whose lines all start with "|" as tables (first row is the header).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
SRC, DOCS = SAMPLES / "src", SAMPLES / "docs"
FIXED_DATE = datetime(2025, 1, 1, tzinfo=UTC)
ZIP_DATE = (2025, 1, 1, 0, 0, 0)
AUTHOR = "Potion Search sample documents (CC0 1.0)"
MAX_TOTAL_BYTES = 1024 * 1024


# --- the markdown subset ---------------------------------------------------------------------------


def parse(path: Path) -> tuple[str, list[tuple[str, object]]]:
    """The title and a list of ("heading", str) / ("para", str) / ("table", [[cell, ...], ...]) blocks."""
    title, blocks = "", []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        lines = [line.strip() for line in block.strip().split("\n") if line.strip()]
        if not lines:
            continue
        if lines[0].startswith("# "):
            title = lines[0][2:].strip()
        elif lines[0].startswith("## "):
            blocks.append(("heading", lines[0][3:].strip()))
        elif all(line.startswith("|") for line in lines):
            blocks.append(("table", [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]))
        else:
            blocks.append(("para", " ".join(lines)))
    if not title:
        raise SystemExit(f"{path}: no '# ' title line")
    return title, blocks


# --- PDF -------------------------------------------------------------------------------------------


def build_pdf(source: Path, target: Path) -> None:
    from fpdf import FPDF

    title, blocks = parse(source)

    class Pdf(FPDF):
        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", size=9)
            self.cell(0, 10, f"{self.page_no()}", align="C")

    pdf = Pdf(format="A4")
    pdf.set_margins(22, 20, 22)
    pdf.set_auto_page_break(True, margin=20)
    pdf.set_title(title)
    pdf.set_author(AUTHOR)
    pdf.set_subject("Sample document for Potion Search: lift, boundary layers, stall, drag, high-lift devices")
    pdf.set_keywords("aerodynamics wing lift boundary layer stall drag")
    pdf.set_creator("scripts/build_samples.py")
    pdf.set_lang("en")
    pdf.set_creation_date(FIXED_DATE)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.multi_cell(0, 9, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for kind, value in blocks:
        if kind == "heading":
            pdf.ln(2)
            pdf.set_font("Helvetica", "B", 13)
            pdf.multi_cell(0, 7, _latin1(value), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif kind == "para":
            pdf.set_font("Helvetica", size=11)
            pdf.multi_cell(0, 5.6, _latin1(value), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        else:
            raise SystemExit(f"{source}: tables are not supported in the PDF source")
    target.write_bytes(bytes(pdf.output()))


def _latin1(text: str) -> str:
    """The core PDF fonts cover Latin-1 only: fail loudly rather than print '?'."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise SystemExit(f"PDF text must be Latin-1 (core fonts): {text[exc.start : exc.end + 20]!r}") from exc
    return text


# --- DOCX ------------------------------------------------------------------------------------------


def build_docx(source: Path, target: Path) -> None:
    import docx
    from docx.shared import Pt

    title, blocks = parse(source)
    document = docx.Document()
    props = document.core_properties
    props.title, props.author, props.last_modified_by = title, AUTHOR, AUTHOR
    props.subject = "Sample document for Potion Search: soil, crop rotation, planting calendar, pests"
    props.keywords = "gardening vegetables planting calendar"
    props.comments = "Original text, dedicated to the public domain under CC0 1.0."
    props.language = "en-GB"
    props.created = props.modified = props.last_printed = FIXED_DATE.replace(tzinfo=None)
    props.revision = 1
    document.add_heading(title, level=0)
    for kind, value in blocks:
        if kind == "heading":
            document.add_heading(value, level=1)
        elif kind == "para":
            document.add_paragraph(value)
        else:
            rows = value
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            table.style = "Light Grid Accent 1"
            for r, row in enumerate(rows):
                if len(row) != len(rows[0]):
                    raise SystemExit(f"{source}: table row {r + 1} has {len(row)} cells, not {len(rows[0])}")
                for c, text in enumerate(row):
                    cell = table.cell(r, c)
                    run = cell.paragraphs[0].add_run(text)
                    run.font.size = Pt(9)
                    run.bold = r == 0
    buffer = io.BytesIO()
    document.save(buffer)
    target.write_bytes(_restamp(buffer.getvalue()))


def _restamp(data: bytes) -> bytes:
    """The same zip with every entry's timestamp and attributes fixed, order kept."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as zipped:
        for info in source.infolist():
            _add(zipped, info.filename, source.read(info))
    return out.getvalue()


# --- ZIP -------------------------------------------------------------------------------------------


def build_zip(folder: Path, target: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zipped:
        for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
            _add(zipped, path.name, path.read_bytes())
    target.write_bytes(out.getvalue())


def _add(zipped: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, whatever machine builds it
    info.external_attr = 0o644 << 16
    zipped.writestr(info, data, compresslevel=9)


# --- main ------------------------------------------------------------------------------------------

BUILDS = (
    ("wing-aerodynamics.pdf", build_pdf, SRC / "wing-aerodynamics.md"),
    ("vegetable-garden.docx", build_docx, SRC / "vegetable-garden.md"),
    ("product-help.zip", build_zip, SRC / "product-help"),
)


def build(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, builder, source in BUILDS:
        builder(source, out / name)


def check_read(folder: Path) -> int:
    """Read the folder as the app does; 0 if every file gave documents and the set is small enough."""
    sys.path.insert(0, str(ROOT))
    from core.read.documents import read_path

    result = read_path(folder)
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    for doc in result.documents:
        pages = f", {doc.pages} pages" if doc.pages else ""
        print(f"  {doc.name}  [{doc.doc_type}{pages}]  {len(doc.text.split())} words  {doc.title or ''}")
    for failure in result.failures:
        print(f"  FAILED {failure.name}: {failure.message}", file=sys.stderr)
    print(f"{len(result.documents)} documents, {len(result.failures)} failures, {total:,} bytes on disk")
    if total > MAX_TOTAL_BYTES:
        print(f"error: the samples take {total:,} bytes, over {MAX_TOTAL_BYTES:,}", file=sys.stderr)
        return 1
    return 1 if result.failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="build into a temp folder and compare with docs/")
    args = parser.parse_args()
    if not args.check:
        build(DOCS)
        for name, _, _ in BUILDS:
            print(f"wrote {(DOCS / name).relative_to(ROOT)} ({(DOCS / name).stat().st_size:,} bytes)")
        return check_read(DOCS)
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp))
        stale = [name for name, _, _ in BUILDS if (Path(tmp) / name).read_bytes() != _bytes(DOCS / name)]
    for name in stale:
        print(f"differs from a fresh build: data/samples/docs/{name}", file=sys.stderr)
    if not stale:
        print("the committed binary samples match a fresh build")
    return 1 if stale else 0


def _bytes(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


if __name__ == "__main__":
    sys.exit(main())
