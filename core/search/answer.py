"""One question, one answer: a query's hits with why each matched, the model's reach and the library's verdicts.

Takes what a person asks (query, library, model, mode, …) and returns an `Answer`: every hit with its dense word
shares (dense_explain), its BM25 term shares (keyword_explain), the vocabulary coverage of the query and of each
chunk, and the verdict judged on the hit's document for this query. A page or the CLI asks once and shows it.

A keyword search needs no model: give the model's name (it names the index) and no embedder, and nothing is
loaded; coverage then stays empty, since only a model knows which words it can read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from core.embed.embedder import Embedder
from core.errors import LibraryNotFoundError
from core.evaluate.judgments import verdicts
from core.search.dense_explain import Coverage, Explanation, explain_matches, highlight_spans, vocabulary_coverage
from core.search.keyword_explain import CorpusStats, KeywordExplanation, corpus_stats, explain_keywords, keyword_spans
from core.search.query import SearchResult, search
from core.storage import Store
from core.types import Hit, HybridParams, SearchMode

HIGHLIGHTED_WORDS = 12  # dense highlights: at most this many words…
HIGHLIGHT_FLOOR = 0.3  # …each adding at least this share of the best word's contribution
TOP_WORDS = 6  # words named as adding most to a dense score


@dataclass(frozen=True)
class ExplainedHit:
    hit: Hit
    dense: Explanation | None  # words' shares of the cosine (dense and hybrid searches)
    keyword: KeywordExplanation | None  # query terms' shares of the BM25 score (keyword and hybrid searches)
    coverage: Coverage | None  # the chunk's words the model cannot read or reads in pieces (needs the model)
    verdict: int | None  # the library's judgment of the hit's document for this query, if any

    def highlights(self) -> list[tuple[int, int, float]]:
        """Char spans of the chunk to mark, with a weight in [0, 1]: the words that carry the dense score, or else
        the query terms BM25 found."""
        if self.dense is not None:
            return [s for s in highlight_spans(self.dense, HIGHLIGHTED_WORDS) if s[2] >= HIGHLIGHT_FLOOR]
        return keyword_spans(self.keyword) if self.keyword is not None else []

    def why(self, top: int = TOP_WORDS) -> dict:
        """Why it matched, in plain values: the words adding most to the cosine, the query terms' shares of the
        BM25 score, the words of the chunk the model cannot read, and the verdict; empty parts left out."""
        why: dict = {}
        if self.dense is not None:
            why["words"] = [
                {"word": w.word, "contribution": round(w.contribution, 4)} for w in self.dense.top_words[:top]
            ]
        if self.keyword is not None:
            why["terms"] = [
                {"term": t.term, "share": round(t.share, 4), "bm25": round(t.score, 4)}
                for t in self.keyword.terms
                if t.score > 0
            ]
        if self.coverage is not None and self.coverage.unknown:
            why["unknown_words"] = [w.word for w in self.coverage.unknown]
        if self.verdict is not None:
            why["verdict"] = self.verdict
        return why


@dataclass(frozen=True)
class Answer:
    result: SearchResult  # the hits as the engine ranked them, with dims and timings
    hits: list[ExplainedHit]  # the same hits, each explained
    query_coverage: Coverage | None  # the query's words the model cannot read (needs the model)
    keyword_stats: CorpusStats | None  # the index's BM25 statistics the term shares were computed from

    def as_dict(self) -> dict:
        """The search result's dict, each hit with its `why`, and the query's words the model cannot read."""
        found = self.result.as_dict()
        found["hits"] = [h.hit.as_dict() | {"why": h.why()} for h in self.hits]
        if self.query_coverage is not None:
            found["unknown_query_words"] = [w.word for w in self.query_coverage.unknown]
        return found

    def judged(self, document: str, verdict: int) -> Answer:
        """The same answer after `document` was judged: no search or explanation again."""
        return replace(self, hits=[replace(h, verdict=verdict) if h.hit.document == document else h for h in self.hits])


KeywordStats = Callable[[Store, str, str, str], CorpusStats]


def index_keyword_stats(store: Store, library: str, model: str, analyzer: str) -> CorpusStats:
    """BM25 statistics of one index, counted from every chunk text it holds."""
    return corpus_stats((row["text"] for row in store.index(library, model).chunk_rows()), analyzer)


class KeywordStatsCache:
    """Keyword statistics per index, counted again only when its documents change (a library's worth of text
    takes seconds to count, and every keyword or hybrid answer needs them). Thread-safe: sessions share one."""

    def __init__(self, size: int = 16, count: KeywordStats = index_keyword_stats) -> None:
        self._size, self._count = size, count
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple, CorpusStats] = OrderedDict()

    def __call__(self, store: Store, library: str, model: str, analyzer: str) -> CorpusStats:
        # The documents' hashes change whenever a document is added, replaced or deleted, and not otherwise.
        version = tuple((d.name, d.doc_hash) for d in store.index(library, model).documents())
        key = (id(store), library, model, analyzer, version)
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        stats = self._count(store, library, model, analyzer)
        with self._lock:
            self._kept[key] = stats
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return stats


def answer(
    query: str,
    library: str,
    model: str,
    store: Store,
    *,
    embedder: Embedder | None = None,
    top_k: int = 5,
    document: str | None = None,
    mode: SearchMode = SearchMode.DENSE,
    params: HybridParams | None = None,
    keyword_stats: KeywordStats = index_keyword_stats,
) -> Answer:
    """Search the index of (library, model) and explain every hit.

    `embedder` is needed for dense and hybrid searches (and gives coverage in any mode); a keyword search runs
    without one. `keyword_stats` counts an index's BM25 statistics: pass a KeywordStatsCache to count once."""
    loaded = embedder if embedder is not None else model  # a name alone loads nothing: keyword search only
    result = search(query, library, loaded, store, top_k, document, mode=mode, params=params)
    texts = [h.text for h in result.hits]
    # Only a static vector (a mean of token vectors) splits exactly over words; a transformer's gets no word shares.
    explained = embedder is not None and embedder.static and mode != SearchMode.KEYWORD
    dense = explain_matches(embedder, query, texts) if explained else None
    keyword, stats = None, None
    if mode != SearchMode.DENSE and texts:
        meta = store.catalog.find(library, model)
        if meta is None:  # dropped between the search and now
            raise LibraryNotFoundError(f"Library '{library}' has no index for model {model} any more.")
        stats = keyword_stats(store, library, model, meta.analyzer)
        keyword = explain_keywords(query, texts, stats)
    judged = verdicts(store.judgments.list(library), query)  # documents are judged, so a verdict covers all its hits
    hits = [
        ExplainedHit(
            hit=hit,
            dense=dense[i] if dense is not None else None,
            keyword=keyword[i] if keyword is not None else None,
            coverage=vocabulary_coverage(embedder, hit.text) if embedder is not None else None,
            verdict=judged.get(hit.document),
        )
        for i, hit in enumerate(result.hits)
    ]
    query_coverage = vocabulary_coverage(embedder, query) if embedder is not None else None
    return Answer(result=result, hits=hits, query_coverage=query_coverage, keyword_stats=stats)
