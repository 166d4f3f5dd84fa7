"""Whole libraries: the default one on an empty database, and drops and deletes that never overlap a job."""

from __future__ import annotations

import threading

import pytest

from core.config import load_settings
from core.errors import LibraryBusyError
from core.ingest.pipeline import ingest
from core.service.jobs import JobRunner, library_job_key
from core.service.libraries import LibraryChoice, delete_document, drop_library, library_choice
from core.storage.memory import MemoryStore
from tests.conftest import SEED_DOCS

WAIT = 30  # seconds; a safety net for a broken build, never waited out when the code works


def test_an_empty_database_gets_the_default_library_once(monkeypatch):
    monkeypatch.setenv("POTION_DEFAULT_LIBRARY", "Inbox")
    store = MemoryStore()
    assert library_choice(store, load_settings()) == LibraryChoice(names=["Inbox"], start="Inbox", created=True)
    assert library_choice(store, load_settings()) == LibraryChoice(names=["Inbox"], start="Inbox", created=False)


def test_libraries_already_there_get_no_default_and_a_session_starts_in_the_default_or_the_first():
    store = MemoryStore()
    store.catalog.create("Beta")
    store.catalog.create("Alpha")
    assert library_choice(store, load_settings()) == LibraryChoice(
        names=["Alpha", "Beta"], start="Alpha", created=False
    )
    store.catalog.create("My library")
    assert library_choice(store, load_settings()).start == "My library"


def test_the_default_library_is_kept_in_the_database(store):
    from core.storage.milvus import MilvusStore

    assert library_choice(store, load_settings()).created
    store.close()
    reopened = MilvusStore()
    try:
        assert library_choice(reopened, load_settings()) == LibraryChoice(["My library"], "My library", False)
    finally:
        reopened.close()


@pytest.fixture
def indexed(tiny_embedder, tmp_path) -> MemoryStore:
    """A library of two documents, and an empty one."""
    store = MemoryStore()
    paths = []
    for name, text in (("a.txt", SEED_DOCS[0]), ("b.txt", SEED_DOCS[2])):
        paths.append(tmp_path / name)
        paths[-1].write_text(text, encoding="utf-8")
    ingest(paths, "Papers", tiny_embedder, store)
    store.catalog.create("Empty")
    return store


def test_drop_and_delete_are_refused_while_a_job_writes_to_the_library(indexed, tiny_embedder):
    runner = JobRunner()
    gate, started = threading.Event(), threading.Event()

    def work(progress):
        started.set()
        gate.wait(WAIT)

    key = library_job_key("Papers")
    runner.start(key, "Indexing 1 file(s)", work)
    assert started.wait(WAIT)
    with pytest.raises(LibraryBusyError, match=r"Cannot drop library Papers: Indexing 1 file\(s\) is still running"):
        drop_library(indexed, runner, "Papers")
    with pytest.raises(LibraryBusyError, match=r"Cannot delete a.txt from Papers: Indexing 1 file\(s\) is still"):
        delete_document(indexed, runner, "Papers", "a.txt")
    assert [d.name for d in indexed.index("Papers", tiny_embedder.info.name).documents()] == [
        "a.txt",
        "b.txt",
    ]  # untouched
    assert drop_library(indexed, runner, "Empty") == 0  # another library is free

    gate.set()
    for thread in threading.enumerate():
        if thread.name == f"job-{key}":
            thread.join(WAIT)
    assert delete_document(indexed, runner, "Papers", "a.txt") == [tiny_embedder.info.name]
    assert [d.name for d in indexed.index("Papers", tiny_embedder.info.name).documents()] == ["b.txt"]
    assert drop_library(indexed, runner, "Papers") == 1
    assert indexed.catalog.names() == []


def test_no_job_starts_on_a_library_while_it_is_dropped(indexed, monkeypatch):
    runner = JobRunner()
    dropping, release = threading.Event(), threading.Event()
    real_drop = indexed.catalog.drop

    def slow_drop(library: str) -> int:
        dropping.set()
        release.wait(WAIT)
        return real_drop(library)

    monkeypatch.setattr(indexed.catalog, "drop", slow_drop)
    dropper = threading.Thread(target=drop_library, args=(indexed, runner, "Papers"))
    dropper.start()
    assert dropping.wait(WAIT)
    with pytest.raises(LibraryBusyError, match="Cannot start Indexing: drop library Papers is under way"):
        runner.start(library_job_key("Papers"), "Indexing", lambda progress: "too late")
    release.set()
    dropper.join(WAIT)
    assert indexed.catalog.names() == ["Empty"] and runner.get(library_job_key("Papers")) is None
