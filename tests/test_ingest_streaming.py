"""Files given by path are read as they are indexed: a JSONL collection of any size is streamed a line at a time,
so the CLI's memory does not grow with it, and it is not held to the upload limit; uploads keep theirs."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.embed.loading import load_embedder
from core.ingest import workers
from core.ingest.pipeline import ingest, read_sources
from core.read.documents import FailureKind, FileEntry, ReadLimits, iter_file, read_bytes, read_path
from core.sizes import format_bytes
from core.storage.milvus_index import MilvusIndex
from core.types import DocumentStatus
from tests.conftest import BUNDLED_SMALL
from tests.measured_ingest import PEAK_MARK

ROOT = Path(__file__).resolve().parents[1]
# fmt: off
WORDS = [
    "wing", "lift", "drag", "stall", "flow", "boundary", "layer", "pressure", "shock", "wave", "nozzle", "thrust",
    "engine", "blade", "turbine", "heat", "transfer", "surface", "panel", "load", "stress", "buckling", "vibration",
    "flutter", "control", "rudder", "elevator", "flap", "slat",
]
# fmt: on
# Records of about SciFact's 1.5 KB: ~4.7 MB and ~47 MB. Both are over the ~4 MB of text from which the CLI embeds in
# a worker process, so both runs take the path a large ingest takes.
SMALL, LARGE = 3_000, 30_000
BAD_LINES = (17, 9_001, 29_500)  # line numbers of the large collection that are not JSON
EMPTY_RECORD = 12_345  # a record with no text
ONE_CHUNK_EACH = ["--chunk-size", "1000", "--chunk-overlap", "0"]  # a record is one chunk: fewer rows to write


def record(i: int, version: int = 0) -> dict:
    """A record of ~1.5 KB of words the bundled models know; `version` changes its text, not its id."""
    words = [WORDS[(i * 7 + j * 3 + version) % len(WORDS)] for j in range(220)]
    text = " ".join(" ".join(words[k : k + 11]).capitalize() + "." for k in range(0, len(words), 11))
    return {"_id": f"doc-{i}", "title": f"Report {i}", "text": text}


def write_collection(path: Path, records: int, bad: tuple[int, ...] = (), empty: tuple[int, ...] = ()) -> Path:
    """`records` lines, one record each; the line numbers in `bad` hold broken JSON, those in `empty` no text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for line in range(1, records + 1):
            if line in bad:
                out.write('{"_id": "broken", "text": "no closing quote}\n')
            elif line in empty:
                out.write(json.dumps({"_id": f"doc-{line - 1}", "text": ""}) + "\n")
            else:
                out.write(json.dumps(record(line - 1)) + "\n")
    return path


def measured_cli(*args: str, env_extra: dict[str, str]) -> tuple[dict, int]:
    """`python -m core ARGS --json` in a subprocess: its summary, and the peak memory of the CLI process alone (kB).

    glibc's malloc raises its mmap threshold as large blocks are freed, after which a batch's transient buffers may
    land on fresh heap pages: measured here, a one-time ~16 MB on the peak, at whichever moment it happens (the same
    in every run of one file, absent from a shorter one). A fixed threshold measures what the process holds."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", **env_extra}
    command = [sys.executable, "-m", "tests.measured_ingest", *args, "--json", "--quiet"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode in (0, 3), done.stderr[-2000:]
    peak = [line for line in done.stderr.splitlines() if line.startswith(PEAK_MARK)]
    return json.loads(done.stdout), int(peak[-1].split()[1])


def test_a_jsonl_ten_times_larger_is_streamed_by_the_cli_in_the_same_memory_with_exact_counts(tmp_path):
    small = write_collection(tmp_path / "small" / "corpus.jsonl", SMALL)
    large = write_collection(tmp_path / "large" / "corpus.jsonl", LARGE, BAD_LINES, (EMPTY_RECORD + 1,))
    upload_limit = {"POTION_MAX_FILE_MB": "1", "POTION_MAX_WHOLE_FILE_MB": "1"}  # both files are far over either
    base = ["--model", BUNDLED_SMALL, *ONE_CHUNK_EACH]
    small_run, small_peak = measured_cli("ingest", str(small), "--library", "small", *base, env_extra=upload_limit)
    large_run, large_peak = measured_cli("ingest", str(large), "--library", "large", *base, env_extra=upload_limit)

    assert small_run["documents_indexed"] == small_run["chunks_added"] == SMALL and not small_run["files_failed"]
    good = LARGE - len(BAD_LINES) - 1
    assert large_run["documents_indexed"] == large_run["chunks_added"] == large_run["chunks_total"] == good
    assert large_run["files_ok"] == 1
    failed = {f["file"]: f["error"] for f in large_run["files_failed"]}  # one failure per bad record, by file:line
    assert set(failed) == {f"corpus.jsonl:{line}" for line in BAD_LINES} | {f"corpus.jsonl#doc-{EMPTY_RECORD}"}
    assert all("not valid JSON" in failed[f"corpus.jsonl:{line}"] for line in BAD_LINES)

    # The large file is ~42 MB more to read; read whole, the CLI held ~2.9 times that (120 MB) more. Streamed, what
    # grows is ~0.25 KB of bookkeeping per document (its name, hash and outcome): ~7 MB here, under a quarter of it.
    grown_kb, more_kb = large_peak - small_peak, (large.stat().st_size - small.stat().st_size) / 1024
    assert grown_kb < 0.25 * more_kb, (small_peak, large_peak, more_kb)

    again, _ = measured_cli("ingest", str(large), "--library", "large", *base, env_extra=upload_limit)
    assert again["documents_unchanged"] == good and again["documents_indexed"] == again["chunks_added"] == 0
    assert again["chunks_total"] == good and [f["file"] for f in again["files_failed"]] == list(failed)


def test_uploads_keep_the_upload_limit_and_paths_parsed_whole_have_their_own(tmp_path, monkeypatch):
    monkeypatch.setenv("POTION_MAX_FILE_MB", str(10 / 1024))  # 10 KB
    monkeypatch.setenv("POTION_MAX_WHOLE_FILE_MB", str(20 / 1024))  # 20 KB
    collection = write_collection(tmp_path / "c.jsonl", 40)  # ~60 KB
    mid = tmp_path / "mid.txt"
    mid.write_text(record(1)["text"] * 9, encoding="utf-8")  # ~14 KB: over the upload limit, under the other
    big = tmp_path / "big.txt"
    big.write_text(record(2)["text"] * 18, encoding="utf-8")  # ~27 KB: over both

    def size(path: Path) -> str:
        return format_bytes(path.stat().st_size)

    uploaded = read_sources([("c.jsonl", collection.read_bytes()), ("mid.txt", mid.read_bytes())])
    assert not uploaded.documents
    assert [f.message for f in uploaded.failures] == [
        f"c.jsonl is {size(collection)}, over the 10 KB limit: split it or raise POTION_MAX_FILE_MB.",
        f"mid.txt is {size(mid)}, over the 10 KB limit: split it or raise POTION_MAX_FILE_MB.",
    ]
    by_path = read_sources([collection, mid, big])
    assert len(by_path.documents) == 41  # every record, and the text file under the limit of files read whole
    (refused,) = by_path.failures
    assert refused.kind is FailureKind.TOO_LARGE
    limit = "over the 20 KB limit: split it or raise POTION_MAX_WHOLE_FILE_MB."
    assert refused.message == f"big.txt is {size(big)}, {limit}"


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252"]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_jsonl_streamed_from_disk_reads_exactly_as_its_bytes_uploaded(tmp_path, encoding):
    lines = [
        json.dumps(
            {"_id": "a", "title": "Café crème", "text": "Brûlée, naïve façade; the wing stalls."}, ensure_ascii=False
        ),
        "",
        '{"_id": "broken", "text": "unterminated',
        json.dumps({"_id": "b", "text": ""}),
        json.dumps({"_id": "c", "body": "A body is a text field too."}),
        json.dumps({"_id": "d", "abstract": ["Two", "sentences."]}) + "\r",
    ]
    data = "\n".join(lines).encode(encoding)
    path = tmp_path / "c.jsonl"
    path.write_bytes(data)
    assert _read(read_path(path)) == _read(read_bytes("c.jsonl", data))
    assert len(read_path(path).documents) == 3 and len(read_path(path).failures) == 2


def test_jsonl_without_records_and_binary_data_stream_as_their_bytes_read(tmp_path):
    flat = "\n".join(json.dumps({"name": f"n{i}", "tags": ["x", "y"]}) for i in range(5)).encode()
    binary = bytes(range(256)) * 64
    for name, data in (("flat.jsonl", flat), ("binary.jsonl", binary)):
        (tmp_path / name).write_bytes(data)
        assert _read(read_path(tmp_path / name)) == _read(read_bytes(name, data))
    assert "looks like binary data" in read_path(tmp_path / "binary.jsonl").failures[0].message


def _read(result) -> tuple[list, list]:
    documents = [(d.name, d.text, d.content_hash, d.title, d.source_id, d.doc_type, d.source) for d in result.documents]
    return documents, [(f.name, f.kind, f.message, f.source) for f in result.failures]


def test_documents_of_a_streamed_file_come_out_as_it_is_read(tmp_path, monkeypatch):
    path = write_collection(tmp_path / "c.jsonl", 3_000)  # ~4.7 MB
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the collection was read whole"))
    items = iter_file(FileEntry(path, "c.jsonl"), ReadLimits.for_paths(None))
    first, position = next(items)
    assert first.name == "c.jsonl#doc-0" and 0 < position < 256 * 1024  # a block in, not the whole file
    *_, (last, end) = items
    assert last.name == "c.jsonl#doc-2999" and end == path.stat().st_size


@pytest.fixture
def small_batches(monkeypatch):
    """Many write batches from a small collection, as a large one has."""
    monkeypatch.setattr(workers, "batches", functools.partial(workers.batches, max_chars=20_000))


def spy_on_deletes(monkeypatch) -> list[str]:
    """The names every delete_documents call of the Milvus index is given, from now on."""
    deleted: list[str] = []
    real_delete = MilvusIndex.delete_documents

    def spy(self, names):
        deleted.extend(names)
        return real_delete(self, names)

    monkeypatch.setattr(MilvusIndex, "delete_documents", spy)
    return deleted


def test_records_sharing_an_id_across_batches_are_dropped_or_reported(tmp_path, store, small_batches):
    path = write_collection(tmp_path / "c.jsonl", 300)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record(5)) + "\n")  # line 301: record 5 again, the same text
        out.write(json.dumps({**record(7), "text": "Another text under the same id."}) + "\n")  # line 302
    result = ingest([path], "ids", load_embedder(BUNDLED_SMALL), store)
    assert result.count(DocumentStatus.INDEXED) == 300
    assert [(f.document, "own id" in f.message) for f in result.failures] == [("c.jsonl#doc-7", True)]
    assert store.index("ids", BUNDLED_SMALL).count_documents() == 300


def test_changed_records_are_replaced_batch_by_batch_and_only_they_are_deleted(
    tmp_path, store, small_batches, monkeypatch
):
    path = tmp_path / "c.jsonl"
    write_collection(path, 300)
    embedder = load_embedder(BUNDLED_SMALL)
    first = ingest([path], "v", embedder, store)
    changed = {i for i in range(300) if i % 3 == 0}
    path.write_text("".join(json.dumps(record(i, version=int(i in changed))) + "\n" for i in range(300)))

    deleted = spy_on_deletes(monkeypatch)
    second = ingest([path], "v", embedder, store)
    assert second.count(DocumentStatus.INDEXED) == len(changed) and second.count(DocumentStatus.UNCHANGED) == 200
    # A clean index deletes only the documents it holds an older version of, each once, a batch at a time.
    assert sorted(deleted) == sorted(f"c.jsonl#doc-{i}" for i in changed)
    index = store.index("v", BUNDLED_SMALL)
    rows = index.chunk_rows()
    assert len({(r["document"], r["chunk"]) for r in rows}) == len(rows) == index.count() == first.chunks_total
    stored = {d.name: d.doc_hash for d in index.documents()}
    assert stored == {d.name: d.content_hash for d in read_path(path).documents}


def test_files_of_one_name_under_two_paths_keep_every_record_apart(tmp_path):
    for folder, ids in (("a", range(0, 4)), ("b", range(2, 6))):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "c.jsonl").write_text("".join(json.dumps(record(i)) + "\n" for i in ids))
    read = read_sources([tmp_path / "a", tmp_path / "b"])
    # Decided from the files' names before either is read: every record of each file, not only the shared ids.
    assert [d.name for d in read.documents] == [f"a/c.jsonl#doc-{i}" for i in range(4)] + [
        f"b/c.jsonl#doc-{i}" for i in range(2, 6)
    ]
    assert {d.source for d in read.documents} == {"a/c.jsonl", "b/c.jsonl"} and not read.failures


def test_progress_of_a_streamed_file_moves_with_the_writes_in_bytes(tmp_path, store, small_batches):
    path = write_collection(tmp_path / "c.jsonl", 300)
    events: list[tuple[str, int, int]] = []
    ingest([path], "p", load_embedder(BUNDLED_SMALL), store, progress=lambda *e: events.append(e))
    done = [d for stage, d, total in events if stage == "ingest" and total == path.stat().st_size]
    assert done[0] == 0 and done == sorted(done) and done[-1] == path.stat().st_size
    assert len(set(done)) > 10  # it moved batch by batch, not only at the start and the end


def test_a_rerun_after_a_crash_deletes_every_document_of_each_batch_before_writing_it(
    tmp_path, store, small_batches, monkeypatch
):
    path = write_collection(tmp_path / "c.jsonl", 100)
    embedder = load_embedder(BUNDLED_SMALL)
    real_write = MilvusIndex.write

    def crash_after_a_partial_batch(self, rows, **kwargs):
        real_write(self, [r for r in rows if r.chunk != 0] or rows[1:], **kwargs)
        raise RuntimeError("power cut")

    monkeypatch.setattr(MilvusIndex, "write", crash_after_a_partial_batch)
    with pytest.raises(RuntimeError):
        ingest([path], "crash", embedder, store)
    monkeypatch.setattr(MilvusIndex, "write", real_write)
    deleted = spy_on_deletes(monkeypatch)
    rerun = ingest([path], "crash", embedder, store)
    assert rerun.count(DocumentStatus.INDEXED) == 100 and len(deleted) == 100  # stray rows: any may own some
    index = store.index("crash", BUNDLED_SMALL)
    rows = index.chunk_rows()
    assert len({(r["document"], r["chunk"]) for r in rows}) == len(rows) == index.count() == rerun.chunks_total
