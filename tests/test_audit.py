"""The audit log: every destructive or shared-state change is recorded in the database with who, when, what and the
counts it touched; the CLI prints it (`audit [--json] [--limit N]`) and the app lists it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from core.access import Actor, Identity, os_user, session_actor
from core.cli import EXIT_OK, main
from core.config import load_settings
from core.errors import LibraryNotFoundError, ReadOnlyError
from core.evaluate.judgments import HybridSweep, WeightPoint, judge
from core.evaluate.stats import Interval
from core.ingest.chunking import ChunkSettings
from core.ingest.pipeline import ingest
from core.service import judgments as judging
from core.service.audit import entries, entry_line
from core.service.jobs import JobRunner
from core.service.libraries import delete_document, drop_library, rebuild_index
from core.storage.audit import AUDIT
from core.types import Judgment
from tests.apptest_helpers import LIBRARY, by_label, new_app, no_exception, open_page, pick_model
from tests.conftest import BUNDLED_SMALL, index_texts

DOCS = {
    "turing.txt": "Alan Turing was born in Maida Vale, London, and raised in southern England.",
    "ai.txt": "Artificial intelligence was founded as an academic discipline in 1956.",
}
ALICE_EMAIL = "alice@example.org"


def indexed(store, folder: Path, embedder) -> None:
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    ingest(sorted(folder.iterdir()), "Papers", embedder, store, ChunkSettings(size=8, overlap=2))


def test_each_change_is_recorded_with_who_when_what_and_counts(any_store, tmp_path, tiny_embedder):
    store, runner = any_store, JobRunner()
    indexed(store, tmp_path / "docs", tiny_embedder)
    model = tiny_embedder.info.name
    alice = session_actor(load_settings(), ALICE_EMAIL)
    ai_chunks = next(d.chunks for d in store.index("Papers", model).documents() if d.name == "ai.txt")
    assert ai_chunks > 1

    delete_document(store, runner, "Papers", "ai.txt", actor=alice)
    incoming = [Judgment("Elsewhere", q, "turing.txt", 1) for q in ("turing", "maida vale")]
    judging.import_judgments(store, "Papers", incoming, alice)
    judging.revise_judgments(store, "Papers", store.judgments.list("Papers"), [False, True], [False, True], alice)
    sweep = HybridSweep(model, [WeightPoint(0.3, Interval(0.9, 0.8, 1.0))], 1)
    judging.adopt_hybrid_default(store, "Papers", sweep, alice)
    rebuild_index(store, runner, "Papers", model, actor=alice)
    chunks = store.index("Papers", model).count()
    drop_library(store, runner, "Papers", alice)

    log = entries(store)
    assert [e.action for e in log] == [
        "drop library",
        "rebuild index",
        "set hybrid default",
        "edit judgments",
        "import judgments",
        "delete document",
    ]  # newest first
    assert {(e.who, e.identity, e.library) for e in log} == {(ALICE_EMAIL, "signed in", "Papers")}
    times = [datetime.fromisoformat(e.at) for e in log]
    assert times == sorted(times, reverse=True) and all(t.utcoffset().total_seconds() == 0 for t in times)
    drop, rebuild, default, edit, imported, deleted = log
    assert (deleted.what, deleted.counts) == ("ai.txt", {"indexes": 1, "chunks": ai_chunks})
    assert imported.counts == {"added": 2, "replaced": 0, "unchanged": 0}
    assert edit.counts == {"deleted": 1, "flipped": 1}
    assert default.what == f"weight 0.3 ({model}, was none)" and default.counts == {"queries": 1, "judgments": 1}
    assert (rebuild.what, rebuild.counts) == (model, {"chunks": chunks})
    assert drop.counts == {"indexes": 1, "chunks": chunks, "judgments": 1}
    assert [e.action for e in entries(store, limit=2)] == ["drop library", "rebuild index"]
    assert entry_line(drop).endswith(
        f"{ALICE_EMAIL} (signed in)  drop library in 'Papers' (1 indexes, {chunks} chunks, 1 judgments)"
    )


def test_a_refused_or_failed_change_leaves_no_entry(any_store, tmp_path, tiny_embedder):
    store = any_store
    indexed(store, tmp_path / "docs", tiny_embedder)
    reader = Actor("bob", Identity.ANONYMOUS, may_write=False, why_read_only="you may only read here")
    with pytest.raises(ReadOnlyError):
        drop_library(store, JobRunner(), "Papers", reader)
    with pytest.raises(LibraryNotFoundError):
        delete_document(store, JobRunner(), "Papers", "ai.txt", models=["nope"], actor=session_actor(load_settings()))
    judge(store, "Papers", "turing", "turing.txt", 1)  # marking a hit is judging, not a change to log
    assert entries(store) == []


def test_the_log_is_kept_in_the_database_made_on_the_first_entry_and_a_drop_loads_nothing(
    store, tmp_path, tiny_embedder, monkeypatch
):
    from core.storage.milvus import MilvusStore

    indexed(store, tmp_path / "docs", tiny_embedder)
    chunks = store.index("Papers", tiny_embedder.info.name).count()
    store.close()
    fresh = MilvusStore()  # as the CLI opens it: every index released
    try:
        assert AUDIT not in fresh.client.list_collections() and entries(fresh) == []  # nothing changed: no log
        asked: list[str] = []
        real_load = fresh.state.ensure_loaded
        monkeypatch.setattr(fresh.state, "ensure_loaded", lambda name: (asked.append(name), real_load(name)))
        drop_library(fresh, JobRunner(), "Papers")  # as the OS user, as a script would
        assert asked == [AUDIT]  # chunks counted from the engine's statistics: the index was never loaded
    finally:
        fresh.close()
    reopened = MilvusStore()
    try:
        (entry,) = entries(reopened)
        assert (entry.who, entry.identity, entry.action) == (os_user(), "OS user", "drop library")
        assert entry.counts == {"indexes": 1, "chunks": chunks, "judgments": 0}
    finally:
        reopened.close()


def test_the_cli_records_the_os_user_and_prints_the_log(tmp_path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    assert main(["ingest", str(docs), "--library", "Papers", "--model", BUNDLED_SMALL, "--quiet"]) == EXIT_OK
    assert main(["delete-document", "ai.txt", "--library", "Papers"]) == EXIT_OK
    assert main(["delete-library", "Papers"]) == EXIT_OK
    capsys.readouterr()
    assert main(["audit", "--json", "--limit", "1"]) == EXIT_OK
    (drop,) = json.loads(capsys.readouterr().out)["entries"]
    assert (drop["who"], drop["identity"], drop["action"], drop["library"]) == (
        os_user(),
        "OS user",
        "drop library",
        "Papers",
    )
    assert drop["counts"] == {"indexes": 1, "chunks": 1, "judgments": 0}
    assert main(["audit"]) == EXIT_OK
    lines = capsys.readouterr().out.strip().splitlines()
    assert (
        len(lines) == 2 and "drop library in 'Papers'" in lines[0] and "delete document in 'Papers' ai.txt" in lines[1]
    )


def test_the_audit_page_lists_a_drop_made_on_the_library_page(app_store, tmp_path):
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, DOCS)
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, LIBRARY)
    at.main.text_input(key="drop-confirm").input("Papers").run()
    by_label(at.main.button, "Drop library").click().run()
    no_exception(at)
    open_page(at, "pages/audit.py")
    (table,) = [d.value for d in at.main.dataframe]
    assert list(table["who"]) == ["anonymous"] and list(table["action"]) == ["drop library"]
    assert list(table["library"]) == ["Papers"] and "2 chunks" in table["counts"][0]
