"""Match explanations: the score split over words, on the tiny model and the bundled ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.embed.embedder import Embedder, ModelInfo
from core.embed.loading import load_embedder
from core.ingest.pipeline import ingest
from core.search.dense_explain import explain_match, explain_matches, highlight_spans
from core.search.query import search
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL, SEED_DOCS, SEED_QUERIES

TURING = "Born in Maida Vale, London, Turing was raised in southern England. Turing loved London."
AI_TEXT = "Artificial intelligence was founded as an academic discipline; machine learning research followed."


@pytest.fixture(params=["tiny", BUNDLED_SMALL, BUNDLED_LARGE])
def any_embedder(request) -> Embedder:
    if request.param == "tiny":
        return request.getfixturevalue("tiny_embedder")
    return load_embedder(request.param)


def cosine(embedder: Embedder, a: str, b: str) -> float:
    va, vb = embedder.encode([a, b]).astype(np.float64)
    return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))


@pytest.mark.parametrize(
    ("query", "text"), [(SEED_QUERIES[1], TURING), (SEED_QUERIES[0], AI_TEXT), *zip(SEED_QUERIES, SEED_DOCS)]
)
def test_contributions_of_either_side_add_up_to_the_cosine_of_the_encoded_vectors(any_embedder, query, text):
    explanation = explain_match(any_embedder, query, text)
    assert explanation.score == pytest.approx(cosine(any_embedder, query, text), abs=1e-5)
    assert sum(t.contribution for t in explanation.tokens) == pytest.approx(explanation.score, abs=1e-5)
    assert sum(t.contribution for t in explanation.query_tokens) == pytest.approx(explanation.score, abs=1e-5)


def test_the_score_is_the_one_milvus_reports_for_the_hit(tmp_path: Path, store):
    embedder = load_embedder(BUNDLED_SMALL)
    for i, text in enumerate(SEED_DOCS):
        (tmp_path / f"doc{i}.txt").write_text(text, encoding="utf-8")
    ingest(sorted(tmp_path.glob("doc*.txt")), "seed", embedder, store)
    result = search(SEED_QUERIES[1], "seed", embedder, store, top_k=3)
    for hit in result.hits:
        assert explain_match(embedder, result.query, hit.text).score == pytest.approx(hit.score, abs=1e-5)


def test_word_pieces_merge_into_words_with_offsets_into_the_original_text():
    embedder = load_embedder(BUNDLED_SMALL)
    text = "Born in Maida Vale, Café résumé emojis"  # "maida" and "emojis" are several word pieces
    explanation = explain_match(embedder, "where was Turing born", text)
    words = [t.token for t in explanation.tokens]
    assert words == ["Born", "in", "Maida", "Vale", ",", "Café", "résumé", "emojis"]
    assert all(text[t.start : t.end] == t.token for t in explanation.tokens)
    assert [t.token for t in explanation.query_tokens] == ["where", "was", "Turing", "born"]


def test_unknown_words_are_left_out_like_the_model_leaves_them_out(tiny_embedder):
    text = "zebra Turing quasar London"  # the tiny vocabulary knows only the topic and filler words
    explanation = explain_match(tiny_embedder, "alan turing", text)
    assert [t.token for t in explanation.tokens] == ["Turing", "London"]
    assert sum(t.contribution for t in explanation.tokens) == pytest.approx(explanation.score, abs=1e-5)
    assert explanation.score == pytest.approx(cosine(tiny_embedder, "alan turing", text), abs=1e-5)


def test_the_topic_words_explain_a_match_on_the_tiny_model(tiny_embedder):
    explanation = explain_match(tiny_embedder, "alan turing born in london", TURING, top=3)
    assert explanation.score > 0.5
    assert len(explanation.top_words) == 3
    assert {w.word.lower() for w in explanation.top_words} <= {"born", "maida", "vale", "london", "turing", "raised"}


def test_top_words_are_positive_best_first_and_hold_every_occurrence():
    embedder = load_embedder(BUNDLED_SMALL)
    explanation = explain_match(embedder, "Alan Turing in London", TURING, top=4)
    top = explanation.top_words
    assert 0 < len(top) <= 4
    assert all(w.contribution > 0 for w in top)
    assert [w.contribution for w in top] == sorted((w.contribution for w in top), reverse=True)
    by_word = {w.word: w for w in top}
    turing, london = TURING.rindex("Turing"), TURING.rindex("London")
    assert by_word["Turing"].occurrences == [(28, 34), (turing, turing + 6)]
    assert by_word["London"].occurrences == [(20, 26), (london, london + 6)]
    per_occurrence = {t.start: t.contribution for t in explanation.tokens}
    assert by_word["Turing"].contribution == pytest.approx(per_occurrence[28] + per_occurrence[turing])


def test_the_model_weights_and_token_mapping_are_honoured(tiny_embedder):
    from model2vec import StaticModel

    base = tiny_embedder.model
    vocab_size = len(base.tokens)
    rng = np.random.default_rng(1)
    # Quantised vocabularies share rows: token i reads row mapping[i], scaled by weights[i].
    mapping = np.arange(vocab_size) % 12
    weights = rng.uniform(0.2, 2.0, size=vocab_size).astype(np.float32)
    model = StaticModel(
        vectors=np.asarray(base.embedding)[:12],
        tokenizer=base.tokenizer,
        config={"normalize": False},
        weights=weights,
        token_mapping=mapping,
    )
    info = ModelInfo("mapped", "local", "memory", model.dim, vocab_size, 12 * model.dim, "float32", 0, "x")
    embedder = Embedder(model, info)
    explanation = explain_match(embedder, SEED_QUERIES[1], TURING)
    assert explanation.score == pytest.approx(cosine(embedder, SEED_QUERIES[1], TURING), abs=1e-5)
    assert sum(t.contribution for t in explanation.tokens) == pytest.approx(explanation.score, abs=1e-5)
    assert sum(t.contribution for t in explanation.query_tokens) == pytest.approx(explanation.score, abs=1e-5)


@pytest.mark.parametrize(
    ("query", "text"), [("zebra quasar", TURING), ("alan turing", "zebra quasar"), ("", ""), ("", TURING)]
)
def test_a_query_or_chunk_with_no_known_token_scores_zero_with_no_contributions(tiny_embedder, query, text):
    explanation = explain_match(tiny_embedder, query, text)
    assert explanation.score == 0.0
    assert explanation.tokens == [] and explanation.query_tokens == [] and explanation.top_words == []
    assert highlight_spans(explanation, 5) == []


def test_explaining_many_chunks_at_once_gives_the_same_as_one_by_one():
    embedder = load_embedder(BUNDLED_SMALL)
    texts = [TURING, AI_TEXT, "", *SEED_DOCS]
    assert explain_matches(embedder, SEED_QUERIES[1], texts) == [
        explain_match(embedder, SEED_QUERIES[1], t) for t in texts
    ]
    assert explain_matches(embedder, SEED_QUERIES[1], []) == []


def test_highlight_spans_are_the_best_positive_words_without_overlap():
    embedder = load_embedder(BUNDLED_SMALL)
    explanation = explain_match(embedder, "Alan Turing in London", TURING)
    spans = highlight_spans(explanation, 4)
    assert len(spans) == 4
    assert spans == sorted(spans)
    assert all(end <= next_start for (_, end, _), (next_start, _, _) in zip(spans, spans[1:]))
    assert max(w for _, _, w in spans) == 1.0 and all(0 < w <= 1 for _, _, w in spans)
    best = max(explanation.tokens, key=lambda t: t.contribution)
    assert (best.start, best.end, 1.0) in spans
    positive = {(t.start, t.end) for t in explanation.tokens if t.contribution > 0}
    assert {(s, e) for s, e, _ in spans} <= positive
    assert len(highlight_spans(explanation, 100)) == len(positive)


def test_pieces_of_a_sentencepiece_tokenizer_merge_into_words_too():
    from model2vec import StaticModel
    from tokenizers import Tokenizer, models, pre_tokenizers

    pieces = ["<unk>", "▁", "▁hel", "lo", "▁world", "s", "!", "▁tur", "ing"]
    tokenizer = Tokenizer(models.Unigram([(p, -float(len(p))) for p in pieces], 0))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    vectors = np.random.default_rng(2).normal(size=(len(pieces), 4)).astype(np.float32)
    model = StaticModel(vectors=vectors, tokenizer=tokenizer, config={"normalize": True})
    embedder = Embedder(model, ModelInfo("spm", "local", "memory", 4, len(pieces), vectors.size, "float32", 0, "y"))
    text = "hello worlds! zz turing"
    explanation = explain_match(embedder, "hello turing", text)
    # "zz" is no piece: the tokenizer gives a bare "▁" and an unknown "zz", and the "▁" belongs to that word.
    assert [t.token for t in explanation.tokens] == ["hello", "worlds", "!", "zz", "turing"]
    assert sum(t.contribution for t in explanation.tokens) == pytest.approx(explanation.score, abs=1e-5)
    assert explanation.score == pytest.approx(cosine(embedder, "hello turing", text), abs=1e-5)


def test_vocabulary_coverage_lists_unknown_words_and_words_cut_into_many_pieces():
    from core.search.dense_explain import SPLIT_PIECES, vocabulary_coverage

    embedder = load_embedder(BUNDLED_SMALL)
    tokenizer = embedder.model.tokenizer
    text = "Born in Maida Vale 😀, emojis 😀 and emojis"
    coverage = vocabulary_coverage(embedder, text)
    assert [(w.word, w.count) for w in coverage.unknown] == [("😀", 2)]
    assert tokenizer.encode("😀", add_special_tokens=False).ids == [embedder.model.unk_token_id]
    split = {w.word: w for w in coverage.split}
    assert set(split) == {"emojis"}  # "Maida" is 2 pieces: under the threshold
    assert split["emojis"].count == 2
    assert split["emojis"].pieces == len(tokenizer.encode("emojis", add_special_tokens=False).ids) >= SPLIT_PIECES
    assert len(tokenizer.encode("Maida", add_special_tokens=False).ids) == 2
    assert [w.word for w in vocabulary_coverage(embedder, text, split_at=2).split] == ["Maida", "emojis"]
    assert coverage.words == 10  # punctuation is a word of its own


def test_vocabulary_coverage_of_a_fully_known_text_is_empty():
    from core.search.dense_explain import vocabulary_coverage

    coverage = vocabulary_coverage(load_embedder(BUNDLED_SMALL), "Where was Alan Turing born?")
    assert coverage.words == 6 and coverage.unknown == [] and coverage.split == []
