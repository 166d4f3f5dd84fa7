"""`store.runs`, the saved-runs face, on both stores through one contract; Milvus on a real Lite database, where a run
of 300 queries x 100 documents (past a VARCHAR's 64 KB) is kept in parts and read whole or not at all; and the service
over it: saving is a write, deleting and importing are logged, ids may be given by a unique prefix."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import asdict, replace

import pytest

from core.access import Actor, Identity
from core.errors import ReadOnlyError, RunNotFoundError
from core.service import runs as service
from core.service.audit import AuditAction, entries
from core.storage.runs import RUNS, pack
from core.storage.schema import TEXT_MAX_BYTES

READER = Actor("bob", Identity.ANONYMOUS, may_write=False, why_read_only="you may only read here")


def run_values(queries: int = 3, depth: int = 5, name: str = "run", seed: int = 0) -> tuple[str, dict, dict]:
    """(id, summary, run) as core.evaluate.saved writes them; random doc ids, so the run compresses as a real one."""
    rng = random.Random(seed)
    run_id = uuid.UUID(int=rng.getrandbits(128)).hex
    summary = {"id": run_id, "name": name, "created": f"2026-12-05T21:{seed:02d}:00+00:00", "means": {"ndcg@10": 0.5}}
    ranking = {f"q{q}": [[f"doc-{rng.getrandbits(40):x}", rng.random()] for _ in range(depth)] for q in range(queries)}
    return run_id, summary, {"summary": summary, "ranking": ranking, "queries": {q: "text ü" for q in ranking}}


def test_a_run_is_put_listed_by_its_summary_read_whole_and_deleted(any_store):
    first, second = run_values(name="first", seed=1), run_values(name="second", seed=2)
    assert any_store.runs.list() == [] and any_store.runs.get(first[0]) is None
    for run_id, summary, run in (first, second):
        any_store.runs.put(run_id, summary, run)
    assert sorted(any_store.runs.list(), key=lambda s: s["name"]) == [first[1], second[1]]  # summaries only
    assert any_store.runs.get(first[0]) == first[2] and any_store.runs.get(second[0]) == second[2]
    assert any_store.runs.delete(first[0]) is True
    assert any_store.runs.get(first[0]) is None and any_store.runs.list() == [second[1]]
    assert any_store.runs.delete(first[0]) is False


def test_a_run_of_300_queries_by_100_documents_is_kept_whole_and_replaced_by_a_smaller_one(any_store):
    run_id, summary, big = run_values(queries=300, depth=100, seed=3)
    assert len(json.dumps(big)) > 1_000_000 and len(pack(big)) > 1  # past one VARCHAR: several parts
    assert all(len(part) < TEXT_MAX_BYTES for part in pack(big))
    any_store.runs.put(run_id, summary, big)
    assert any_store.runs.get(run_id) == big
    _, _, small = run_values(seed=3)  # the same id saved again (a run imported twice, say) with less in it
    any_store.runs.put(run_id, summary, small)
    assert any_store.runs.get(run_id) == small and any_store.runs.list() == [summary]


def test_a_fresh_database_has_no_runs_collection_until_a_run_is_saved(store):
    assert store.runs.list() == [] and store.runs.get("0" * 32) is None and store.runs.delete("0" * 32) is False
    assert RUNS not in store.client.list_collections()  # reading made nothing
    store.runs.put(*run_values())
    assert RUNS in store.client.list_collections()


def test_a_run_whose_write_stopped_before_its_summary_is_neither_listed_nor_read(store, monkeypatch):
    run_id, summary, run = run_values(queries=300, depth=100, seed=4)

    def stopped(*args):
        raise RuntimeError("the process was killed here")

    with monkeypatch.context() as patched:
        patched.setattr(store.runs, "_write_summary", stopped)
        with pytest.raises(RuntimeError):
            store.runs.put(run_id, summary, run)
    assert store.runs.list() == [] and store.runs.get(run_id) is None  # its parts are there, unlisted
    store.runs.put(run_id, summary, run)  # saving again completes it
    assert store.runs.get(run_id) == run and store.runs.list() == [summary]


def test_a_run_missing_a_part_is_neither_listed_nor_read(store):
    run_id, summary, run = run_values(queries=300, depth=100, seed=5)
    other = run_values(seed=6)
    store.runs.put(run_id, summary, run)
    store.runs.put(*other)
    store.state.client.delete(RUNS, filter=f'key == "{run_id}:1"')  # as a delete stopped half way could leave it
    assert store.runs.list() == [other[1]] and store.runs.get(run_id) is None


def test_runs_survive_reopening_the_database(store):
    from core.storage.milvus import MilvusStore

    run_id, summary, run = run_values(queries=300, depth=100, seed=7)
    store.runs.put(run_id, summary, run)
    store.close()
    reopened = MilvusStore()
    try:
        assert reopened.runs.list() == [summary] and reopened.runs.get(run_id) == run
    finally:
        reopened.close()


# --- the service ----------------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path, tiny_embedder):
    """Three runs of one evaluation of the tiny collection, saved in the memory store."""
    from core.evaluate.runs import WHOLE_DOCUMENTS, evaluate_collection
    from core.storage.memory import MemoryStore
    from core.types import SearchMode
    from tests.test_cli_evaluate import write_tiny_collection

    store = MemoryStore()
    folder = write_tiny_collection(tmp_path / "tiny")
    modes = [SearchMode.DENSE, SearchMode.KEYWORD]
    report = evaluate_collection(folder, {"tiny": tiny_embedder}, modes, store, WHOLE_DOCUMENTS, weights=[0.3])
    return store, report, service.save_runs(store, report, "trial")


def test_saving_is_refused_to_a_reader_and_keeps_nothing(saved):
    store, report, runs = saved
    with pytest.raises(ReadOnlyError, match=r"^Cannot save the runs of this evaluation of tiny: you may only read"):
        service.save_runs(store, report, actor=READER)
    assert len(service.list_runs(store)) == len(runs) == 3


def test_runs_are_listed_newest_first_and_filtered_by_dataset_or_library(saved):
    from core.evaluate.saved import build_runs

    store, report, runs = saved
    later = build_runs(report, "again", created="2999-01-01T00:00:00+00:00")
    service.import_runs(store, later)
    listed = service.list_runs(store)
    assert [s.id for s in listed] == [r.id for r in sorted(later, key=lambda r: r.name)] + [
        r.id for r in sorted(runs, key=lambda r: r.name)
    ]
    assert len(service.list_runs(store, dataset="tiny")) == 6
    assert service.list_runs(store, dataset="other") == [] and service.list_runs(store, library="tiny") == []
    assert service.get_run(store, runs[0].id) == runs[0]


def test_a_run_is_found_by_a_unique_prefix_and_an_unknown_or_ambiguous_one_is_named(saved):
    store, _, runs = saved
    assert service.find_run(store, runs[1].id[:10].upper()).id == runs[1].id
    for unknown in ("nope", "", "   "):  # nothing is never a prefix of every run
        with pytest.raises(RunNotFoundError, match=r"^There is no saved run with id '.*': list them"):
            service.get_run(store, unknown)
    twins = [replace(run, summary=replace(run.summary, id=f"abc{i}" + "0" * 28)) for i, run in enumerate(runs[:2])]
    service.import_runs(store, twins)
    with pytest.raises(RunNotFoundError, match=r"^The id prefix 'abc' matches 2 saved runs .*give more of the id"):
        service.find_run(store, "abc")
    assert service.get_run(store, "abc1") == twins[1]


def test_deleting_a_run_is_a_logged_write(saved):
    store, _, runs = saved
    with pytest.raises(ReadOnlyError, match="delete the saved run 'trial · tiny dense'"):
        service.delete_run(store, runs[0].id, READER)
    assert entries(store) == []
    gone = service.delete_run(store, runs[0].id[:8])
    assert gone.id == runs[0].id and runs[0].id not in {s.id for s in service.list_runs(store)}
    (entry,) = entries(store)
    assert (entry.action, entry.library) == (AuditAction.DELETE_RUN, "eval:tiny:whole") and runs[0].id in entry.what
    with pytest.raises(RunNotFoundError):
        service.delete_run(store, runs[0].id)


def test_runs_move_to_another_database_through_their_json_and_twice_adds_nothing(saved):
    from core.evaluate.run_files import read_runs_jsonl
    from core.storage.memory import MemoryStore

    store, _, runs = saved
    exported = "".join(service.export_run(store, run.id, "json") for run in runs)
    other = MemoryStore()
    first = service.import_runs(other, read_runs_jsonl(exported, "runs.jsonl"))
    again = service.import_runs(other, read_runs_jsonl(exported, "runs.jsonl"))
    assert (first.added, first.replaced, again.added, again.replaced) == (3, 0, 0, 3)
    assert [service.get_run(other, run.id) for run in runs] == runs
    assert [(e.action, e.counts) for e in entries(other)] == [(AuditAction.IMPORT_RUNS, {"runs": 3})] * 2
    with pytest.raises(ReadOnlyError):
        service.import_runs(MemoryStore(), runs, READER)


def test_a_stored_summary_this_version_cannot_read_is_not_listed(saved):
    store, _, runs = saved
    store.runs.put("f" * 32, {"id": "f" * 32, "name": "from elsewhere"}, {})
    assert {s.id for s in service.list_runs(store)} == {r.id for r in runs}
    assert asdict(runs[0].summary) in store.runs.list()
