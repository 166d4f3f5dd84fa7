"""Two sources with one name in a batch: unique, stable names, or a message per document; never a silent replace."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO
from pathlib import Path

from core.embed.loading import load_embedder
from core.ingest.pipeline import ingest, read_sources
from core.types import MAX_DOCUMENT_CHARS
from tests.conftest import BUNDLED_SMALL


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_two_files_of_one_name_in_two_folders_both_stay_and_reruns_converge(tmp_path, store):
    a = _write(tmp_path / "a" / "notes.txt", "Wings generate lift over the airfoil.")
    b = _write(tmp_path / "b" / "notes.txt", "Bread needs flour, water and time.")
    solo = _write(tmp_path / "a" / "solo.txt", "Only one file has this name.")
    embedder = load_embedder(BUNDLED_SMALL)
    first = ingest([a, b, solo], "lib", embedder, store)
    assert sorted(o.document for o in first.outcomes) == ["a/notes.txt", "b/notes.txt", "solo.txt"]
    assert first.count("indexed") == 3 and first.files_ok == 3
    second = ingest([a, b, solo], "lib", embedder, store)
    assert second.count("unchanged") == 3 and second.chunks_added == 0
    assert store.index("lib", BUNDLED_SMALL).count() == first.chunks_total == second.chunks_total == 3


def test_two_folders_holding_one_relative_name_keep_both(tmp_path):
    _write(tmp_path / "x" / "papers" / "p.txt", "first")
    _write(tmp_path / "y" / "papers" / "p.txt", "second")
    read = read_sources([tmp_path / "x" / "papers", tmp_path / "y" / "papers"])
    assert sorted(d.name for d in read.documents) == ["x/papers/p.txt", "y/papers/p.txt"]


def test_the_same_file_named_twice_is_read_once_under_its_plain_name(tmp_path):
    a = _write(tmp_path / "a" / "notes.txt", "Wings generate lift.")
    read = read_sources([a, a])
    assert [d.name for d in read.documents] == ["notes.txt"] and not read.failures


def test_two_uploads_of_one_name_with_different_text_report_the_second(store):
    embedder = load_embedder(BUNDLED_SMALL)
    uploads = [("notes.txt", b"Wings generate lift."), ("notes.txt", b"Bread needs flour.")]
    first = ingest(uploads, "up", embedder, store)
    assert first.count("indexed") == 1 and len(first.failures) == 1
    assert "notes.txt" in first.failures[0].message and "rename" in first.failures[0].message
    again = ingest(uploads, "up", embedder, store)
    assert again.count("unchanged") == 1 and store.index("up", BUNDLED_SMALL).count() == first.chunks_total == 1
    same = ingest([("dup.txt", b"Same text."), ("dup.txt", b"Same text.")], "up", embedder, store)
    assert same.count("indexed") == 1 and not same.failures  # one document uploaded twice


def test_jsonl_records_sharing_an_id_are_reported_not_replaced(store):
    lines = [{"id": "7", "text": "Wings generate lift."}, {"id": "7", "text": "Bread needs flour."}]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    embedder = load_embedder(BUNDLED_SMALL)
    result = ingest([("c.jsonl", data)], "recs", embedder, store)
    assert [o.document for o in result.outcomes if o.status == "indexed"] == ["c.jsonl#7"]
    assert [f.document for f in result.failures] == ["c.jsonl#7"] and "own id" in result.failures[0].message
    assert ingest([("c.jsonl", data)], "recs", embedder, store).count("unchanged") == 1


def test_files_ok_counts_source_files_from_where_documents_came_from(tmp_path, store):
    archive = BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("inner#1.txt", "A file whose name holds a hash mark.")
        z.writestr("deeper.zip/x.txt", "A folder named like an archive.")
    records = b'{"id": "a", "text": "one"}\n{"id": "b", "text": "two"}'
    uploads = [("pack.zip", archive.getvalue()), ("c.jsonl", records), ("odd#name.zip.txt", b"plain text")]
    result = ingest(uploads, "files", load_embedder(BUNDLED_SMALL), store)
    assert result.count("indexed") == 5 and result.files_ok == 3
    assert {o.source for o in result.outcomes} == {"pack.zip", "c.jsonl", "odd#name.zip.txt"}


def test_a_name_longer_than_the_stored_limit_is_unchanged_on_rerun_and_deletable(tmp_path, store):
    long_a = "a" * (MAX_DOCUMENT_CHARS + 300) + ".txt"
    long_b = "a" * (MAX_DOCUMENT_CHARS + 300) + "-other.txt"  # same first thousand characters
    embedder = load_embedder(BUNDLED_SMALL)
    uploads = [(long_a, b"Wings generate lift."), (long_b, b"Bread needs flour.")]
    first = ingest(uploads, "long", embedder, store)
    assert first.count("indexed") == 2 and not first.failures
    names = [d.name for d in store.index("long", BUNDLED_SMALL).documents()]
    assert len(names) == 2 and all(len(n) <= MAX_DOCUMENT_CHARS for n in names)
    assert sorted(o.document for o in first.outcomes) == sorted(names)
    second = ingest(uploads, "long", embedder, store)
    assert second.count("unchanged") == 2 and store.index("long", BUNDLED_SMALL).count() == 2
    store.index("long", BUNDLED_SMALL).delete_document(names[0])
    assert [d.name for d in store.index("long", BUNDLED_SMALL).documents()] == names[1:]
