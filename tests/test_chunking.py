"""Chunking: sizes, overlap, sentence and paragraph boundaries, exact offsets, determinism."""

from __future__ import annotations

import pytest

from core.errors import ChunkingError
from core.ingest.chunking import ChunkSettings, ChunkUnit, chunk_text

TEXT = (
    "Artificial intelligence was founded in 1956. It grew quickly in the sixties! Did it keep growing? "
    "Funding fell in the seventies.\n\n"
    "Alan Turing was born in London. He proposed a test of machine intelligence. "
    "His paper appeared in 1950 in the journal Mind.\n\n"
    "- a list item without a full stop\n- another item"
)


def words(texts):
    return [len(t.split()) for t in texts]


def test_chunks_carry_exact_character_offsets_into_the_source():
    chunks = chunk_text(TEXT, ChunkSettings(size=12, overlap=4), words)
    assert chunks and [c.index for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert TEXT[c.start : c.end] == c.text


@pytest.mark.parametrize("size,overlap", [(8, 0), (12, 4), (30, 10), (500, 50)])
def test_no_chunk_exceeds_the_size_in_tokens_and_all_text_is_covered(size, overlap):
    chunks = chunk_text(TEXT, ChunkSettings(size=size, overlap=overlap), words)
    assert all(sum(words([c.text])) <= size for c in chunks)
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(TEXT) if not ch.isspace())


def test_chunks_end_on_sentence_boundaries_when_sentences_fit():
    chunks = chunk_text(TEXT, ChunkSettings(size=20, overlap=0), words)
    for c in chunks[:-1]:
        assert c.text.rstrip()[-1] in ".!?m" or TEXT[c.end : c.end + 1] == "\n"


def test_overlap_repeats_whole_trailing_sentences():
    chunks = chunk_text(TEXT, ChunkSettings(size=16, overlap=8), words)
    overlapping = [(a, b) for a, b in zip(chunks, chunks[1:]) if b.start < a.end]
    assert overlapping, "some consecutive chunks must share text"
    for a, b in overlapping:
        assert a.text.endswith(TEXT[b.start : a.end])


def test_a_new_paragraph_starts_a_new_chunk_once_the_chunk_is_half_full():
    chunks = chunk_text(TEXT, ChunkSettings(size=40, overlap=0), words)
    assert any(c.text.startswith("Alan Turing") for c in chunks)


def test_a_sentence_longer_than_a_chunk_is_cut_at_word_boundaries():
    text = " ".join(f"word{i}" for i in range(50)) + "."
    chunks = chunk_text(text, ChunkSettings(size=10, overlap=0), words)
    assert len(chunks) == 5 and all(len(c.text.split()) == 10 for c in chunks)
    assert all(text[c.start : c.end] == c.text for c in chunks)


def test_character_unit_bounds_chunk_length_in_characters():
    chunks = chunk_text(TEXT, ChunkSettings(size=120, overlap=30, unit="chars"))
    assert len(chunks) > 2 and all(len(c.text) <= 120 for c in chunks)
    assert chunks[0].text.startswith("Artificial intelligence")


def test_chunking_is_deterministic():
    s = ChunkSettings(size=15, overlap=5)
    assert chunk_text(TEXT, s, words) == chunk_text(TEXT, s, words)


def test_empty_or_blank_text_gives_no_chunks():
    assert chunk_text("", ChunkSettings(), words) == []
    assert chunk_text(" \n\n \t", ChunkSettings(), words) == []


@pytest.mark.parametrize("size,overlap", [(0, 0), (10, 10), (10, -1)])
def test_impossible_settings_are_refused(size, overlap):
    with pytest.raises(ChunkingError):
        ChunkSettings(size=size, overlap=overlap)


def test_token_unit_needs_a_tokenizer():
    with pytest.raises(ChunkingError, match="tokenizer"):
        chunk_text(TEXT, ChunkSettings(unit=ChunkUnit.TOKENS))


def test_settings_round_trip_through_a_dict():
    s = ChunkSettings(size=120, overlap=12, unit="chars")
    assert ChunkSettings(**s.as_dict()) == s and s.as_dict()["unit"] == "chars"


def test_real_tokenizer_counts_keep_chunks_within_size(tiny_embedder):
    chunks = chunk_text(TEXT, ChunkSettings(size=10, overlap=2), tiny_embedder.count_tokens)
    assert all(tiny_embedder.count_tokens([c.text])[0] <= 10 for c in chunks)
