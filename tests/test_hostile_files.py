"""Hostile files in one batch: each bad one is refused in one sentence naming it, every good one is indexed,
the counts afterwards are exact, and running the batch again converges."""

from __future__ import annotations

import io
import zipfile

import pytest

from core.embed.loading import load_embedder
from core.ingest.pipeline import ingest, read_sources
from core.read.documents import read_bytes
from core.types import DocumentStatus
from tests.conftest import BUNDLED_SMALL
from tests.hostile_corpus import LIMITS, ODD_NAME, PROSE, write_hostile_corpus


@pytest.fixture
def limits(monkeypatch):
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)


def one_sentence(message: str, name: str) -> bool:
    """The message names the file and is one sentence: no line break or sentence end but the name's own."""
    rest = message.replace(name, "NAME")
    return "NAME" in rest and "\n" not in rest and rest.endswith(".") and ". " not in rest.rstrip(".")


def test_every_bad_file_is_refused_in_one_sentence_and_every_good_one_is_indexed(limits, store, tmp_path):
    expect = write_hostile_corpus(tmp_path / "hostile")
    embedder = load_embedder(BUNDLED_SMALL)
    result = ingest([tmp_path / "hostile"], "Hostile", embedder, store)

    outcomes = {o.document: o for o in result.outcomes}
    assert set(outcomes) == set(expect)  # one outcome per document: nothing dropped, nothing twice
    assert len(result.outcomes) == len(expect)
    for name, refusal in expect.items():
        outcome = outcomes[name]
        if refusal is None:
            assert outcome.status == DocumentStatus.INDEXED, (name, outcome.message)
        else:
            assert outcome.status == DocumentStatus.FAILED, name
            assert refusal in outcome.message, (name, outcome.message)
            assert one_sentence(outcome.message, name), outcome.message

    good = sorted(name for name, refusal in expect.items() if refusal is None)
    stored = {d.name: d for d in store.index("Hostile", BUNDLED_SMALL).documents()}
    assert sorted(stored) == good  # exact: every good document, and nothing of a bad one
    chunks = sum(outcomes[name].chunks for name in good)
    assert store.index("Hostile", BUNDLED_SMALL).count() == chunks == result.chunks_total
    assert not any(".." in name or name.startswith("/") for name in stored)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "abs").exists()

    # The odd name is kept as it was, and its document is found and deleted by that name.
    assert ODD_NAME in stored
    texts = {row["document"]: row["text"] for row in store.index("Hostile", BUNDLED_SMALL).chunk_rows()}
    assert "secretTracker" not in texts["page.html"] and "hotpink" not in texts["page.html"]

    again = ingest([tmp_path / "hostile"], "Hostile", embedder, store)  # a retry converges
    assert again.count(DocumentStatus.INDEXED) == 0 and again.count(DocumentStatus.UNCHANGED) == len(good)
    assert [(o.document, o.message) for o in again.failures] == [(o.document, o.message) for o in result.failures]
    assert store.index("Hostile", BUNDLED_SMALL).count() == chunks
    store.index("Hostile", BUNDLED_SMALL).delete_document(ODD_NAME)
    assert ODD_NAME not in {d.name for d in store.index("Hostile", BUNDLED_SMALL).documents()}


def test_a_zip_member_compressed_past_the_ratio_is_refused_before_it_is_unpacked(limits, monkeypatch):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.txt", b"0" * 2_000_000)
        archive.writestr("fine.txt", PROSE.encode())
    reads = []
    real_open = zipfile.ZipFile.open

    def spy(self, member, *args, **kwargs):
        reads.append(getattr(member, "filename", member))
        return real_open(self, member, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    read = read_bytes("bomb.zip", buffer.getvalue())
    assert [d.name for d in read.documents] == ["bomb.zip/fine.txt"]
    (failure,) = read.failures
    assert failure.name == "bomb.zip/zeros.txt" and "POTION_ZIP_MAX_RATIO" in failure.message
    assert reads == ["fine.txt"]  # the bomb was refused from its header, never inflated


def test_an_archive_with_too_many_files_is_refused_whole_before_any_is_read(limits):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(501):
            archive.writestr(f"m{i}.txt", "tiny")
    read = read_bytes("many.zip", buffer.getvalue())
    assert not read.documents
    (failure,) = read.failures
    assert failure.name == "many.zip" and "holds 501 files, over the limit of 500" in failure.message
    assert "POTION_ZIP_MAX_MEMBERS" in failure.message


def test_an_upload_past_the_total_limit_refuses_the_files_that_would_pass_it(monkeypatch):
    monkeypatch.setenv("POTION_MAX_UPLOAD_MB", "1")
    third = b"word " * (350 * 1024 // 5)  # 350 KiB each: the third passes 1 MiB
    sources = [(f"part{i}.txt", third) for i in range(4)]
    read = read_sources(sources)
    assert [d.name for d in read.documents] == ["part0.txt", "part1.txt"]
    assert [f.name for f in read.failures] == ["part2.txt", "part3.txt"]
    assert all("POTION_MAX_UPLOAD_MB" in f.message and "1 MB" in f.message for f in read.failures)
