"""Indexing a library with a second model from the chunks the store holds."""

from __future__ import annotations

from core.chunking import ChunkSettings
from core.ingest import ingest
from core.models import load_embedder
from core.reindex import index_like, rebuild_documents
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL

TEXT = (
    "Wings generate lift from pressure differences. The boundary layer thins near the leading edge.\n\n"
    "Transition to turbulence raises skin friction. Laminar flow control delays it.\n"
    "Swept wings suffer crossflow instability."
)


def test_rebuilt_text_keeps_every_word_in_place(tmp_path, store):
    path = tmp_path / "wing.txt"
    path.write_text(TEXT, encoding="utf-8")
    small = load_embedder(BUNDLED_SMALL)
    ingest([path], "lib", small, store, ChunkSettings(size=12, overlap=4))
    (doc,) = rebuild_documents(store, "lib", BUNDLED_SMALL)
    assert doc.text.split() == TEXT.split()
    assert len(doc.text) == len(TEXT)
    assert doc.content_hash == store.documents("lib", BUNDLED_SMALL)[0].doc_hash


def test_index_like_adds_a_second_model_with_the_same_documents(tmp_path, store):
    for i in range(3):
        (tmp_path / f"d{i}.txt").write_text(f"Document {i}. " + TEXT, encoding="utf-8")
    small, large = load_embedder(BUNDLED_SMALL), load_embedder(BUNDLED_LARGE)
    ingest(sorted(tmp_path.glob("*.txt")), "lib", small, store, ChunkSettings(size=30, overlap=5))
    events = []
    result = index_like("lib", large, store, progress=lambda *e: events.append(e))
    assert result.count("indexed") == 3
    assert [d.name for d in store.documents("lib", BUNDLED_LARGE)] == [
        d.name for d in store.documents("lib", BUNDLED_SMALL)
    ]
    assert store.find("lib", BUNDLED_LARGE).chunking == store.find("lib", BUNDLED_SMALL).chunking
    assert events[-1][0] == "flush"
    # Uploading the original files again with the second model finds them unchanged.
    again = ingest(sorted(tmp_path.glob("*.txt")), "lib", large, store)
    assert again.count("unchanged") == 3
