"""A corpus of hostile files, generated into a folder (no binaries are committed), with what each must give.

Every file here is something a real upload has contained or an attacker would try. `write_hostile_corpus`
returns, per document name, None for a file that must be indexed, or the words its one-sentence refusal
must contain. The limits the corpus is meant to meet are in LIMITS (environment variables).
"""

from __future__ import annotations

from pathlib import Path

from tests.fixtures_docs import HTML_PAGE, make_docx, make_pdf, make_zip

LIMITS = {
    "POTION_MAX_FILE_MB": "8",  # uploads
    "POTION_MAX_WHOLE_FILE_MB": "8",  # the same files given by path, as the corpus is
    "POTION_ZIP_MAX_RATIO": "100",
    "POTION_ZIP_MAX_MEMBERS": "500",
    "POTION_MAX_CHUNKS_PER_FILE": "60",
}
PROSE = (
    "The wing stalls when the angle of attack passes its critical value, and lift falls away. "
    "Pilots recover by lowering the nose, which restores the flow over the upper surface. "
)
HUGE_LINE_BYTES = 50 * 1024 * 1024
ODD_NAME = 'a "quoted" back\\slash\nnew line \u200fright-to-left\u202e name.txt'


def _nested(depth: int, leaf: bytes) -> bytes:
    data = make_zip({"deep.txt": leaf})
    for level in range(depth - 1):
        data = make_zip({f"level{level}.zip": data})
    return data


def write_hostile_corpus(folder: Path) -> dict[str, str | None]:
    """Write the corpus; returns {document name: None if it must be indexed, else words its refusal holds}."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    expect: dict[str, str | None] = {}

    def add(name: str, data: bytes, outcome: str | None, document: str | None = None) -> None:
        files[name] = data
        expect[document or name] = outcome

    # Good files: each must be indexed, whatever its encoding or shape.
    add("good.txt", PROSE.encode(), None)
    accented = "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, na\u00efve fa\u00e7ade. "
    add("latin1.txt", (accented + PROSE).encode("latin-1"), None)
    add("utf16.txt", PROSE.encode("utf-16"), None)
    add("invalid-utf8.txt", PROSE.encode()[:60] + b"\xc3\x28\xff" + PROSE.encode()[60:], None)
    add("page.html", HTML_PAGE, None)
    add("odd.csv", b'name;"note; with ""quotes"""\nwing;"stall\nrecovery; nose down"\nflap;plain\n', None)
    add(ODD_NAME, PROSE.encode(), None)
    add("long-line.txt", (PROSE.replace(". ", ", ") * 8).encode(), None)  # one line, no sentence end
    add("report.docx", make_docx([PROSE], [["a", "b"]], ["after"]), None)
    add("nested.zip", _nested(2, PROSE.encode()), None, "nested.zip/level0.zip/deep.txt")
    files["traversal.zip"] = make_zip({"../escape.txt": PROSE.encode(), "/abs/rooted.txt": PROSE.encode()})
    expect["traversal.zip/escape.txt"] = None  # named inside the archive; nothing is ever written to disk
    expect["traversal.zip/abs/rooted.txt"] = None

    # Bad files: each gives one refusal naming it, and costs the batch nothing else.
    add("empty.txt", b"", "is empty")
    add("blank.txt", b" \n\t \r\n   ", "contains no text")
    add("binary.txt", bytes(range(256)) * 64, "looks like binary data")
    add("huge-line.txt", b"x" * HUGE_LINE_BYTES, "over the 8 MB limit")
    add("corrupt.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage", "could not be read")
    add("encrypted.pdf", make_pdf([PROSE], password="secret"), "is encrypted")
    add("images-only.pdf", make_pdf(["", ""]), "no extractable text")
    add("corrupt.docx", b"PK\x03\x04" + b"\x00garbage" * 40, "could not be read")
    add("invalid.json", b'{"text": "an unterminated string', "could not be read")
    add("unknown.txt", "\U00013000\U00013001 \U00013002\U00013003 \U00013004".encode(), "no words the model knows")
    add("too-many-chunks.txt", (PROSE * 250).encode(), "over the limit of 60 chunks")
    add("bomb-ratio.zip", make_zip({"zeros.txt": b"0" * (4 * 1024 * 1024)}), "compressed", "bomb-ratio.zip/zeros.txt")
    add("bomb-count.zip", make_zip({f"m{i}.txt": b"tiny" for i in range(600)}), "holds 600 files")
    add("too-deep.zip", _nested(4, PROSE.encode()), "nested more than", "too-deep.zip/level2.zip/level1.zip/level0.zip")
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return expect
