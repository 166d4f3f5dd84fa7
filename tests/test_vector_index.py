"""The dense index choice of one (library, model): written down, refused where the engine has none, recorded in the
provenance, measured for recall against exact ranking, shown by the CLI and the Costs page, refused by evaluation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from core.cli import EXIT_ERROR, EXIT_OK, main
from core.embed.loading import load_embedder
from core.errors import ApproximateIndexError, ReadOnlyError, VectorIndexError
from core.evaluate.ranking import rank_documents
from core.insight.index_quality import index_quality, measure_index_quality, tie_aware_recall
from core.service.audit import AuditAction
from core.service.jobs import JobRunner, library_job_key
from core.service.libraries import measure_vector_index, set_vector_index
from core.storage.memory import MemoryIndex, MemoryStore
from core.storage.milvus import MilvusStore
from core.storage.vector_index import FLAT, VectorIndex, engine_kinds, parse
from core.types import SearchMode
from pages import shared
from tests.apptest_helpers import new_app, no_exception, open_page, wait_for_job
from tests.conftest import BUNDLED_SMALL, SEED_DOCS, index_texts

LIBRARY = "Papers"
# Enough distinct chunks that recall@10 means something: every seed document and a numbered variant of it.
DOCS = {f"doc{i}-{k}.txt": f"{text} Variant {k} of note {i}." for i, text in enumerate(SEED_DOCS) for k in range(8)}


def _index(store, tmp_path: Path) -> None:
    index_texts(store, tmp_path / "docs", LIBRARY, BUNDLED_SMALL, DOCS)


def test_an_index_is_written_as_kind_and_parameters_with_defaults_per_kind():
    assert parse("flat") == FLAT and FLAT.exact and FLAT.label == "FLAT (exact)"
    assert parse(" IVF_FLAT ") == VectorIndex("IVF_FLAT", {"nlist": 1024}, {"nprobe": 32})
    chosen = parse("ivf_flat:nlist=64, nprobe=8")
    assert (chosen.build, chosen.search, chosen.exact) == ({"nlist": 64}, {"nprobe": 8}, False)
    assert chosen.label == "IVF_FLAT nlist=64 nprobe=8"
    assert parse("hnsw:ef=128").search == {"ef": 128} and parse("hnsw").build == {"M": 16, "efConstruction": 200}
    assert VectorIndex.of(chosen.as_dict()) == chosen and VectorIndex.of({}) == FLAT  # provenance round trip


@pytest.mark.parametrize(
    ("text", "named"),
    [("annoy", "'annoy'"), ("ivf_flat:ef=3", "'ef=3'"), ("ivf_flat:nlist=0", "'nlist=0'"), ("hnsw:M=x", "'M=x'")],
)
def test_a_wrong_index_is_refused_in_one_sentence_naming_it(text, named):
    with pytest.raises(VectorIndexError) as caught:
        parse(text)
    message = str(caught.value)
    assert named in message and message.count(". ") == 0 and message.endswith(".")


def test_which_engine_has_which_index():
    assert engine_kinds("lite", "2.5.1") == ("FLAT", "IVF_FLAT")
    assert engine_kinds("lite", "3.2.2") == ("FLAT", "IVF_FLAT", "HNSW")  # faiss, persisted beside the data
    assert "HNSW" in engine_kinds("server", "v2.3.5") and engine_kinds("memory", "") == ("FLAT",)
    assert engine_kinds("server", "lite") == ("FLAT", "IVF_FLAT")  # `serve`: a Lite 2.5 that does not say so


def test_each_kind_the_engine_has_is_taken_and_searched_and_the_others_are_refused_in_one_sentence(store, tmp_path):
    _index(store, tmp_path)
    index, query = store.index(LIBRARY, BUNDLED_SMALL), load_embedder(BUNDLED_SMALL).encode(["Turing"])
    before = index.dense(query, 5)
    has = engine_kinds(store.profile.engine, store.profile.version)  # Lite 2.5: FLAT, IVF_FLAT; Lite 3.2: all three
    for kind in ("HNSW", "IVF_FLAT"):
        if kind in has:
            index.set_vector_index(parse(kind))
            assert index.meta.vector_index["kind"] == kind and len(index.dense(query, 5)[0]) == 5
        else:
            with pytest.raises(VectorIndexError, match=rf"Milvus Lite .* has no {kind} index: choose one of FLAT, "):
                index.set_vector_index(parse(kind))
            assert index.meta.vector_index == {} and index.dense(query, 5) == before  # still exact, still there
    index.set_vector_index(FLAT)
    assert index.meta.vector_index == {} and index.dense(query, 5) == before


def test_ivf_on_lite_is_recorded_measured_and_survives_a_reopen_and_flat_measures_exact(store, tmp_path):
    _index(store, tmp_path)
    chunks = store.index(LIBRARY, BUNDLED_SMALL).count()
    runner = JobRunner()
    quality = set_vector_index(store, runner, LIBRARY, BUNDLED_SMALL, parse("ivf_flat:nlist=16,nprobe=2"))
    meta = store.index(LIBRARY, BUNDLED_SMALL).meta
    assert meta.vector_index == {"kind": "IVF_FLAT", "build": {"nlist": 16}, "search": {"nprobe": 2}, "exact": False}
    assert quality.vector_index == meta.vector_index and quality.chunks == chunks
    assert quality.queries == min(100, chunks) and 0 <= quality.recall_at_10 <= 1 and quality.p50_ms > 0
    assert index_quality(store, LIBRARY, BUNDLED_SMALL) == quality
    hits = store.index(LIBRARY, BUNDLED_SMALL).dense(load_embedder(BUNDLED_SMALL).encode(["Turing"]), 5)[0]
    assert 1 <= len(hits) <= 5  # IVF may probe too few lists to fill k (Lite 3.2 does at nprobe 2 of 16)
    (entry,) = [e for e in store.audit.list() if e.action == AuditAction.VECTOR_INDEX]
    assert entry.what == f"{BUNDLED_SMALL}: FLAT (exact) to IVF_FLAT nlist=16 nprobe=2"

    store.close()
    reopened = MilvusStore()
    try:
        assert reopened.index(LIBRARY, BUNDLED_SMALL).meta.vector_index == meta.vector_index
        assert index_quality(reopened, LIBRARY, BUNDLED_SMALL) == quality
        # Back to exact: the measurement must find every exact neighbour, ties included.
        exact = set_vector_index(reopened, runner, LIBRARY, BUNDLED_SMALL, FLAT)
        assert reopened.index(LIBRARY, BUNDLED_SMALL).meta.vector_index == {}
        assert exact.recall_at_10 == 1.0 and exact.vector_index["kind"] == "FLAT"
    finally:
        reopened.close()


def test_a_record_of_another_vector_index_is_not_shown_as_this_ones(tmp_path):
    store = MemoryStore()
    _index(store, tmp_path)
    measured = measure_index_quality(store, LIBRARY, BUNDLED_SMALL)
    assert index_quality(store, LIBRARY, BUNDLED_SMALL) == measured
    meta = store.catalog.require(LIBRARY, BUNDLED_SMALL)
    store.catalog.indexes[(LIBRARY, BUNDLED_SMALL)].meta = replace(meta, vector_index=parse("ivf_flat").as_dict())
    assert index_quality(store, LIBRARY, BUNDLED_SMALL) is None


def test_recall_is_measured_not_assumed_an_index_that_misses_neighbours_scores_below_one(tmp_path, monkeypatch):
    store = MemoryStore()
    _index(store, tmp_path)
    assert measure_index_quality(store, LIBRARY, BUNDLED_SMALL).recall_at_10 == 1.0  # exact: every neighbour
    real = MemoryIndex.dense

    def the_farthest(self, vectors, top_k, document=None):
        return [hits[::-1][:top_k] for hits in real(self, vectors, 10**6, document)]

    monkeypatch.setattr(MemoryIndex, "dense", the_farthest)
    assert measure_index_quality(store, LIBRARY, BUNDLED_SMALL).recall_at_10 < 0.1


def test_ties_count_as_found():
    assert tie_aware_recall([0.9] * 10, kth_exact=0.9) == 1.0
    assert tie_aware_recall([0.95, 0.9, *([0.5] * 8)], kth_exact=0.9) == 0.2


def test_evaluation_refuses_an_approximate_index_in_one_sentence_but_keyword_runs(store, tmp_path):
    _index(store, tmp_path)
    set_vector_index(store, JobRunner(), LIBRARY, BUNDLED_SMALL, parse("ivf_flat:nlist=16"))
    embedder = load_embedder(BUNDLED_SMALL)
    for mode in (SearchMode.DENSE, SearchMode.HYBRID):
        with pytest.raises(ApproximateIndexError, match="vector-index flat --library Papers"):
            rank_documents({"q": "Turing"}, LIBRARY, embedder, store, mode)
    assert rank_documents({"q": "Turing"}, LIBRARY, embedder, store, SearchMode.KEYWORD)["q"]


def test_a_reader_cannot_change_the_index(store, tmp_path, monkeypatch):
    _index(store, tmp_path)
    monkeypatch.setenv("POTION_READ_ONLY", "1")
    with pytest.raises(ReadOnlyError):
        set_vector_index(store, JobRunner(), LIBRARY, BUNDLED_SMALL, parse("ivf_flat"))
    with pytest.raises(ReadOnlyError):  # measuring records its result in the database
        measure_vector_index(store, LIBRARY, BUNDLED_SMALL)
    assert index_quality(store, LIBRARY, BUNDLED_SMALL) is None
    assert store.index(LIBRARY, BUNDLED_SMALL).meta.vector_index == {}


def test_the_cli_changes_shows_and_lists_the_index_with_its_recall(store, tmp_path, capsys):
    _index(store, tmp_path)
    store.close()
    base = ["--library", LIBRARY, "--model", BUNDLED_SMALL, "--json"]
    assert main(["vector-index", *base]) == EXIT_OK
    shown = json.loads(capsys.readouterr().out)
    assert shown["vector_index"]["kind"] == "FLAT" and shown["quality"] is None
    assert main(["vector-index", "ivf_flat:nlist=16", *base]) == EXIT_OK
    changed = json.loads(capsys.readouterr().out)
    assert changed["vector_index"]["kind"] == "IVF_FLAT" and 0 <= changed["quality"]["recall_at_10"] <= 1
    assert main(["libraries", "--json"]) == EXIT_OK
    (listed,) = json.loads(capsys.readouterr().out)[0]["models"]
    assert listed["vector_index"] == changed["vector_index"] and listed["index_quality"] == changed["quality"]
    assert main(["vector-index", "annoy", *base]) == EXIT_ERROR
    assert "Unknown vector index 'annoy'" in capsys.readouterr().err


def test_the_costs_page_shows_each_index_and_changes_it_in_a_job(app_store, tmp_path):
    _index(app_store, tmp_path)
    at = new_app().run()
    open_page(at, "pages/costs.py")
    no_exception(at)
    table = at.main.dataframe[-1].value.to_dict("records")
    assert [(r["model"], r["vector index"], r["recall@10 vs exact"]) for r in table] == [
        (BUNDLED_SMALL, "FLAT (exact)", "not measured")
    ]
    has = engine_kinds(app_store.profile.engine, app_store.profile.version)
    assert at.main.selectbox(key="vector_index_kind").options == [k.lower() for k in has]  # what this engine has
    at.main.selectbox(key="vector_index_kind").set_value("ivf_flat")
    at.main.text_input(key="vector_index_params").input("nlist=16")
    at.main.button[-1].click().run()
    no_exception(at)
    job = wait_for_job(shared.jobs(), library_job_key(LIBRARY))
    assert job.error is None, job.error
    at.run()
    no_exception(at)
    (row,) = at.main.dataframe[-1].value.to_dict("records")
    recorded = index_quality(app_store, LIBRARY, BUNDLED_SMALL)
    assert row["vector index"] == "IVF_FLAT nlist=16 nprobe=32"
    assert row["recall@10 vs exact"] == f"{recorded.recall_at_10:.3f}" and row["queries"] == recorded.queries
