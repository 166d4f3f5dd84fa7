"""Why a chunk matched a keyword query: its BM25 score split over the query's terms.

BM25 is a sum over query terms, so each term's part is exact once the chunk's terms and the corpus
statistics are known:

    score = sum_t  q_t * idf_t * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)),
    idf_t = log(1 + (N - df_t + 0.5) / (df_t + 0.5))

with Milvus' k1 = 1.2 and b = 0.75. The engine analyses text itself and keeps its statistics to itself,
so both are rebuilt here from the chunk texts; where our tokens differ from the engine's, the total
differs slightly from the score it reports.

Milvus' "english" analyzer stems with Snowball English (Porter2, via tantivy and rust-stemmers); `stem` uses
the same algorithm from the snowballstemmer package, generated from the Snowball sources as rust-stemmers is.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

BM25_K1, BM25_B = 1.2, 0.75
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


@dataclass(frozen=True)
class Term:
    """One analysed token of a text: the term BM25 counts and the word it came from."""

    term: str
    word: str  # as written
    start: int
    end: int


@lru_cache(maxsize=200_000)
def _term(word: str, analyzer: str) -> str | None:
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
    return token


def analyze(text: str, analyzer: str) -> list[Term]:
    """The terms of `text` as the engine's analyzer gives them, with their char spans.

    "english": lower case, stop words out, Porter2 stems; "standard" (or anything else): lower-case words."""
    terms = []
    for match in _WORD.finditer(text):
        term = _term(match.group(), analyzer)
        if term is not None:
            terms.append(Term(term, match.group(), match.start(), match.end()))
    return terms


# --- Porter2 ----------------------------------------------------------------------------------

_STEMMERS = threading.local()  # a Snowball stemmer keeps state between calls: one per thread


@lru_cache(maxsize=200_000)  # a library repeats its words: each is stemmed once
def stem(word: str) -> str:
    """The Porter2 (Snowball English) stem of one lower-case word, as Milvus' english analyzer stems."""
    stemmer = getattr(_STEMMERS, "english", None)
    if stemmer is None:
        import snowballstemmer

        stemmer = _STEMMERS.english = snowballstemmer.stemmer("english")
    return stemmer.stemWord(word)


@dataclass(frozen=True)
class CorpusStats:
    """What BM25 needs of the whole index: its size, average length and each term's document frequency."""

    analyzer: str
    chunks: int
    avg_length: float
    df: dict[str, int] = field(default_factory=dict)


def corpus_stats(texts: Iterable[str], analyzer: str) -> CorpusStats:
    """Statistics over every chunk text of one index (store.chunk_rows gives them)."""
    df: Counter = Counter()
    chunks = total = 0
    for text in texts:
        # Each distinct word is analysed once per chunk: a library's worth of text counts in seconds.
        terms: Counter = Counter()
        for word, n in Counter(_WORD.findall(text)).items():
            term = _term(word, analyzer)
            if term is not None:
                terms[term] += n
        df.update(terms.keys())
        chunks += 1
        total += terms.total()
    return CorpusStats(analyzer, chunks, total / chunks if chunks else 0.0, dict(df))


@dataclass(frozen=True)
class TermShare:
    """One distinct query term and its part of the chunk's BM25 score."""

    term: str  # the analysed form (a stem under "english")
    words: list[str]  # the query words that gave it, as written
    query_count: int
    tf: int  # occurrences in the chunk
    df: int  # chunks of the index holding it
    score: float  # this term's part of the BM25 score; the parts add up to KeywordExplanation.score
    share: float  # score / KeywordExplanation.score (0 when nothing matched)
    occurrences: list[tuple[int, int]]  # char spans in the chunk text


@dataclass(frozen=True)
class KeywordExplanation:
    score: float  # BM25 of the chunk as computed here
    terms: list[TermShare]  # every distinct query term, in query order, matched or not
    length: int  # the chunk's length in terms


def _idf(stats: CorpusStats, df: int) -> float:
    return math.log(1 + (stats.chunks - df + 0.5) / (df + 0.5))


def explain_keyword(query: str, text: str, stats: CorpusStats) -> KeywordExplanation:
    """Split the chunk's BM25 score for the query over the query's terms."""
    query_terms = analyze(query, stats.analyzer)
    chunk_terms = analyze(text, stats.analyzer)
    spans: dict[str, list[tuple[int, int]]] = {}
    for t in chunk_terms:
        spans.setdefault(t.term, []).append((t.start, t.end))
    words: dict[str, list[str]] = {}
    for t in query_terms:
        if t.word not in words.setdefault(t.term, []):
            words[t.term].append(t.word)
    counts = Counter(t.term for t in query_terms)
    length = len(chunk_terms)
    norm = BM25_K1 * (1 - BM25_B + BM25_B * length / stats.avg_length) if stats.avg_length else BM25_K1
    parts = {}
    for term, q_count in counts.items():
        tf, df = len(spans.get(term, [])), stats.df.get(term, 0)
        # A term no chunk holds scores nothing (the engine cannot rank by it either).
        parts[term] = q_count * _idf(stats, df) * tf * (BM25_K1 + 1) / (tf + norm) if tf and df else 0.0
    total = sum(parts.values())
    return KeywordExplanation(
        score=total,
        terms=[
            TermShare(
                term=term,
                words=words[term],
                query_count=counts[term],
                tf=len(spans.get(term, [])),
                df=stats.df.get(term, 0),
                score=parts[term],
                share=parts[term] / total if total > 0 else 0.0,
                occurrences=spans.get(term, []),
            )
            for term in counts
        ],
        length=length,
    )


def explain_keywords(query: str, texts: Sequence[str], stats: CorpusStats) -> list[KeywordExplanation]:
    return [explain_keyword(query, text, stats) for text in texts]


def keyword_spans(explanation: KeywordExplanation) -> list[tuple[int, int, float]]:
    """(start, end, weight) of every occurrence of a matched query term in the chunk; weight is the term's
    part over the best term's, so 1.0 marks the term adding most."""
    best = max((t.score for t in explanation.terms), default=0.0)
    if best <= 0:
        return []
    return sorted((s, e, t.score / best) for t in explanation.terms if t.score > 0 for s, e in t.occurrences)
