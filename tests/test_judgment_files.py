"""Judgments as files: BEIR qrels that read back exactly, and a lossless JSONL that moves them between
libraries and databases, idempotently, with one-sentence errors for files that are not judgments."""

from __future__ import annotations

import json

import pytest

from core.cli import EXIT_ERROR, EXIT_OK, main
from core.errors import LibraryNotFoundError
from core.evaluate.datasets import read_qrels
from core.evaluate.judgment_files import import_judgments, judgments_jsonl, qrels_tsv, read_judgments_jsonl
from core.evaluate.judgments import JudgmentError, judge, judged_collection
from core.storage.memory import MemoryStore
from core.storage.milvus import MilvusStore

SPACED = ["Résumé café.txt", "party 🎉 notes.txt", "two  spaces.md", " leading.txt"]


def _judged(store, library="lib"):
    store.catalog.create(library)
    judge(store, library, "where was Turing born", "turing.txt", 1, chunk=2, model="minilm-static-64")
    judge(store, library, "where was Turing born", "bread.txt", 0)
    for name in SPACED:
        judge(store, library, "names with spaces", name, 1)
    return store.judgments.list(library)


def test_qrels_with_spaces_in_document_names_read_back_exactly(tmp_path):
    judgments = _judged(MemoryStore())
    exported = qrels_tsv(judgments)
    (tmp_path / "qrels.tsv").write_text(exported.text, encoding="utf-8")
    assert exported.left_out == []
    assert read_qrels(tmp_path / "qrels.tsv") == judged_collection(judgments).qrels
    spaced = next(j.query_id for j in judgments if j.query == "names with spaces")
    assert set(read_qrels(tmp_path / "qrels.tsv")[spaced]) == set(SPACED)


@pytest.mark.parametrize(
    "text",
    [
        "q1 0 d1 2\nq1 0 d2 0\nq2 0 d3 1\n",  # TREC, spaces
        "q1\t0\td1\t2\nq2\t0\td3\t1\n",  # TREC, tabs
        "q1\td1\t2\t\nq2\td3\t1\t\n",  # BEIR with a trailing tab on every line
        "query-id\tcorpus-id\tscore\r\nq1\td1\t2\r\nq2\td3\t1\r\n",  # a header, CRLF
        "q1 0 d1\t2\nq2 0 d3 1\n",  # separators mixed on one line
    ],
)
def test_qrels_files_of_every_usual_shape_read_the_same(tmp_path, text):
    (tmp_path / "qrels.txt").write_text(text, encoding="utf-8", newline="")
    assert read_qrels(tmp_path / "qrels.txt") == {"q1": {"d1": 2}, "q2": {"d3": 1}}


def test_names_qrels_cannot_carry_are_left_out_and_named():
    store = MemoryStore()
    judgments = _judged(store)
    judge(store, "lib", "names with spaces", "tab\there.txt", 1)
    judge(store, "lib", "names with spaces", "two\nlines.txt", 1)
    exported = qrels_tsv(store.judgments.list("lib"))
    assert exported.left_out == ["tab\there.txt", "two\nlines.txt"]
    body = exported.text.splitlines()[1:]
    assert len(body) == len(judgments) and all(line.count("\t") == 2 for line in body)


def test_judgments_move_to_another_database_with_every_field_and_twice_adds_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("POTION_DB_PATH", str(tmp_path / "from.db"))
    source = MilvusStore()
    originals = _judged(source, "Papers")
    source.close()
    data = judgments_jsonl(originals).encode("utf-8")

    monkeypatch.setenv("POTION_DB_PATH", str(tmp_path / "to.db"))
    target = MilvusStore()
    target.catalog.create("Moved")
    first = import_judgments(target, "Moved", read_judgments_jsonl(data, "judgments.jsonl"))
    assert (first.added, first.replaced, first.unchanged) == (len(originals), 0, 0)
    moved = target.judgments.list("Moved")
    assert [{**j.__dict__, "library": "Papers"} for j in moved] == [j.__dict__ for j in originals]
    again = import_judgments(target, "Moved", read_judgments_jsonl(data, "judgments.jsonl"))
    assert (again.added, again.replaced, again.unchanged) == (0, 0, len(originals))
    assert len(target.judgments.list("Moved")) == len(originals)

    judge(target, "Moved", "where was Turing born", "bread.txt", 1)  # changed here; the file's verdict wins back
    back = import_judgments(target, "Moved", read_judgments_jsonl(data, "judgments.jsonl"))
    assert (back.added, back.replaced, back.unchanged) == (0, 1, len(originals) - 1)
    assert {j.document: j.relevance for j in target.judgments.list("Moved") if "Turing" in j.query}["bread.txt"] == 0
    target.close()


@pytest.mark.parametrize(
    "data,reason",
    [
        (b'{"query": "q", "document": "d", "relevance": 1}\nnot json\n', "line 2 is not JSON"),
        (b'{"query": "q", "document": "d"}\n', "line 1 is not a judgment"),
        (b'{"query": "q", "document": "d", "relevance": 3}\n', "relevance 3"),
        (b'{"query": "q", "document": "d", "relevance": true}\n', "relevance True"),
        (b'{"query": "q", "document": "d", "relevance": 1.0}\n', "relevance 1.0"),
        (b'{"query": " ", "document": "d", "relevance": 1}\n', "empty query"),
        (b"\xff\xfe\x00bad", "not UTF-8"),
        (b"\n\n", "holds no judgments"),
    ],
)
def test_a_file_that_is_not_judgments_is_refused_whole_in_one_sentence(data, reason):
    store = MemoryStore()
    store.catalog.create("lib")
    with pytest.raises(JudgmentError, match=reason) as refused:
        import_judgments(store, "lib", read_judgments_jsonl(data, "mine.jsonl"))
    message = str(refused.value)
    assert message.startswith("mine.jsonl") and message.count(". ") == 0 and message.endswith(".")
    assert store.judgments.list("lib") == []


def test_names_with_unicode_line_separators_survive_the_round_trip():
    store = MemoryStore()
    store.catalog.create("lib")
    judge(store, "lib", "q", "a\u2028b\u0085c.txt", 1)
    again = read_judgments_jsonl(judgments_jsonl(store.judgments.list("lib")).encode(), "j.jsonl")
    assert [j.document for j in again] == ["a\u2028b\u0085c.txt"]


def test_importing_into_a_missing_library_says_so():
    judgments = read_judgments_jsonl('{"query": "q", "document": "d", "relevance": 1}', "j.jsonl")
    with pytest.raises(LibraryNotFoundError, match="Nowhere"):
        import_judgments(MemoryStore(), "Nowhere", judgments)


def test_cli_exports_and_imports_judgments(tmp_path, capsys):
    store = MilvusStore()
    originals = _judged(store, "Papers")
    store.catalog.create("Copy")
    store.close()
    file = tmp_path / "judgments.jsonl"
    assert main(["export-judgments", str(file), "--library", "Papers", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == {
        "library": "Papers",
        "file": str(file),
        "judgments": len(originals),
        "queries": 2,
    }
    assert main(["import-judgments", str(file), "--library", "Copy", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == {
        "library": "Copy",
        "added": len(originals),
        "replaced": 0,
        "unchanged": 0,
    }
    assert main(["export-judgments", str(tmp_path / "x.jsonl"), "--library", "Typo"]) == EXIT_ERROR
    assert "no library named 'Typo'" in capsys.readouterr().err and not (tmp_path / "x.jsonl").exists()
    file.write_text("nonsense\n", encoding="utf-8")
    assert main(["import-judgments", str(file), "--library", "Copy"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"error: {file} line 1 is not JSON") and err.count("\n") == 1
    reopened = MilvusStore()
    assert len(reopened.judgments.list("Copy")) == len(originals)
    reopened.close()
