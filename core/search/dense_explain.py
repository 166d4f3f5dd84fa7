"""Why a chunk matched: the cosine of two Model2Vec vectors split exactly over the words of either text.

A static embedding is the mean of its known tokens' vectors, c = (1/n) sum_i c_i, so

    cos(q, c) = q_hat . c / |c| = sum_i (q_hat . c_i) / (n |c|)

and each chunk token owns one term of that sum; the query side splits the same way against c_hat.
A word's contribution is the sum of its pieces', so all contributions add up to the score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.embed.embedder import Embedder
from core.vectors import unit_rows

if TYPE_CHECKING:
    from model2vec import StaticModel
    from tokenizers import Encoding

# Byte-level BPE and Unigram tokenizers mark the first piece of a word instead of the later ones.
_WORD_START_MARKS = ("Ġ", "▁")


@dataclass(frozen=True)
class TokenContribution:
    """One word of a text (its pieces merged) and its share of the score."""

    token: str  # the word as written in the text
    start: int  # char offsets into the text
    end: int
    contribution: float


@dataclass(frozen=True)
class TopWord:
    word: str  # as written at its first occurrence
    contribution: float  # summed over all occurrences
    occurrences: list[tuple[int, int]]  # char spans of every occurrence in the chunk text, in text order


@dataclass(frozen=True)
class Explanation:
    score: float  # cosine of the query and chunk vectors, as Milvus COSINE gives it
    tokens: list[TokenContribution]  # chunk words in text order; their contributions sum to score
    query_tokens: list[TokenContribution]  # query words against the chunk vector; these also sum to score
    top_words: list[TopWord]  # the chunk's best positive words, best first


@dataclass(frozen=True)
class _Parsed:
    ids: np.ndarray  # known token ids in text order (unknown tokens are left out of the mean, as model2vec does)
    word_of: np.ndarray  # for each known token, the index of its word in spans
    spans: list[tuple[int, int]]  # char span of every word with at least one known token
    keys: list[tuple[int, ...]]  # token ids of each word: equal keys are the same word and contribute the same


def _continues_word(token: str, start: int, prev: str, prev_end: int, text: str, prefix: str | None) -> bool:
    if prefix:
        return token.startswith(prefix)
    if prev in _WORD_START_MARKS:  # a bare marker opens the word the next piece spells
        return True
    glued = start == prev_end and text[start - 1 : start].isalnum() and text[start : start + 1].isalnum()
    return glued and not token.startswith(_WORD_START_MARKS)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    # Some tokenizers count the space before a word into its first piece's offsets; a piece that is only
    # that space keeps it, so its share of the score stays visible.
    trimmed = start
    while trimmed < end and text[trimmed].isspace():
        trimmed += 1
    return (trimmed, end) if trimmed < end else (start, end)


def _groups(encoding: Encoding, text: str, prefix: str | None) -> list[list[int]]:
    """The token positions of each word, words in text order."""
    tokens, offsets = encoding.tokens, encoding.offsets
    groups: list[list[int]] = []
    for i, token in enumerate(tokens):
        if groups and _continues_word(token, offsets[i][0], tokens[i - 1], offsets[i - 1][1], text, prefix):
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _parse(encoding: Encoding, text: str, unk_id: int | None, prefix: str | None) -> _Parsed:
    token_ids, offsets = encoding.ids, encoding.offsets
    groups = _groups(encoding, text, prefix)
    ids: list[int] = []
    word_of: list[int] = []
    spans: list[tuple[int, int]] = []
    keys: list[tuple[int, ...]] = []
    for group in groups:
        known = [i for i in group if token_ids[i] != unk_id]
        if not known:
            continue
        ids.extend(token_ids[i] for i in known)
        word_of.extend([len(spans)] * len(known))
        spans.append(_trim(text, offsets[group[0]][0], max(offsets[i][1] for i in group)))
        keys.append(tuple(token_ids[i] for i in group))
    return _Parsed(np.asarray(ids, dtype=np.int64), np.asarray(word_of, dtype=np.int64), spans, keys)


def _token_vectors(model: StaticModel, ids: np.ndarray) -> np.ndarray:
    """The rows model2vec averages for these ids (StaticModel._encode_helper): token_mapping and weights applied."""
    rows = ids if model.token_mapping is None else model.token_mapping[ids]
    vectors = model.embedding[rows]
    if model.weights is not None:
        vectors = vectors * model.weights[ids][:, None]
    return vectors


def _stored_vector(model: StaticModel, vectors: np.ndarray) -> np.ndarray:
    """The vector Embedder.encode gives: the float32 mean, normalised in float32 if the model says so.
    The score repeats that rounding, so it is the cosine Milvus reports for the hit."""
    vector = np.asarray(vectors, dtype=np.float32).sum(axis=0, dtype=np.float32) / np.float32(max(1, len(vectors)))
    if model.normalize:
        vector = unit_rows(vector)
    return vector.astype(np.float32).astype(np.float64)


def _shares(vectors: np.ndarray, other_unit: np.ndarray, score: float) -> np.ndarray | None:
    """Each token's term of cos = sum_i (other_hat . v_i) / (n |mean v|); None when the mean is zero."""
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm == 0.0:
        return None
    shares = vectors @ other_unit / (len(vectors) * norm)
    # The terms add up to the cosine of the exact mean; the score is that of the rounded stored vector. The
    # difference (~1e-4) goes to the tokens in proportion to their size, so the parts add up to the score.
    residual = score - float(shares.sum())
    sizes = np.abs(shares)
    total = float(sizes.sum())
    return shares + (residual * sizes / total if total > 0 else residual / len(shares))


def _words(parsed: _Parsed, shares: np.ndarray) -> list[float]:
    """Each word's contribution: the sum of its known pieces'."""
    return list(np.bincount(parsed.word_of, weights=shares, minlength=len(parsed.spans)))


def _contributions(parsed: _Parsed, per_word: list[float], text: str) -> list[TokenContribution]:
    return [TokenContribution(text[s:e], s, e, float(c)) for (s, e), c in zip(parsed.spans, per_word)]


def _top_words(parsed: _Parsed, per_word: list[float], text: str, top: int) -> list[TopWord]:
    totals: dict[tuple[int, ...], float] = {}
    spans: dict[tuple[int, ...], list[tuple[int, int]]] = {}
    for key, span, value in zip(parsed.keys, parsed.spans, per_word):
        totals[key] = totals.get(key, 0.0) + value
        spans.setdefault(key, []).append(span)
    best = sorted((k for k, v in totals.items() if v > 0), key=lambda k: (-totals[k], spans[k][0][0]))[:top]
    return [TopWord(text[spans[k][0][0] : spans[k][0][1]], float(totals[k]), spans[k]) for k in best]


def _nothing() -> Explanation:
    return Explanation(0.0, [], [], [])


def _explain(embedder: Embedder, query: str, q: _Parsed, text: str, c: _Parsed, top: int) -> Explanation:
    model = embedder.model
    if len(q.ids) == 0 or len(c.ids) == 0:
        return _nothing()
    q_vectors, c_vectors = _token_vectors(model, q.ids), _token_vectors(model, c.ids)
    q_stored, c_stored = _stored_vector(model, q_vectors), _stored_vector(model, c_vectors)
    q_unit, c_unit = unit_rows(q_stored), unit_rows(c_stored)
    if not q_unit.any() or not c_unit.any():
        return _nothing()
    score = float(q_unit @ c_unit)
    c_shares = _shares(c_vectors.astype(np.float64), q_unit, score)
    q_shares = _shares(q_vectors.astype(np.float64), c_unit, score)
    if c_shares is None or q_shares is None:
        return _nothing()
    c_words, q_words = _words(c, c_shares), _words(q, q_shares)
    return Explanation(
        score=score,
        tokens=_contributions(c, c_words, text),
        query_tokens=_contributions(q, q_words, query),
        top_words=_top_words(c, c_words, text, top),
    )


def _tokenizer_facts(embedder: Embedder) -> tuple[int | None, str | None]:
    return embedder.unk_token_id, getattr(embedder.tokenizer.model, "continuing_subword_prefix", None)


def explain_match(embedder: Embedder, query: str, text: str, top: int = 8) -> Explanation:
    """Split the cosine of query and chunk over the words of each; one tokenizer call per text."""
    unk_id, prefix = _tokenizer_facts(embedder)
    tokenizer = embedder.model.tokenizer
    q = _parse(tokenizer.encode(query, add_special_tokens=False), query, unk_id, prefix)
    c = _parse(tokenizer.encode(text, add_special_tokens=False), text, unk_id, prefix)
    return _explain(embedder, query, q, text, c, top)


def explain_matches(embedder: Embedder, query: str, texts: Sequence[str], top: int = 8) -> list[Explanation]:
    """explain_match for several chunks of one query: the query is tokenized once, the chunks in one batch."""
    unk_id, prefix = _tokenizer_facts(embedder)
    tokenizer = embedder.model.tokenizer
    q = _parse(tokenizer.encode(query, add_special_tokens=False), query, unk_id, prefix)
    encodings = tokenizer.encode_batch(list(texts), add_special_tokens=False) if texts else []
    return [_explain(embedder, query, q, t, _parse(e, t, unk_id, prefix), top) for t, e in zip(texts, encodings)]


def highlight_spans(explanation: Explanation, max_spans: int = 10) -> list[tuple[int, int, float]]:
    """Up to max_spans non-overlapping (start, end, weight) spans of the chunk's best positive words, in text order;
    weight is the word's contribution over the best word's, so 1.0 marks the best."""
    positive = sorted((t for t in explanation.tokens if t.contribution > 0), key=lambda t: (-t.contribution, t.start))
    chosen: list[TokenContribution] = []
    for token in positive:
        if len(chosen) >= max_spans:
            break
        if all(token.end <= c.start or token.start >= c.end for c in chosen):
            chosen.append(token)
    if not chosen:
        return []
    best = chosen[0].contribution
    return sorted((t.start, t.end, min(1.0, t.contribution / best)) for t in chosen)


SPLIT_PIECES = 3  # a word cut into this many pieces or more is one the model reads only as fragments


@dataclass(frozen=True)
class WordPieces:
    word: str  # as written at its first occurrence
    pieces: int  # tokens the tokenizer cuts it into
    count: int  # occurrences in the text


@dataclass(frozen=True)
class Coverage:
    """How much of a text the model's vocabulary covers: words it cannot read, and words it reads in fragments."""

    words: int  # words in the text, punctuation included
    unknown: list[WordPieces]  # every piece unknown: the word adds nothing to the vector
    split: list[WordPieces]  # known, but cut into at least SPLIT_PIECES pieces


def vocabulary_coverage(embedder: Embedder, text: str, split_at: int = SPLIT_PIECES) -> Coverage:
    """The text's words the model does not know and those it splits into many pieces, distinct, in text order."""
    unk_id, prefix = _tokenizer_facts(embedder)
    encoding = embedder.tokenizer.encode(text, add_special_tokens=False)
    groups = _groups(encoding, text, prefix)
    unknown: dict[str, list] = {}
    split: dict[str, list] = {}
    for group in groups:
        start, end = _trim(text, encoding.offsets[group[0]][0], max(encoding.offsets[i][1] for i in group))
        word = text[start:end]
        if all(encoding.ids[i] == unk_id for i in group):
            target = unknown
        elif len(group) >= split_at:
            target = split
        else:
            continue
        # Words are told apart by their spelling: "Rome" and "rome" may well be pieced differently.
        target.setdefault(word, [len(group), 0])[1] += 1
    return Coverage(
        words=len(groups),
        unknown=[WordPieces(w, p, c) for w, (p, c) in unknown.items()],
        split=[WordPieces(w, p, c) for w, (p, c) in split.items()],
    )
