"""POTION_READ_ONLY through core and the CLI: every writing action is refused in one sentence naming it and the
setting, nothing changes, and reading (search, evaluation of an indexed collection) still works."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.access import Actor, Identity, os_actor, require_write, session_actor
from core.adapt.library import adapt_library
from core.adapt.options import AdaptOptions
from core.cli import EXIT_ERROR, EXIT_OK, main
from core.config import load_settings
from core.errors import ReadOnlyError
from core.evaluate.judgment_files import judgments_jsonl, read_judgments_jsonl
from core.evaluate.judgments import HybridSweep, WeightPoint, judge
from core.evaluate.report import save_collection
from core.evaluate.runs import evaluate_collection
from core.evaluate.stats import Interval
from core.ingest.chunking import ChunkSettings
from core.ingest.pipeline import ingest, ingest_with_models
from core.ingest.reindex import index_like
from core.search.query import search
from core.service import judgments as judging
from core.service.adapted import compare_made
from core.service.jobs import JobRunner
from core.service.libraries import (
    create_library,
    delete_document,
    drop_library,
    library_choice,
    rebuild_index,
    start_rebuild,
)
from core.storage.memory import MemoryStore
from core.types import SearchMode
from tests.conftest import BUNDLED_SMALL

DOCS = {
    "turing.txt": "Alan Turing was born in Maida Vale, London, and raised in southern England.",
    "ai.txt": "Artificial intelligence was founded as an academic discipline in 1956.",
}
CHUNKING = ChunkSettings(size=64, overlap=8)


def write_collection(folder: Path) -> Path:
    """A tiny BEIR collection: two documents, two judged queries."""
    folder.mkdir(parents=True)
    corpus = [{"_id": name, "title": "", "text": text} for name, text in DOCS.items()]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus), encoding="utf-8")
    queries = [{"_id": "q1", "text": "Where was Alan Turing born"}, {"_id": "q2", "text": "artificial intelligence"}]
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tturing.txt\t1\nq2\tai.txt\t1\n")
    return folder


@dataclass
class Demo:
    store: MemoryStore
    embedder: object
    docs: Path
    collection: Path
    reader: Actor


@pytest.fixture
def demo(tmp_path: Path, tiny_embedder, monkeypatch: pytest.MonkeyPatch) -> Demo:
    """A library indexed and judged while writing was allowed, then the deployment turned read-only."""
    store = MemoryStore()
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    ingest(sorted(docs.iterdir()), "Papers", tiny_embedder, store, CHUNKING)
    judge(store, "Papers", "Where was Alan Turing born", "turing.txt", 1)
    collection = write_collection(tmp_path / "tiny-beir")
    (docs / "new.txt").write_text("Bake the bread with flour.", encoding="utf-8")
    monkeypatch.setenv("POTION_READ_ONLY", "1")
    return Demo(store, tiny_embedder, docs, collection, os_actor())


def snapshot(store: MemoryStore) -> tuple:
    """Everything a write could change: libraries, indexes with their counts, judgments, settings, the audit log."""
    libraries = store.libraries()
    return (
        [(lib.name, [(c.meta.model_name, c.documents, c.chunks) for c in lib.collections]) for lib in libraries],
        {lib.name: store.judgments.list(lib.name) for lib in libraries},
        {lib.name: store.catalog.settings(lib.name) for lib in libraries},
        store.audit.list(),
    )


def sweep() -> HybridSweep:
    return HybridSweep("tiny", [WeightPoint(0.3, Interval(0.9, 0.8, 1.0))], 1)


# Every writing action of core, by what a user would call it, each as the reader of a read-only deployment.
WRITES = {
    "upload files": lambda d: ingest([d.docs / "new.txt"], "Papers", d.embedder, d.store, CHUNKING, actor=d.reader),
    "index with models": lambda d: ingest_with_models(
        [d.docs / "new.txt"], "Papers", [BUNDLED_SMALL], d.store, actor=d.reader
    ),
    "index from stored chunks": lambda d: index_like("Papers", d.embedder, d.store, actor=d.reader),
    "create a library": lambda d: create_library(d.store, "New", d.reader),
    "drop a library": lambda d: drop_library(d.store, JobRunner(), "Papers", d.reader),
    "delete a document": lambda d: delete_document(d.store, JobRunner(), "Papers", "ai.txt", actor=d.reader),
    "rebuild an index": lambda d: rebuild_index(d.store, JobRunner(), "Papers", "tiny", actor=d.reader),
    "rebuild in the background": lambda d: start_rebuild(d.store, JobRunner(), "Papers", "tiny", d.reader),
    "judge a hit": lambda d: judge(d.store, "Papers", "bread", "ai.txt", 0, actor=d.reader),
    "edit judgments": lambda d: judging.revise_judgments(
        d.store, "Papers", d.store.judgments.list("Papers"), [True], [True], d.reader
    ),
    "import judgments": lambda d: judging.import_judgments(
        d.store,
        "Papers",
        read_judgments_jsonl(judgments_jsonl(d.store.judgments.list("Papers")), "judgments.jsonl"),
        d.reader,
    ),
    "set the hybrid default": lambda d: judging.adopt_hybrid_default(d.store, "Papers", sweep(), d.reader),
    "adapt a model": lambda d: adapt_library(d.store, "Papers", "mine", AdaptOptions(), actor=d.reader),
    "compare a made model": lambda d: compare_made(d.store, "Papers", "mine", "tiny", actor=d.reader),
    "save an uploaded collection": lambda d: save_collection(d.docs.parent, "up", b"{}", b"{}", b"", d.reader),
    "evaluate a collection not indexed": lambda d: evaluate_collection(
        d.collection, {"tiny": d.embedder}, [SearchMode.DENSE], d.store, CHUNKING, actor=d.reader
    ),
}


@pytest.mark.parametrize("action", list(WRITES))
def test_every_writing_action_is_refused_in_one_sentence_and_changes_nothing(demo: Demo, action: str):
    before = snapshot(demo.store)
    with pytest.raises(ReadOnlyError) as refused:
        WRITES[action](demo)
    message = str(refused.value)
    assert message.startswith("Cannot ") and "POTION_READ_ONLY" in message, message
    assert message.endswith(".") and message.count(". ") == 0 and "\n" not in message  # one sentence
    assert snapshot(demo.store) == before
    assert not list(demo.docs.parent.glob("evaluations/*")), "no uploaded collection was saved"


def test_a_caller_that_names_no_actor_acts_as_this_process_and_is_refused_too(demo: Demo):
    with pytest.raises(ReadOnlyError, match="drop library 'Papers'"):
        drop_library(demo.store, JobRunner(), "Papers")  # a script under POTION_READ_ONLY
    assert "Papers" in demo.store.catalog.names()


def test_reading_works_search_and_evaluation_of_an_indexed_collection(demo: Demo, monkeypatch: pytest.MonkeyPatch):
    found = search("Where was Alan Turing born", "Papers", demo.embedder, demo.store, top_k=2)
    assert found.hits[0].document == "turing.txt"
    monkeypatch.delenv("POTION_READ_ONLY")  # the collection is indexed while writing is allowed...
    writer = evaluate_collection(demo.collection, {"tiny": demo.embedder}, [SearchMode.DENSE], demo.store, CHUNKING)
    monkeypatch.setenv("POTION_READ_ONLY", "1")  # ...then evaluated again by a reader, writing nothing
    before = snapshot(demo.store)
    reader = evaluate_collection(
        demo.collection, {"tiny": demo.embedder}, [SearchMode.DENSE], demo.store, CHUNKING, actor=demo.reader
    )
    assert snapshot(demo.store) == before
    assert reader.results[0].metrics["ndcg@10"].mean == writer.results[0].metrics["ndcg@10"].mean
    assert {o.status for o in reader.indexing[0].outcomes} == {"unchanged"}
    assert reader.indexing[0].chunks_total == writer.indexing[0].chunks_total


def test_a_read_only_deployment_starts_no_default_library_on_an_empty_database(monkeypatch: pytest.MonkeyPatch):
    store = MemoryStore()
    monkeypatch.setenv("POTION_READ_ONLY", "1")
    choice = library_choice(store, load_settings())
    assert choice.names == [] and choice.start is None and store.catalog.names() == []
    monkeypatch.setenv("POTION_READ_ONLY", "0")
    assert library_choice(store, load_settings()).created


def test_actors_say_who_and_how_and_only_the_setting_makes_them_readers(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("POTION_READ_ONLY", raising=False)
    settings = load_settings()
    assert not settings.read_only
    assert os_actor(settings).identity == Identity.OS_USER and os_actor(settings).may_write
    assert session_actor(settings).label == "anonymous (anonymous)"
    signed = session_actor(settings, "alice@example.org")
    assert signed.identity == Identity.SIGNED_IN and signed.label == "alice@example.org (signed in)"
    assert require_write(signed, "drop library 'X'") is signed
    monkeypatch.setenv("POTION_READ_ONLY", "true")
    assert not session_actor(load_settings(), "alice@example.org").may_write


# --- the command line --------------------------------------------------------------------------------------------


@pytest.fixture
def cli_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Lite database with one library indexed and its judgments exported, then POTION_READ_ONLY set."""
    docs = tmp_path / "cli-docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    assert main(["ingest", str(docs), "--library", "Papers", "--model", BUNDLED_SMALL, "--quiet"]) == EXIT_OK
    exported = tmp_path / "judgments.jsonl"
    exported.write_text(
        json.dumps({"library": "Papers", "query": "turing", "document": "turing.txt", "relevance": 1}) + "\n"
    )
    monkeypatch.setenv("POTION_READ_ONLY", "1")
    return tmp_path


def cli_writes(tmp: Path) -> dict[str, list[str]]:
    model = ["--model", BUNDLED_SMALL]
    return {
        "ingest": ["ingest", str(tmp / "cli-docs"), "--library", "Papers", *model, "--quiet"],
        "create-library": ["create-library", "New"],
        "delete-library": ["delete-library", "Papers"],
        "delete-document": ["delete-document", "ai.txt", "--library", "Papers"],
        "rebuild": ["rebuild", "--library", "Papers", *model],
        "set-language": ["set-language", "Papers", "pt"],
        "import-judgments": ["import-judgments", str(tmp / "judgments.jsonl"), "--library", "Papers"],
        "adapt": ["adapt", "--library", "Papers", "--name", "mine", "--quiet"],
        "compare-made": ["compare-made", "--library", "Papers", "--model", "mine", "--base", BUNDLED_SMALL],
        "evaluate (not indexed)": ["evaluate", str(write_collection(tmp / "beir")), *model, "--quiet"],
    }


def test_every_writing_command_is_refused_in_one_line_and_reading_commands_work(cli_library: Path, capsys):
    capsys.readouterr()
    for name, argv in cli_writes(cli_library).items():
        assert main(argv) == EXIT_ERROR, name
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: Cannot ") and "POTION_READ_ONLY" in lines[0], (name, err)
        assert out == "", name
    assert main(["libraries", "--json"]) == EXIT_OK
    listed = json.loads(capsys.readouterr().out)
    assert [lib["name"] for lib in listed] == ["Papers"] and listed[0]["models"][0]["documents"] == 2
    assert main(["search", "Alan Turing", "--library", "Papers", "--model", BUNDLED_SMALL, "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["hits"][0]["document"] == "turing.txt"
    assert main(["audit", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == {"entries": []}  # nothing was changed, so nothing was logged
