"""Reading files into Documents: every format, every failure kind, and batches that keep going."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures_docs import HTML_PAGE, make_docx, make_jsonl, make_pdf, make_zip

from core.ingest.pipeline import read_sources
from core.read import documents
from core.read import formats as readers
from core.read.documents import (
    SUPPORTED_EXTENSIONS,
    FailureKind,
    ReadResult,
    read_bytes,
    read_path,
)
from tests.conftest import shared_dataset


def only_document(result: ReadResult) -> documents.Document:
    assert result.failures == [], result.failures
    assert len(result.documents) == 1
    return result.documents[0]


def only_failure(result: ReadResult) -> documents.ReadFailure:
    assert result.documents == []
    assert len(result.failures) == 1
    failure = result.failures[0]
    assert failure.name in failure.message  # every message names the file it is about
    assert failure.message.endswith(".")
    return failure


# --- PDF -------------------------------------------------------------------------------------


def test_pdf_text_comes_out_per_page_with_page_count_offsets_and_title():
    data = make_pdf(["Aerodynamics of a wing\nin a slipstream", "Propeller lift data"], title="Wing Report")
    doc = only_document(read_bytes("report.pdf", data))
    assert doc.doc_type == "pdf"
    assert doc.title == "Wing Report"
    assert doc.text == "Aerodynamics of a wing\nin a slipstream\n\nPropeller lift data"
    assert doc.page_offsets == (0, doc.text.index("Propeller"))


def test_pdf_page_without_text_keeps_its_offset_and_the_page_count():
    doc = only_document(read_bytes("gap.pdf", make_pdf(["first page", "", "third page"])))
    assert doc.text == "first page\n\nthird page"
    assert doc.page_offsets == (0, len("first page"), doc.text.index("third"))


def test_encrypted_pdf_is_reported_not_raised():
    failure = only_failure(read_bytes("report.pdf", make_pdf(["secret plans"], password="hunter2")))
    assert failure.kind is FailureKind.ENCRYPTED
    assert failure.message == "report.pdf is encrypted: remove the password and upload it again."


def test_pdf_encrypted_with_an_empty_user_password_is_read():
    pytest.importorskip("cryptography", reason="AES-encrypted PDFs need the cryptography package")
    data = make_pdf(["printable but protected"], password="", algorithm="AES-256")
    assert only_document(read_bytes("protected.pdf", data)).text == "printable but protected"


@pytest.mark.parametrize("data", [b"%PDF-1.7\n1 0 obj << /Type /Catalog", b"not a pdf at all", b"\x00\xff" * 50])
def test_corrupt_pdf_is_reported_as_corrupt(data):
    failure = only_failure(read_bytes("broken.pdf", data))
    assert failure.kind is FailureKind.CORRUPT


def test_scanned_pdf_without_text_is_no_text_and_suggests_ocr():
    failure = only_failure(read_bytes("scan.pdf", make_pdf(["", ""])))
    assert failure.kind is FailureKind.NO_TEXT
    assert "2 page(s)" in failure.message and "OCR" in failure.message


# --- Word ------------------------------------------------------------------------------------


def test_docx_paragraphs_and_table_cells_come_out_in_document_order():
    data = make_docx(
        ["Introduction to wings"],
        [["Model", "Mach"], ["Delta", "2.5"]],
        ["Conclusion follows"],
        title="Wing Memo",
    )
    doc = only_document(read_bytes("memo.docx", data))
    assert doc.doc_type == "docx"
    assert doc.title == "Wing Memo"
    assert doc.text == "Introduction to wings\n\nModel | Mach\nDelta | 2.5\n\nConclusion follows"


def test_corrupt_docx_is_reported_as_corrupt():
    failure = only_failure(read_bytes("memo.docx", b"PK\x03\x04 this zip ends here"))
    assert failure.kind is FailureKind.CORRUPT


def test_password_protected_docx_is_reported_as_encrypted():
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500 + "EncryptedPackage".encode("utf-16-le")
    assert only_failure(read_bytes("secret.docx", ole)).kind is FailureKind.ENCRYPTED


# --- HTML, CSV, text ---------------------------------------------------------------------------


def test_html_keeps_visible_text_and_drops_scripts_styles_and_head():
    doc = only_document(read_bytes("page.html", HTML_PAGE))
    assert doc.title == "Wing Tests"
    assert doc.doc_type == "html"
    for absent in (
        "secretTracker",
        "hotpink",
        "injected",
        "enable javascript",
        "template words",
        "metadata words",
    ):
        assert absent not in doc.text
    assert "Slipstream results" in doc.text


def test_html_block_elements_become_paragraph_and_line_breaks():
    doc = only_document(read_bytes("PAGE.HTM", HTML_PAGE))
    assert doc.text.split("\n") == [
        "Slipstream results",
        "",
        "The propeller slipstream raised lift.",
        "",
        "first item",
        "second item",
        "",
        "Closing",
        "remarks",
    ]


def test_html_without_a_declared_charset_is_decoded_like_text():
    html = "<html><body><p>Le café est très bon, à bientôt.</p></body></html>".encode("cp1252")
    assert only_document(read_bytes("menu.html", html)).text == "Le café est très bon, à bientôt."


def test_html_declared_charset_is_respected():
    html = '<html><head><meta charset="koi8-r"></head><body><p>Привет, мир</p></body></html>'
    assert only_document(read_bytes("ru.html", html.encode("koi8-r"))).text == "Привет, мир"


def test_csv_rows_become_header_value_lines_with_the_sniffed_delimiter():
    data = b"model;speed;note\ndelta wing;2.5;\nswept wing;0.9;stall at 14 degrees\n"
    doc = only_document(read_bytes("wings.csv", data))
    assert doc.text == "model: delta wing | speed: 2.5\nmodel: swept wing | speed: 0.9 | note: stall at 14 degrees"


def test_csv_with_only_a_header_is_still_text():
    assert only_document(read_bytes("h.csv", b"alpha,beta\n")).text == "alpha | beta"


def test_cp1252_text_is_decoded_without_mojibake():
    data = "Le café est très bon.\r\nÀ bientôt, naïve “friend”.".encode("cp1252")
    doc = only_document(read_bytes("menu.txt", data))
    assert doc.text == "Le café est très bon.\nÀ bientôt, naïve “friend”."


def test_short_cp1252_word_is_decoded():
    assert only_document(read_bytes("c.txt", "café".encode("cp1252"))).text == "café"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "utf-32"])
def test_text_with_a_byte_order_mark_is_decoded_and_the_mark_dropped(encoding):
    doc = only_document(read_bytes("notes.txt", "Grüße aus Köln\nzweite Zeile".encode(encoding)))
    assert doc.text == "Grüße aus Köln\nzweite Zeile"


def test_text_is_cleaned_minimally_and_cleaning_is_stable():
    data = b"\n\ntitle  \r\n\x00body line\t \n\n\n\n\nnext paragraph\n\n  indented stays\n\n"
    doc = only_document(read_bytes("notes.md", data))
    assert doc.doc_type == "md"
    assert doc.text == "title\nbody line\n\nnext paragraph\n\n  indented stays"
    assert readers.clean_text(doc.text) == doc.text


def test_markdown_is_kept_as_source_text():
    doc = only_document(read_bytes("README.md", b"# Heading\n\n* item with **bold**\n"))
    assert doc.text == "# Heading\n\n* item with **bold**"


# --- JSON and JSONL ----------------------------------------------------------------------------


def test_json_list_of_records_gives_one_document_per_record():
    records = [
        {"id": 7, "title": "Wing flutter", "text": "Flutter appears at high speed."},
        {"_id": "b2", "title": "Shock waves", "content": "Shock waves form near Mach 1."},
        {"title": "", "body": "A record without an id."},
        {"id": "dup", "title": "Boundary layer", "abstract": ["Prandtl described it.", "Second sentence."]},
    ]
    result = read_bytes("corpus.json", json.dumps(records).encode())
    assert result.failures == []
    by_name = {doc.name: doc for doc in result.documents}
    assert list(by_name) == ["corpus.json#7", "corpus.json#b2", "corpus.json#2", "corpus.json#dup"]
    assert by_name["corpus.json#7"].text == "Wing flutter\n\nFlutter appears at high speed."
    assert by_name["corpus.json#7"].title == "Wing flutter"
    assert by_name["corpus.json#7"].source_id == "7"
    assert by_name["corpus.json#2"].title is None
    assert by_name["corpus.json#dup"].text == "Boundary layer\n\nPrandtl described it. Second sentence."
    doc = by_name["corpus.json#b2"]
    assert doc.doc_type == "json"


def test_json_record_title_is_not_repeated_when_the_text_already_starts_with_it():
    records = [
        {
            "id": "1",
            "title": "Steady motion of a sphere.",
            "text": "steady motion of a sphere. The formula...",
        }
    ]
    doc = only_document(read_bytes("c.json", json.dumps({"documents": records}).encode()))
    assert doc.text == "steady motion of a sphere. The formula..."


def test_other_json_is_flattened_into_key_value_lines():
    data = json.dumps({"project": {"name": "wing study", "tags": ["lift", "drag"], "year": 1967}, "note": "ok"})
    doc = only_document(read_bytes("meta.json", data.encode()))
    assert doc.name == "meta.json" and doc.source_id is None
    assert doc.text == "project.name: wing study\nproject.tags[0]: lift\nproject.tags[1]: drag\nnote: ok"


def test_invalid_json_is_corrupt():
    failure = only_failure(read_bytes("broken.json", b'{"title": "unterminated'))
    assert failure.kind is FailureKind.CORRUPT


def test_beir_jsonl_reports_empty_records_and_broken_lines_without_stopping():
    records = [
        {"_id": "1", "title": "Lift", "text": "Lift grows with angle of attack."},
        {"_id": "471", "title": "", "text": ""},
        {"_id": "3", "title": "Drag", "text": "Drag grows with speed."},
    ]
    data = make_jsonl(records, broken_lines={3: '{"_id": "2", "text": oops}'}).replace(b"\n", b"\n\n", 1)
    result = read_bytes("corpus.jsonl", data)
    assert [doc.name for doc in result.documents] == ["corpus.jsonl#1", "corpus.jsonl#3"]
    assert [(f.name, f.kind) for f in result.failures] == [
        ("corpus.jsonl#471", FailureKind.EMPTY),
        ("corpus.jsonl:4", FailureKind.CORRUPT),  # line 4: a blank line was added after line 1
    ]
    assert "line 4" in result.failures[1].message
    assert result.documents[1].doc_type == "jsonl" and result.documents[1].source_id == "3"


def test_cranfield_corpus_reads_1398_documents_and_reports_two_empty_records():
    corpus = shared_dataset("cranfield") / "corpus.jsonl"
    result = read_path(corpus)
    assert len(result.documents) == 1398
    assert [(f.name, f.kind) for f in result.failures] == [
        ("corpus.jsonl#471", FailureKind.EMPTY),
        ("corpus.jsonl#995", FailureKind.EMPTY),
    ]
    raw = {r["id"]: r for r in map(json.loads, corpus.read_text().splitlines())}
    first = result.documents[0]
    assert first.source_id == "1" and first.name == "corpus.jsonl#1"
    assert first.title == "experimental investigation of the aerodynamics of a wing in a slipstream ."
    # Cranfield texts already open with their title (two with a typo), so no text is changed.
    assert all(doc.text == raw[doc.source_id]["text"] for doc in result.documents)
    assert all(doc.title == raw[doc.source_id]["title"] for doc in result.documents)


# --- ZIP ---------------------------------------------------------------------------------------


def test_zip_members_are_read_recursively_with_archive_paths():
    inner = make_zip({"deep/notes.md": b"# Nested notes"})
    data = make_zip(
        {
            "docs/readme.txt": b"zipped text",
            "docs/": b"",
            "inner.zip": inner,
            "tools/setup.exe": b"MZ\x90\x00",
            "__MACOSX/docs/._readme.txt": b"resource fork",
            "docs/.DS_Store": b"junk",
            "records.jsonl": make_jsonl([{"id": "r1", "text": "a record in a zip"}]),
        }
    )
    result = read_bytes("bundle.zip", data)
    assert [(doc.name, doc.text) for doc in result.documents] == [
        ("bundle.zip/docs/readme.txt", "zipped text"),
        ("bundle.zip/inner.zip/deep/notes.md", "# Nested notes"),
        ("bundle.zip/records.jsonl#r1", "a record in a zip"),
    ]
    assert [(f.name, f.kind) for f in result.failures] == [("bundle.zip/tools/setup.exe", FailureKind.UNSUPPORTED)]


def test_encrypted_zip_member_is_reported_and_the_others_still_read():
    data = make_zip({"open.txt": b"open text", "locked.txt": b"locked text"}, encrypted=("locked.txt",))
    result = read_bytes("mixed.zip", data)
    assert [doc.name for doc in result.documents] == ["mixed.zip/open.txt"]
    assert [(f.name, f.kind) for f in result.failures] == [("mixed.zip/locked.txt", FailureKind.ENCRYPTED)]


def test_corrupt_zip_is_reported_as_corrupt():
    assert only_failure(read_bytes("broken.zip", b"PK\x03\x04 truncated")).kind is FailureKind.CORRUPT


def test_zip_member_over_the_file_limit_is_too_large():
    bomb = make_zip({"zeros.txt": b"0" * 1_000_000, "small.txt": b"fine"})
    assert len(bomb) < 10_000  # it compresses to almost nothing
    result = read_bytes("bomb.zip", bomb, max_bytes=10_000)
    assert [doc.name for doc in result.documents] == ["bomb.zip/small.txt"]
    assert [(f.name, f.kind) for f in result.failures] == [("bomb.zip/zeros.txt", FailureKind.TOO_LARGE)]


def test_zip_total_uncompressed_size_is_capped_at_ten_times_the_limit():
    members = {f"part{i:02d}.txt": bytes([65 + i]) * 1_900 for i in range(12)}
    result = read_bytes("many.zip", make_zip(members), max_bytes=2_000)
    assert len(result.documents) == 10  # 10 x 1,900 bytes fit in 10 x 2,000; the 11th does not
    assert [(f.name, f.kind) for f in result.failures] == [
        ("many.zip/part10.txt", FailureKind.TOO_LARGE),
        ("many.zip/part11.txt", FailureKind.TOO_LARGE),
    ]
    assert "would unpack many.zip past 19.5 KB" in result.failures[0].message


def test_zip_nesting_deeper_than_three_archives_is_refused():
    data = make_zip({"level4.txt": b"too deep"})
    for level in (3, 2, 1):
        data = make_zip({f"level{level}.zip": data, f"level{level}.txt": b"level text"})
    result = read_bytes("top.zip", data)
    assert [doc.name for doc in result.documents] == [
        "top.zip/level1.zip/level2.zip/level3.txt",
        "top.zip/level1.zip/level2.txt",
        "top.zip/level1.txt",
    ]
    assert [(f.name, f.kind) for f in result.failures] == [
        ("top.zip/level1.zip/level2.zip/level3.zip", FailureKind.UNSUPPORTED)
    ]


# --- Size, emptiness, types --------------------------------------------------------------------


def test_zero_bytes_is_empty():
    failure = only_failure(read_bytes("blank.pdf", b""))
    assert failure.kind is FailureKind.EMPTY


def test_whitespace_only_text_file_is_empty_but_html_without_text_is_no_text():
    assert only_failure(read_bytes("spaces.txt", b"  \n\t\n ")).kind is FailureKind.EMPTY
    html = b"<html><head><title>t</title></head><body><script>x()</script> </body></html>"
    assert only_failure(read_bytes("blank.html", html)).kind is FailureKind.NO_TEXT


def test_oversized_file_is_too_large_and_the_message_gives_both_sizes():
    failure = only_failure(read_bytes("big.pdf", b"x" * (3 * 1024 * 1024), max_bytes=2 * 1024 * 1024))
    assert failure.kind is FailureKind.TOO_LARGE
    assert failure.message == "big.pdf is 3.0 MB, over the 2 MB limit: split it or raise POTION_MAX_FILE_MB."


def test_default_limit_comes_from_the_settings(monkeypatch):
    monkeypatch.setenv("POTION_MAX_FILE_MB", "0.001")  # 1,048 bytes
    assert only_failure(read_bytes("a.txt", b"x" * 2000)).kind is FailureKind.TOO_LARGE
    assert only_document(read_bytes("a.txt", b"x" * 1000)).text == "x" * 1000


def test_unknown_extension_is_unsupported_and_lists_the_supported_types():
    failure = only_failure(read_bytes("setup.exe", b"MZ"))
    assert failure.kind is FailureKind.UNSUPPORTED
    assert all(ext in failure.message for ext in SUPPORTED_EXTENSIONS)


def test_extension_matching_ignores_case():
    assert only_document(read_bytes("NOTES.TXT", b"upper case name")).doc_type == "txt"


def test_identical_text_gives_identical_content_hash():
    a = only_document(read_bytes("a.txt", b"same words\r\n"))
    b = only_document(read_bytes("b.md", "same words".encode("utf-16")))
    c = only_document(read_bytes("c.txt", b"other words"))
    assert a.content_hash == b.content_hash != c.content_hash
    assert len(a.content_hash) == 64


def test_a_parser_crash_becomes_a_corrupt_failure(monkeypatch):
    def explode(data: bytes, name: str) -> readers.Extracted:
        raise RuntimeError("parser bug")

    monkeypatch.setitem(documents._READERS, ".txt", ("txt", explode))
    failure = only_failure(read_bytes("crash.txt", b"text"))
    assert failure.kind is FailureKind.CORRUPT and "parser bug" in failure.message


# --- Paths and batches -------------------------------------------------------------------------


def test_one_bad_file_in_a_batch_does_not_stop_the_others(tmp_path):
    (tmp_path / "good.txt").write_bytes(b"good text")
    (tmp_path / "locked.pdf").write_bytes(make_pdf(["x"], password="pw"))
    (tmp_path / "broken.json").write_bytes(b"{nope")
    (tmp_path / "report.pdf").write_bytes(make_pdf(["pdf text"]))
    paths = ["good.txt", "locked.pdf", "missing.txt", "broken.json", "report.pdf"]
    result = read_sources([tmp_path / p for p in paths])  # the batch reader ingest uses
    assert [doc.name for doc in result.documents] == ["good.txt", "report.pdf"]
    assert [(f.name, f.kind) for f in result.failures] == [
        ("locked.pdf", FailureKind.ENCRYPTED),
        ("missing.txt", FailureKind.CORRUPT),
        ("broken.json", FailureKind.CORRUPT),
    ]


def test_directory_is_walked_recursively_in_sorted_order_skipping_hidden_files(tmp_path):
    root = tmp_path / "library"
    (root / "b_dir").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "z.txt").write_bytes(b"zed")
    (root / "a.md").write_bytes(b"ay")
    (root / "b_dir" / "c.csv").write_bytes(b"k,v\n1,2\n")
    (root / ".hidden.txt").write_bytes(b"hidden")
    (root / ".git" / "config.txt").write_bytes(b"hidden too")
    result = read_path(root)
    assert [doc.name for doc in result.documents] == ["a.md", "b_dir/c.csv", "z.txt"]
    # The same file read on its own keeps the name it has in its folder, so re-indexing it adds nothing.
    assert read_path(root / "a.md").documents[0].name == "a.md"
    assert result.failures == []


def test_oversized_file_on_disk_is_refused_before_it_is_read(tmp_path, monkeypatch):
    big = tmp_path / "huge.txt"
    big.write_bytes(b"x" * 5000)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the file was read"))
    assert only_failure(read_path(big, max_bytes=1000)).kind is FailureKind.TOO_LARGE


def test_failure_kinds_have_stable_string_values():
    assert [kind.value for kind in FailureKind] == [
        "empty",
        "unsupported",
        "corrupt",
        "encrypted",
        "no_text",
        "too_large",
        "duplicate",
    ]
    assert FailureKind("corrupt") is FailureKind.CORRUPT
