"""BM25 as the engine computes it: its analyzers, its constants and its formula, written once.

The exact reference store (core.storage.memory) ranks with it, and core.search.keyword_explain splits a
chunk's score over the query's terms with it, so both agree with each other and with Milvus:

    score = sum_t  q_t * idf_t * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)),
    idf_t = log(1 + (N - df_t + 0.5) / (df_t + 0.5))

with Milvus' k1 = 1.2 and b = 0.75. The engine analyses text itself and keeps its statistics to itself, so
both are rebuilt from the chunk texts; where our tokens differ from the engine's, totals differ slightly.

Milvus' "english" analyzer stems with Snowball English (Porter2, via tantivy and rust-stemmers); `stem` uses
the same algorithm from the snowballstemmer package, generated from the Snowball sources as rust-stemmers is. The
analyzers of other languages (core.storage.analyzers) remove that language's stop words and stem with its Snowball
stemmer the same way; Chinese is cut by rjieba, the Python binding of the jieba-rs the engine's tokenizer runs.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import numpy as np

from core.storage.analyzers import JIEBA_ANALYZER, stemmed_language

BM25_K1, BM25_B = 1.2, 0.75  # Milvus' defaults
# tantivy's SimpleTokenizer, under Milvus' "standard" tokenizer: runs of alphanumeric characters.
_WORD = re.compile(r"[^\W_]+")
_MAX_TOKEN_CHARS = 40  # Milvus' analyzers drop longer tokens
# tantivy's English stop words, which Milvus' "english" analyzer removes (Lucene's classic list).
# fmt: off
ENGLISH_STOP_WORDS = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not",
    "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was",
    "will", "with",
])
# fmt: on

Number = TypeVar("Number", float, np.ndarray)


@dataclass(frozen=True)
class Term:
    """One analysed token of a text: the term BM25 counts and the word it came from."""

    term: str
    word: str  # as written
    start: int
    end: int


@lru_cache(maxsize=200_000)
def term_of(word: str, analyzer: str) -> str | None:
    """The term one word becomes under the analyzer, or None when the analyzer drops it."""
    token = word.lower()
    if len(token) > _MAX_TOKEN_CHARS:
        return None
    if analyzer == "english":
        if token in ENGLISH_STOP_WORDS:
            return None
        token = stem(token)
        if token in ENGLISH_STOP_WORDS:  # the engine filters after stemming too
            return None
    elif (language := stemmed_language(analyzer)) is not None:
        if token in language.stop_words:  # the engine's stop filter runs before its stemmer
            return None
        token = stem(token, language.stemmer)
    return token


def analyze(text: str, analyzer: str) -> list[Term]:
    """The terms of `text` as the engine's analyzer gives them, with their char spans.

    "english": lower case, stop words out, Porter2 stems; a language's analyzer (core.storage.analyzers): lower
    case, its stop words out, its Snowball stems; "chinese": jieba's words; "standard" (or anything else):
    lower-case words."""
    terms = []
    for word, start, end in _words(text, analyzer):
        term = term_of(word, analyzer)
        if term is not None:
            terms.append(Term(term, word, start, end))
    return terms


def _words(text: str, analyzer: str) -> list[tuple[str, int, int]]:
    """The tokenizer's words of `text` with their char spans: jieba's for Chinese, else runs of letters and digits.

    Jieba (search mode, HMM on, as the engine's tokenizer defaults) also gives punctuation and spaces as words, and
    in search mode overlapping sub-words ("转换", "换成" inside "转换成"); the engine indexes them all, so the
    explanation counts them too, except pure spaces and punctuation, which no query term matches."""
    if analyzer == JIEBA_ANALYZER:
        return [(word, start, end) for word, start, end in _jieba_tokens(text) if _WORD.search(word)]
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def _jieba_tokens(text: str) -> list[tuple[str, int, int]]:
    import rjieba

    return rjieba.tokenize(text, mode="search", hmm=True)


def term_counts(text: str, analyzer: str) -> Counter:
    """How often each term occurs in `text`: `analyze` without the spans, each distinct word analysed once,
    so a library's worth of text counts in seconds."""
    terms: Counter = Counter()
    words = [w for w, _, _ in _words(text, analyzer)] if analyzer == JIEBA_ANALYZER else _WORD.findall(text)
    for word, n in Counter(words).items():
        term = term_of(word, analyzer)
        if term is not None:
            terms[term] += n
    return terms


_STEMMERS = threading.local()  # a Snowball stemmer keeps state between calls: one per thread and language


@lru_cache(maxsize=200_000)  # a library repeats its words: each is stemmed once
def stem(word: str, language: str = "english") -> str:
    """The Snowball stem of one lower-case word in `language` (Porter2 for English), as Milvus' stemmers stem."""
    stemmer = getattr(_STEMMERS, language, None)
    if stemmer is None:
        import snowballstemmer

        stemmer = snowballstemmer.stemmer(language)
        setattr(_STEMMERS, language, stemmer)
    return stemmer.stemWord(word)


def idf(chunks: int, df: int) -> float:
    """How rare a term is: `chunks` in the index, `df` of them holding the term."""
    return math.log(1 + (chunks - df + 0.5) / (df + 0.5))


def term_score(query_count: int, term_idf: float, tf: Number, length: Number, avg_length: float) -> Number:
    """One query term's part of the score of chunks of `length` terms holding it `tf` times.

    Works on one chunk (numbers) or on many at once (arrays of tf and length)."""
    length_norm = BM25_K1 * (1 - BM25_B + BM25_B * length / avg_length) if avg_length else BM25_K1
    return query_count * term_idf * tf * (BM25_K1 + 1) / (tf + length_norm)
