"""Sessions at once: threads of one process (as Streamlit runs sessions) index and search the same and
different libraries through one shared store, with no errors, no lost or doubled chunks, exact counts."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from core.embed.loading import load_embedder
from core.ingest.pipeline import ingest
from core.search.query import search
from core.storage.milvus import MilvusStore
from core.types import DocumentStatus
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL

WORDS = ["wing", "lift", "drag", "stall", "flow", "shock", "nozzle", "thrust", "blade", "heat", "panel", "flutter"]
TIMEOUT = 300  # seconds a thread may take before the test reports it stuck


def write_docs(folder: Path, prefix: str, count: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        words = [WORDS[(i * 5 + j * 7) % len(WORDS)] for j in range(300)]
        text = " ".join(" ".join(words[k : k + 10]).capitalize() + "." for k in range(0, 300, 10))
        (folder / f"{prefix}-{i:03d}.txt").write_text(f"{prefix} {i}. {text}", encoding="utf-8")
    return folder


def test_four_sessions_index_and_search_at_once_with_exact_counts(tmp_path):
    store = MilvusStore()  # the one store every session of the app shares
    small, large = load_embedder(BUNDLED_SMALL), load_embedder(BUNDLED_LARGE)
    # Two sessions write halves of one library with one model, a third another library with another model.
    jobs = {
        "shared-a": (write_docs(tmp_path / "a", "alpha", 120), "Shared", small),
        "shared-b": (write_docs(tmp_path / "b", "beta", 120), "Shared", small),
        "other": (write_docs(tmp_path / "c", "gamma", 120), "Other", large),
    }
    # Something to search from the start: both libraries already hold a few documents.
    seed = write_docs(tmp_path / "seed", "seed", 5)
    ingest([seed], "Shared", small, store)
    ingest([seed], "Other", large, store)

    start = threading.Barrier(len(jobs) + 2)
    writers_done = threading.Event()
    results, errors, waits = {}, [], {"Shared": [], "Other": []}

    def write(key: str) -> None:
        folder, library, embedder = jobs[key]
        try:
            start.wait(TIMEOUT)
            results[key] = ingest([folder], library, embedder, store)
        except Exception as exc:  # collected: a thread's exception would otherwise vanish
            errors.append((key, exc))

    def read(library: str, embedder) -> None:
        try:
            start.wait(TIMEOUT)
            while not writers_done.is_set():
                for mode in ("dense", "keyword", "hybrid"):
                    began = time.perf_counter()
                    found = search("wing stall flutter", library, embedder, store, 10, mode=mode)
                    waits[library].append(time.perf_counter() - began)
                    assert found.hits, (library, mode)
        except Exception as exc:
            errors.append((library, exc))

    writers = [threading.Thread(target=write, args=(key,)) for key in jobs]
    readers = [
        threading.Thread(target=read, args=("Shared", small)),
        threading.Thread(target=read, args=("Other", large)),
    ]
    for thread in writers + readers:
        thread.start()
    for thread in writers:
        thread.join(TIMEOUT)
    writers_done.set()
    for thread in readers:
        thread.join(TIMEOUT)
    try:
        assert not errors, errors
        assert not any(t.is_alive() for t in writers + readers)
        for key, result in results.items():
            assert result.count(DocumentStatus.INDEXED) == 120 and not result.failures, key
        added = {key: r.chunks_added for key, r in results.items()}
        seeded_small = store.index("Shared", BUNDLED_SMALL).count() - added["shared-a"] - added["shared-b"]
        assert store.index("Shared", BUNDLED_SMALL).count_documents() == 245
        assert store.index("Other", BUNDLED_LARGE).count_documents() == 125
        rows = store.index("Shared", BUNDLED_SMALL).chunk_rows()
        assert len(rows) == store.index("Shared", BUNDLED_SMALL).count()
        assert len({(r["document"], r["chunk"]) for r in rows}) == len(rows)  # nothing doubled
        per_doc = {d.name: d.chunks for d in store.index("Shared", BUNDLED_SMALL).documents()}
        assert sum(per_doc.values()) == len(rows)  # nothing lost: every document has all its chunks
        assert seeded_small == sum(n for name, n in per_doc.items() if name.startswith("seed"))
        assert store.index("Other", BUNDLED_LARGE).count() == len(store.index("Other", BUNDLED_LARGE).chunk_rows())
        assert all(waits.values())  # both readers searched while the writers wrote
        print(f"\nworst search wait during ingest: {max(max(w) for w in waits.values()) * 1000:.0f} ms")
    finally:
        store.close()
