"""Index time is recorded by ingest, per library and model, and read back by the cost panel."""

from __future__ import annotations

from core.embed.loading import load_embedder
from core.ingest.index_time import index_time, setting_key
from core.ingest.pipeline import ingest
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL, SEED_DOCS


def write(folder, docs):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (folder / name).write_text(text, encoding="utf-8")
    return sorted(folder.iterdir())


def test_each_ingest_that_writes_adds_its_time_and_chunks(store, tmp_path):
    small = load_embedder(BUNDLED_SMALL)
    paths = write(tmp_path / "a", {f"doc{i}.txt": t for i, t in enumerate(SEED_DOCS[:2])})
    assert index_time(store, "Papers", BUNDLED_SMALL) is None  # nothing indexed, nothing recorded
    first = ingest(paths, "Papers", small, store)
    recorded = index_time(store, "Papers", BUNDLED_SMALL)
    assert recorded is not None and recorded.chunks == first.chunks_added > 0
    assert 0 < recorded.seconds <= first.seconds and recorded.rate == recorded.chunks / recorded.seconds

    ingest(paths, "Papers", small, store)  # nothing new: nothing written, nothing added
    assert index_time(store, "Papers", BUNDLED_SMALL) == recorded

    more = ingest(write(tmp_path / "b", {"extra.txt": SEED_DOCS[2]}), "Papers", small, store)
    grown = index_time(store, "Papers", BUNDLED_SMALL)
    assert grown.chunks == recorded.chunks + more.chunks_added and grown.seconds > recorded.seconds
    assert grown.chunks == store.index("Papers", BUNDLED_SMALL).count()
    assert index_time(store, "Papers", BUNDLED_LARGE) is None  # per model


def test_a_record_of_another_index_or_version_is_not_read(store, tmp_path):
    ingest(write(tmp_path / "a", {"doc.txt": SEED_DOCS[0]}), "Papers", load_embedder(BUNDLED_SMALL), store)
    key = setting_key(BUNDLED_SMALL)
    record = store.catalog.settings("Papers")[key]
    # The same model's index dropped and made again has another creation time: its old time is not its own.
    store.catalog.set_setting("Papers", key, record | {"created_at": "earlier"})
    assert index_time(store, "Papers", BUNDLED_SMALL) is None
    store.catalog.set_setting("Papers", key, {"created_at": record["created_at"]})
    assert index_time(store, "Papers", BUNDLED_SMALL) is None
    store.catalog.set_setting("Papers", key, record)
    assert index_time(store, "Papers", BUNDLED_SMALL).chunks == record["chunks"]
