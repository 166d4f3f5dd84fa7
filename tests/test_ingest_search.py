"""Ingest and search end to end: real bundled models, real Milvus Lite in a tmp dir."""

from __future__ import annotations

import importlib.machinery
import sys
import types
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from core.embed.loading import load_embedder
from core.errors import LibraryNotFoundError, ModelMismatchError
from core.ingest import workers as embedding
from core.ingest.chunking import ChunkSettings
from core.ingest.pipeline import ingest
from core.search.query import search, search_many
from core.storage.memory import MemoryStore
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL, SEED_DOCS, SEED_QUERIES

SMALL_CHUNKS = ChunkSettings(size=40, overlap=8)


@pytest.fixture
def seed_files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "seed"
    folder.mkdir()
    paths = []
    for i, text in enumerate(SEED_DOCS):
        path = folder / f"doc{i}.txt"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


@pytest.mark.parametrize("model", [BUNDLED_SMALL, BUNDLED_LARGE])
def test_seed_example_queries_find_documents_about_their_subject(seed_files, store, model):
    embedder = load_embedder(model)
    doc_vectors = embedder.encode_documents(SEED_DOCS)
    query_vectors = embedder.encode_queries(SEED_QUERIES)
    assert {v.shape for v in doc_vectors + query_vectors} == {(embedder.dim,)}

    result = ingest(seed_files, "seed", embedder, store)
    assert result.count("indexed") == 3 and not result.failures
    ai, turing = search_many(SEED_QUERIES, "seed", embedder, store, top_k=3)
    assert (ai.query_dim, ai.doc_dim) == (embedder.dim, embedder.dim)
    assert ai.hits[0].document == "doc0.txt"  # the AI-founding document
    assert turing.hits[0].document in {"doc1.txt", "doc2.txt"}  # about Turing
    assert ai.hits[0].score > ai.hits[-1].score


def test_indexing_the_same_files_twice_leaves_the_same_counts(seed_files, store):
    embedder = load_embedder(BUNDLED_SMALL)
    first = ingest(seed_files, "twice", embedder, store, SMALL_CHUNKS)
    second = ingest(seed_files, "twice", embedder, store, SMALL_CHUNKS)
    assert first.chunks_added == 3 and second.chunks_added == 0
    assert second.count("unchanged") == 3 and second.chunks_unchanged == 3 and second.chunks_unreadable == 0
    assert first.chunks_total == second.chunks_total == store.index("twice", BUNDLED_SMALL).count() == 3
    assert store.index("twice", BUNDLED_SMALL).stats().documents == 3


def test_a_changed_file_replaces_its_old_chunks(tmp_path, store):
    embedder = load_embedder(BUNDLED_SMALL)
    path = tmp_path / "notes.txt"
    path.write_text("Wings generate lift. " * 30, encoding="utf-8")
    ingest([path], "lib", embedder, store, ChunkSettings(size=20, overlap=0))
    path.write_text("Turbulence in boundary layers.", encoding="utf-8")
    result = ingest([path], "lib", embedder, store)
    assert result.count("indexed") == 1
    assert store.index("lib", BUNDLED_SMALL).count() == 1
    assert search("boundary layer turbulence", "lib", embedder, store).hits[0].text.startswith("Turbulence")


def test_a_rerun_after_a_crash_mid_write_converges(tmp_path, store, monkeypatch):
    embedder = load_embedder(BUNDLED_SMALL)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"f{i}.txt")
        paths[-1].write_text(f"Document {i} talks about compressible flow. " * 40, encoding="utf-8")
    settings = ChunkSettings(size=30, overlap=0)
    clean = ingest(paths, "ref", embedder, store, settings)

    from core.storage.milvus_index import MilvusIndex

    real_write = MilvusIndex.write

    def crash_after_some_rows(self, rows, **kwargs):
        real_write(self, [r for r in rows if r.chunk not in (0, 1)], **kwargs)
        raise RuntimeError("power cut")

    monkeypatch.setattr(MilvusIndex, "write", crash_after_some_rows)
    with pytest.raises(RuntimeError):
        ingest(paths, "crash", embedder, store, settings)
    monkeypatch.setattr(MilvusIndex, "write", real_write)
    assert store.index("crash", BUNDLED_SMALL).documents() == []  # no chunk 0 written: nothing counts as present
    rerun = ingest(paths, "crash", embedder, store, settings)
    assert rerun.count("indexed") == 3
    assert store.index("crash", BUNDLED_SMALL).count() == clean.chunks_total


def test_one_bad_file_does_not_stop_the_batch(tmp_path, seed_files, store):
    bad_pdf = tmp_path / "broken.pdf"
    bad_pdf.write_bytes(b"%PDF-1.4 not really a pdf")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    result = ingest([bad_pdf, *seed_files, empty], "mixed", load_embedder(BUNDLED_SMALL), store)
    assert result.count("indexed") == 3
    failed = {o.document: o.message for o in result.failures}
    assert set(failed) == {"broken.pdf", "empty.txt"}
    assert all(name in message for name, message in failed.items())
    summary = result.summary()
    assert summary["files_ok"] == 3 and len(summary["files_failed"]) == 2


def test_progress_reports_every_stage_up_to_its_total(seed_files, store):
    events = []
    ingest(seed_files, "p", load_embedder(BUNDLED_SMALL), store, progress=lambda *e: events.append(e))
    stages: dict[str, list[tuple[int, int]]] = {}
    for stage, done, total in events:
        assert 0 <= done <= total
        stages.setdefault(stage, []).append((done, total))
    size = sum(path.stat().st_size for path in seed_files)
    # The files are read as they are indexed: bytes read and written, from 0, never back, up to all of them.
    ingested = [done for done, _ in stages["ingest"]]
    assert ingested[0] == 0 and ingested == sorted(ingested) and stages["ingest"][-1] == (size, size)
    assert stages["flush"][-1] == (1, 1) and list(stages) == ["ingest", "flush"]


def test_chunks_of_unknown_tokens_are_skipped_not_stored_as_zero_vectors(tmp_path, store, tiny_embedder):
    path = tmp_path / "mixed.txt"
    path.write_text("Alan Turing was born in London.\n\nZzyzx qwxv plmk.\n\nApple bread recipe.", encoding="utf-8")
    result = ingest([path], "tiny", tiny_embedder, store, ChunkSettings(size=7, overlap=0))
    assert result.chunks_added == 2 and result.chunks_unreadable == 1 and result.chunks_unchanged == 0
    docs = store.index("tiny", tiny_embedder.info.name).documents()
    assert docs[0].chunks == 2
    hits = search("where was turing born", "tiny", tiny_embedder, store, top_k=5).hits
    assert [h.chunk for h in hits] and hits[0].text.startswith("Alan Turing")
    assert all(path.read_text()[h.start : h.end] == h.text for h in hits)


def test_a_query_the_model_cannot_read_returns_no_hits_and_says_why(seed_files, store, tiny_embedder):
    ingest(seed_files, "tiny", tiny_embedder, store)
    result = search("zzzz qqqq", "tiny", tiny_embedder, store)
    assert result.unknown_query and result.hits == []


def test_search_can_be_limited_to_one_document(seed_files, store):
    embedder = load_embedder(BUNDLED_SMALL)
    ingest(seed_files, "f", embedder, store)
    hits = search("artificial intelligence", "f", embedder, store, top_k=5, document="doc2.txt").hits
    assert [h.document for h in hits] == ["doc2.txt"]


def test_hits_carry_offsets_chunk_numbers_and_rank(tmp_path, store):
    text = "\n\n".join(f"Paragraph {i} is about supersonic wing flutter number {i}." for i in range(30))
    path = tmp_path / "long.md"
    path.write_text(text, encoding="utf-8")
    embedder = load_embedder(BUNDLED_LARGE)
    ingest([path], "long", embedder, store, ChunkSettings(size=30, overlap=5))
    hits = search("wing flutter", "long", embedder, store, top_k=4).hits
    assert [h.rank for h in hits] == [1, 2, 3, 4]
    assert all(text[h.start : h.end] == h.text for h in hits)
    assert len({h.chunk for h in hits}) == 4
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_two_models_index_the_same_library_side_by_side(seed_files, store):
    small, large = load_embedder(BUNDLED_SMALL), load_embedder(BUNDLED_LARGE)
    ingest(seed_files, "both", small, store)
    ingest(seed_files, "both", large, store)
    (lib,) = store.libraries()
    assert sorted(c.meta.dim for c in lib.collections) == [64, 256]
    assert search("Turing", "both", small, store).doc_dim == 64
    assert search("Turing", "both", large, store).doc_dim == 256


def test_searching_a_library_not_indexed_with_the_model_says_so(seed_files, store):
    ingest(seed_files, "only-small", load_embedder(BUNDLED_SMALL), store)
    with pytest.raises(LibraryNotFoundError, match=BUNDLED_LARGE):
        search("x", "only-small", load_embedder(BUNDLED_LARGE), store)


def test_reindexing_with_other_chunking_is_refused(seed_files, store):
    embedder = load_embedder(BUNDLED_SMALL)
    ingest(seed_files, "c", embedder, store, ChunkSettings(size=50, overlap=5))
    with pytest.raises(ModelMismatchError, match="chunked"):
        ingest(seed_files, "c", embedder, store, ChunkSettings(size=80, overlap=5))
    # Without explicit settings the recorded ones are reused.
    assert ingest(seed_files, "c", embedder, store).count("unchanged") == 3


def test_stored_vectors_are_what_the_embedder_gives(seed_files, store):
    embedder = load_embedder(BUNDLED_SMALL)
    ingest(seed_files[:1], "v", embedder, store)
    vector = embedder.encode([SEED_DOCS[0]])
    hit = store.index("v", BUNDLED_SMALL).dense(vector, top_k=1)[0][0]
    assert hit.score == pytest.approx(1.0, abs=1e-4)
    assert np.isfinite(hit.score)


class _CountingPool(ProcessPoolExecutor):
    started = 0

    def __init__(self, *args, **kwargs) -> None:
        type(self).started += 1
        super().__init__(*args, **kwargs)


def test_a_worker_process_embeds_large_ingests_into_exactly_the_rows_of_the_in_thread_path(tmp_path, monkeypatch):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(12):
        (folder / f"doc{i:02}.txt").write_text(f"Part {i}. " + SEED_DOCS[i % 3] * (1 + i % 4), encoding="utf-8")
    (folder / "unknown.txt").write_text("\u2603 \u2604", encoding="utf-8")  # no word the model knows
    paths = sorted(folder.iterdir())
    embedder = load_embedder(BUNDLED_SMALL)
    monkeypatch.setattr(embedding, "BATCH_CHARS", 400)  # several batches, so the pool's queue is exercised
    monkeypatch.setattr(embedding, "WORKER_MIN_CHARS", 0)
    monkeypatch.setattr(embedding, "ProcessPoolExecutor", _CountingPool)
    # As `python -m core ingest` runs; AppTest, run earlier in the suite, leaves a page script as __main__.
    cli_main = types.ModuleType("__main__")
    cli_main.__spec__ = importlib.machinery.ModuleSpec("core.__main__", None)
    monkeypatch.setitem(sys.modules, "__main__", cli_main)
    started = _CountingPool.started

    results, stores = [], []
    for workers in ("0", "1"):
        monkeypatch.setenv("POTION_INGEST_WORKERS", workers)
        stores.append(MemoryStore())
        results.append(ingest(paths, "many", embedder, stores[-1], SMALL_CHUNKS))
    assert _CountingPool.started == started + 1  # only the second ingest used a worker process
    in_thread, in_worker = results
    assert in_worker.summary() | {"seconds": 0} == in_thread.summary() | {"seconds": 0}
    assert in_worker.count("indexed") == 12 and [f.document for f in in_worker.failures] == ["unknown.txt"]
    assert stores[1].index("many", BUNDLED_SMALL).chunk_rows() == stores[0].index("many", BUNDLED_SMALL).chunk_rows()
    queries = embedder.encode(SEED_QUERIES)
    a, b = (s.index("many", BUNDLED_SMALL).dense(queries, 20) for s in stores)
    assert [[(h.chunk_id, h.score) for h in q] for q in a] == [[(h.chunk_id, h.score) for h in q] for q in b]


def test_no_worker_process_starts_when_the_main_module_is_a_script(tmp_path, monkeypatch):
    """Streamlit runs each page as a __main__ without a module name; a spawned worker would run it again."""
    (tmp_path / "a.txt").write_text(SEED_DOCS[0], encoding="utf-8")
    monkeypatch.setattr(embedding, "WORKER_MIN_CHARS", 0)
    monkeypatch.setattr(embedding, "ProcessPoolExecutor", _CountingPool)
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))  # as Streamlit's page scripts
    before = _CountingPool.started
    result = ingest([tmp_path / "a.txt"], "script", load_embedder(BUNDLED_SMALL), MemoryStore(), SMALL_CHUNKS)
    assert result.count("indexed") == 1 and _CountingPool.started == before


def test_a_second_model_uses_the_librarys_recorded_chunking_not_the_defaults(seed_files, store):
    from core.ingest.pipeline import default_chunking, library_chunking

    recorded = ChunkSettings(size=40, overlap=8, unit="chars")
    assert recorded != default_chunking()
    ingest(seed_files, "two", load_embedder(BUNDLED_SMALL), store, recorded)
    second = load_embedder(BUNDLED_LARGE)
    ingest(seed_files, "two", second, store)  # no chunking given, as the Library page and the CLI do
    assert store.catalog.find("two", BUNDLED_LARGE).chunking == recorded.as_dict()
    assert library_chunking(store, "two") == recorded and library_chunking(store, "new") == default_chunking()


def test_search_refuses_a_model_redistilled_with_the_same_dim(seed_files, store):
    from dataclasses import replace

    embedder = load_embedder(BUNDLED_SMALL)
    ingest(seed_files, "fp", embedder, store)
    redistilled = type(embedder)(embedder.model, replace(embedder.info, fingerprint="0" * 16))
    assert redistilled.dim == embedder.dim
    with pytest.raises(ModelMismatchError, match="re-index"):
        search("turing", "fp", redistilled, store)


def test_ingest_search_and_cost_measurement_refuse_other_weights_in_the_same_words(seed_files):
    """One compatibility check: the three paths that meet an index with a model say the same thing."""
    from dataclasses import replace

    from core.insight.costs import measure_costs

    memory = MemoryStore()
    embedder = load_embedder(BUNDLED_SMALL)
    ingest(seed_files[:1], "fp", embedder, memory)
    redistilled = type(embedder)(embedder.model, replace(embedder.info, fingerprint="0" * 16))
    with pytest.raises(ModelMismatchError) as at_ingest:
        ingest(seed_files[1:], "fp", redistilled, memory)
    with pytest.raises(ModelMismatchError) as at_search:
        search("turing", "fp", redistilled, memory)
    skipped = measure_costs(memory, "fp", lambda name: redistilled).skipped
    assert str(at_ingest.value) == str(at_search.value) == skipped[0].reason
    assert "different model weights" in skipped[0].reason and "re-index" in skipped[0].reason
