"""The embedder's own pooling against model2vec's, and chunking's token ids against tokenizing each chunk."""

from __future__ import annotations

import numpy as np
import pytest
from model2vec import StaticModel

from core.embed.embedder import Embedder
from core.embed.loading import load_embedder
from core.ingest.chunking import ChunkSettings, chunk_text
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL, _tiny_static_model

TEXTS = [
    "Alan Turing was born in Maida Vale, London. He was raised in England!",
    "Résumé of the café's naïve coöperation; 日本語の文書 and 🎉 emoji.",
    "artificial intelligence was founded as an academic discipline",
    "",
    "\u2603 \u2604",  # no token the bundled models know
    "x" * 3000,  # one long word
]
DOCUMENT = (
    'Title line\n\nThe first paragraph has two sentences. It goes on (with brackets) and "quotes." '
    "Then a list:\n- item one\n- item two\n\n" + "A very long sentence without a stop " * 40 + "\n\nLast, "
    "short paragraph with numbers 3.14 and 1,000,000 and e-mail a.b@c.org."
)


def _weighted_model() -> StaticModel:
    """The tiny model with per-token weights and two ids sharing one row, as vocabulary-quantized models do."""
    base = _tiny_static_model()
    n = base.embedding.shape[0]
    mapping = np.arange(n, dtype=np.int64)
    mapping[5] = mapping[4]
    weights = np.linspace(0.5, 2.0, n).astype(np.float32)
    config = {"normalize": True}
    return StaticModel(base.embedding, base.tokenizer, config=config, weights=weights, token_mapping=mapping)


def _embedder(model: StaticModel) -> Embedder:
    from core.embed.loading import ModelInfo

    info = ModelInfo("t", "local", "/t", model.dim, len(model.tokens), model.embedding.size, "float32", 0, "fp")
    return Embedder(model, info)


@pytest.mark.parametrize("name", [BUNDLED_SMALL, BUNDLED_LARGE, "tiny-weighted"])
def test_pooling_gives_model2vec_vectors(name):
    embedder = _embedder(_weighted_model()) if name == "tiny-weighted" else load_embedder(name)
    ours = embedder.encode(TEXTS)
    theirs = np.asarray(embedder.model.encode(TEXTS, use_multiprocessing=False), dtype=np.float32)
    # model2vec rounds float16 models' vectors to float16; ours stay float32, so they agree to float16 precision
    assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), embedder.dim)
    np.testing.assert_allclose(ours, theirs, atol=2e-3)
    assert np.array_equal(np.all(ours == 0, axis=1), np.all(theirs == 0, axis=1))


@pytest.mark.parametrize("name", [BUNDLED_SMALL, BUNDLED_LARGE])
def test_chunk_ids_from_chunking_equal_tokenizing_each_chunk(name):
    embedder = load_embedder(name)
    assert embedder.ids_concatenate
    settings = ChunkSettings(size=24, overlap=6)
    chunks = chunk_text(DOCUMENT, settings, token_ids=embedder.token_ids)
    assert len(chunks) > 5
    assert chunks == chunk_text(DOCUMENT, settings, embedder.count_tokens)  # same cuts either way
    for chunk in chunks:
        assert list(chunk.token_ids) == embedder.token_ids([chunk.text])[0]
    np.testing.assert_allclose(
        embedder.encode_ids([c.token_ids for c in chunks]), embedder.encode([c.text for c in chunks]), atol=1e-6
    )


def test_tokenizers_that_mark_word_starts_do_not_reuse_chunk_ids():
    from tokenizers import Tokenizer
    from tokenizers.pre_tokenizers import ByteLevel, Metaspace

    base = _tiny_static_model()
    assert _embedder(base).ids_concatenate
    for pre in (ByteLevel(), Metaspace()):
        tokenizer = Tokenizer.from_str(base.tokenizer.to_str())
        tokenizer.pre_tokenizer = pre
        assert not _embedder(StaticModel(base.embedding, tokenizer, config={})).ids_concatenate
