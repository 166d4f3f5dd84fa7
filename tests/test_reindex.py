"""Indexing a library with a second model from the chunks the store holds."""

from __future__ import annotations

from core.embed.loading import load_embedder
from core.ingest.chunking import ChunkSettings
from core.ingest.pipeline import ingest
from core.ingest.reindex import index_like, rebuild_documents
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
    rebuilt = rebuild_documents(store, "lib", BUNDLED_SMALL)
    (doc,) = rebuilt.documents
    assert doc.text == TEXT and not rebuilt.missing  # line breaks and paragraph breaks included
    assert doc.content_hash == store.index("lib", BUNDLED_SMALL).documents()[0].doc_hash


def test_index_like_adds_a_second_model_with_the_same_documents(tmp_path, store):
    for i in range(3):
        (tmp_path / f"d{i}.txt").write_text(f"Document {i}. " + TEXT, encoding="utf-8")
    small, large = load_embedder(BUNDLED_SMALL), load_embedder(BUNDLED_LARGE)
    ingest(sorted(tmp_path.glob("*.txt")), "lib", small, store, ChunkSettings(size=30, overlap=5))
    events = []
    result = index_like("lib", large, store, progress=lambda *e: events.append(e))
    assert result.count("indexed") == 3
    assert [d.name for d in store.index("lib", BUNDLED_LARGE).documents()] == [
        d.name for d in store.index("lib", BUNDLED_SMALL).documents()
    ]
    assert store.catalog.find("lib", BUNDLED_LARGE).chunking == store.catalog.find("lib", BUNDLED_SMALL).chunking
    assert events[-1][0] == "flush"
    # Uploading the original files again with the second model finds them unchanged.
    again = ingest(sorted(tmp_path.glob("*.txt")), "lib", large, store)
    assert again.count("unchanged") == 3


def test_a_document_with_a_chunk_left_out_is_reported_as_needing_its_file(tmp_path, store, tiny_embedder):
    whole = tmp_path / "whole.txt"
    whole.write_text("Alan Turing was born in London.\n\nApple bread recipe.", encoding="utf-8")
    holed = tmp_path / "holed.txt"  # the middle paragraph has no word the tiny model knows
    holed.write_text("Alan Turing was born in London.\n\nZzyzx qwxv plmk.\n\nApple bread recipe.", encoding="utf-8")
    ingest([whole, holed], "lib", tiny_embedder, store, ChunkSettings(size=7, overlap=0))
    rebuilt = rebuild_documents(store, "lib", tiny_embedder.info.name)
    assert [d.name for d in rebuilt.documents] == ["whole.txt"] and rebuilt.documents[0].text == whole.read_text()
    assert [f.name for f in rebuilt.missing] == ["holed.txt"] and "add the file again" in rebuilt.missing[0].message
    result = index_like("lib", load_embedder(BUNDLED_SMALL), store)
    assert [o.document for o in result.outcomes if o.status == "indexed"] == ["whole.txt"]
    assert [o.document for o in result.failures] == ["holed.txt"]
    assert [d.name for d in store.index("lib", BUNDLED_SMALL).documents()] == ["whole.txt"]


def test_a_chunk_cut_at_the_stored_text_limit_is_never_rebuilt_as_the_document(tmp_path, store):
    from core.storage.records import MAX_TEXT_CHARS

    path = tmp_path / "long.txt"
    path.write_text("word " * (MAX_TEXT_CHARS // 5 + 400) + "end.", encoding="utf-8")  # one chunk, over the limit
    ingest([path], "lib", load_embedder(BUNDLED_SMALL), store, ChunkSettings(size=40_000, overlap=0, unit="chars"))
    rebuilt = rebuild_documents(store, "lib", BUNDLED_SMALL)
    assert rebuilt.documents == [] and [f.name for f in rebuilt.missing] == ["long.txt"]
