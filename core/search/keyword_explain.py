"""Why a chunk matched a keyword query: its BM25 score split over the query's terms.

BM25 is a sum over query terms, so each term's part is exact once the chunk's terms and the corpus
statistics are known. The analyzers, constants and formula are the engine's, written once in
core.storage.bm25; here they are applied term by term, with the spans of each match.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from core.storage.bm25 import analyze, idf, term_counts, term_score


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
        terms = term_counts(text, analyzer)
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
    parts = {}
    for term, q_count in counts.items():
        tf, df = len(spans.get(term, [])), stats.df.get(term, 0)
        # A term no chunk holds scores nothing (the engine cannot rank by it either).
        parts[term] = term_score(q_count, idf(stats.chunks, df), tf, length, stats.avg_length) if tf and df else 0.0
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
