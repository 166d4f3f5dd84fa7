"""A query set run over two to four columns, each a model searched in one mode: per query, every column's top hits
with the library's verdict on each hit's document, how far the columns agree, and how many documents still wait
for a verdict. What the Query sets page shows and `python -m core query-sets run` prints.

Verdicts are on documents (as judgments are): judging one hit covers every hit of that document for the query."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from core.embed.embedder import Embedder
from core.errors import QuerySetError
from core.evaluate.judgments import RELEVANT, verdicts
from core.evaluate.results import RunKey
from core.ingest.pipeline import no_progress
from core.search.agreement import PairAgreement, agreement_matrix, document_ranking
from core.search.query import search_many
from core.storage import Store
from core.types import Judgment, ProgressCallback, QuerySet, SearchMode, SetQuery

MIN_COLUMNS, MAX_COLUMNS = 2, 4
BATCH = 32  # queries per database call: progress moves, and no call holds the engine long


def column_label(column: RunKey) -> str:
    """ "minilm-static-64 dense", "minilm-static-64 hybrid w=0.3": the model and the run's own label."""
    return f"{column.model} {column.label()}"


def check_columns(columns: Sequence[RunKey]) -> None:
    if not MIN_COLUMNS <= len(columns) <= MAX_COLUMNS:
        raise QuerySetError(
            f"A query set runs over {MIN_COLUMNS} to {MAX_COLUMNS} columns (model and mode); {len(columns)} given."
        )
    labels = [column_label(c) for c in columns]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise QuerySetError(f"The column {twice[0]} is given twice: pick another model or mode for one of them.")


@dataclass(frozen=True)
class ColumnHit:
    rank: int
    document: str
    chunk: int
    score: float
    text: str
    verdict: int | None  # the library's verdict on the document for this query; None: not judged yet

    @property
    def judged(self) -> bool:
        return self.verdict is not None

    def as_dict(self) -> dict:
        return {
            "rank": self.rank,
            "document": self.document,
            "chunk": self.chunk,
            "score": round(self.score, 6),
            "verdict": None if self.verdict is None else ("relevant" if self.verdict >= RELEVANT else "not relevant"),
        }


@dataclass(frozen=True)
class QueryRow:
    query: SetQuery
    hits: tuple[tuple[ColumnHit, ...], ...]  # per column, in the run's column order
    agreement: tuple[PairAgreement, ...]  # every pair of columns, on documents: overlap@k and RBO at depth k

    @property
    def unjudged(self) -> list[str]:
        """The documents some column returned that hold no verdict for this query yet, in first-seen order."""
        return list(dict.fromkeys(h.document for column in self.hits for h in column if not h.judged))


@dataclass(frozen=True)
class SetRun:
    library: str
    set_name: str
    columns: tuple[RunKey, ...]
    top_k: int
    rows: tuple[QueryRow, ...]

    @property
    def labels(self) -> list[str]:
        return [column_label(c) for c in self.columns]

    @property
    def unjudged(self) -> int:
        """(query, document) pairs shown that still wait for a verdict."""
        return sum(len(row.unjudged) for row in self.rows)

    def mean_agreement(self) -> list[PairAgreement]:
        """Each pair of columns' overlap and RBO, averaged over the set's queries."""
        if not self.rows:
            return []
        pairs = zip(*(row.agreement for row in self.rows), strict=True)
        n = len(self.rows)
        return [
            PairAgreement(ps[0].model_a, ps[0].model_b, sum(p.overlap for p in ps) / n, sum(p.rbo for p in ps) / n)
            for ps in pairs
        ]

    def with_verdicts(self, judgments: Sequence[Judgment]) -> SetRun:
        """The same hits with the library's verdicts as they are now (another session may have judged some)."""
        rows = []
        for row in self.rows:
            known = verdicts(judgments, row.query.text)
            hits = tuple(tuple(replace(h, verdict=known.get(h.document)) for h in c) for c in row.hits)
            rows.append(replace(row, hits=hits))
        return replace(self, rows=tuple(rows))

    def as_dict(self) -> dict:
        labels = self.labels
        return {
            "library": self.library,
            "set": self.set_name,
            "top_k": self.top_k,
            "columns": [c.as_dict() | {"label": label} for c, label in zip(self.columns, labels)],
            "unjudged": self.unjudged,
            "agreement": [_pair_dict(p) for p in self.mean_agreement()],
            "queries": [
                {
                    "id": row.query.id,
                    "query": row.query.text,
                    "hits": {label: [h.as_dict() for h in column] for label, column in zip(labels, row.hits)},
                    "agreement": [_pair_dict(p) for p in row.agreement],
                    "unjudged": len(row.unjudged),
                }
                for row in self.rows
            ],
        }


def _pair_dict(pair: PairAgreement) -> dict:
    return {"a": pair.model_a, "b": pair.model_b, "overlap": round(pair.overlap, 4), "rbo": round(pair.rbo, 4)}


def _searcher(column: RunKey, embedders: Mapping[str, Embedder]) -> Embedder | str:
    """The loaded model, or for a keyword column its name alone (BM25 reads the chunk text, no model is needed)."""
    if column.mode == SearchMode.KEYWORD and column.model not in embedders:
        return column.model
    if column.model not in embedders:
        raise QuerySetError(f"The column {column_label(column)} needs the model {column.model} loaded.")
    return embedders[column.model]


def run_set(
    query_set: QuerySet,
    columns: Sequence[RunKey],
    store: Store,
    embedders: Mapping[str, Embedder],
    top_k: int = 5,
    progress: ProgressCallback = no_progress,
) -> SetRun:
    """Search every query of the set in every column (`embedders` by model name; keyword columns need none) and
    put the library's verdicts beside the hits. Progress is reported per column, in queries."""
    check_columns(columns)
    if top_k < 1:
        raise QuerySetError(f"Top k must be at least 1 (got {top_k}).")
    library, texts = query_set.library, query_set.texts
    ranked: list[list[list[ColumnHit]]] = []
    for column in columns:
        searcher, stage, hits = _searcher(column, embedders), f"{column_label(column)}: search", []
        progress(stage, 0, len(texts))
        for start in range(0, len(texts), BATCH):
            batch = texts[start : start + BATCH]
            found = search_many(batch, library, searcher, store, top_k, mode=column.mode, params=column.params)
            hits += [[ColumnHit(h.rank, h.document, h.chunk, h.score, h.text, None) for h in r.hits] for r in found]
            progress(stage, start + len(batch), len(texts))
        ranked.append(hits)
    labels = [column_label(c) for c in columns]
    rows = []
    for i, query in enumerate(query_set.queries):
        per_column = tuple(tuple(column[i]) for column in ranked)
        rankings = {label: document_ranking(hits) for label, hits in zip(labels, per_column)}
        rows.append(QueryRow(query, per_column, tuple(agreement_matrix(rankings, top_k))))
    found = SetRun(library, query_set.name, tuple(columns), top_k, tuple(rows))
    return found.with_verdicts(store.judgments.list(library))
