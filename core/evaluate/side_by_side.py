"""Two saved runs' rankings of one query side by side: each run's top documents with their scores, the grade its
judgments give each (or that it holds none), and where the other run ranks the same document, so a query whose
nDCG@10 moved shows why: which judged documents rose, fell, came in or dropped out, and which relevant ones
neither run put in its top 10.

Each side is marked by its own run's judgments, the ones its score was computed on (runs made on different
judgments may grade a document differently, or only one of them may have judged it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.evaluate.metrics import is_relevant
from core.evaluate.saved import HEADLINE, SavedRun

SHOWN = 10  # documents per side: the depth nDCG@10 counts


@dataclass(frozen=True)
class RankedDocument:
    rank: int  # from 1
    document: str
    score: float  # the run's score of the document's best chunk
    grade: int | None  # the judged grade for this query; None: the run's judgments say nothing of it
    other_rank: int | None  # its rank in the other run's top documents; None: not among them

    @property
    def relevant(self) -> bool:
        return is_relevant(self.grade)


@dataclass(frozen=True)
class Unshown:
    """A document judged relevant for the query (by either run's judgments) that neither side's top documents hold."""

    document: str
    grade_a: int | None  # as run A's judgments grade it; None: they say nothing of it
    grade_b: int | None
    rank_a: int | None  # where run A ranks it in all it kept (its top 100); None: not at all
    rank_b: int | None


@dataclass(frozen=True)
class SideBySide:
    query_id: str
    query: str  # its text, "" when neither run holds it
    score_a: float  # the headline measure (nDCG@10) of each run on this query; nan when the run did not judge it
    score_b: float
    a: list[RankedDocument]
    b: list[RankedDocument]
    unshown: list[Unshown]  # judged relevant by either run, in neither top list; by highest grade, then name


def side_by_side(a: SavedRun, b: SavedRun, query_id: str, depth: int = SHOWN) -> SideBySide:
    """Run A's and run B's top `depth` documents for one query, each marked with its own judgments."""
    docs_a, docs_b = a.ranking.get(query_id, []), b.ranking.get(query_id, [])
    top_a, top_b = docs_a[:depth], docs_b[:depth]
    judged_a, judged_b = a.qrels.get(query_id, {}), b.qrels.get(query_id, {})
    return SideBySide(
        query_id=query_id,
        query=a.queries.get(query_id) or b.queries.get(query_id, ""),
        score_a=a.per_query.get(HEADLINE, {}).get(query_id, float("nan")),
        score_b=b.per_query.get(HEADLINE, {}).get(query_id, float("nan")),
        a=_marked(top_a, judged_a, _ranks(top_b)),
        b=_marked(top_b, judged_b, _ranks(top_a)),
        unshown=_unshown(judged_a, judged_b, _ranks(docs_a), _ranks(docs_b), {d for d, _ in top_a + top_b}),
    )


def grade_text(grade: int | None) -> str:
    """How a page or table names a judged grade: "relevant (2)", "not relevant (0)", or "unjudged"."""
    if grade is None:
        return "unjudged"
    return f"relevant ({grade})" if is_relevant(grade) else f"not relevant ({grade})"


def _ranks(docs: Sequence[tuple[str, float]]) -> dict[str, int]:
    ranks: dict[str, int] = {}
    for rank, (doc, _) in enumerate(docs, start=1):
        ranks.setdefault(doc, rank)
    return ranks


def _marked(
    docs: Sequence[tuple[str, float]], judged: Mapping[str, int], other: Mapping[str, int]
) -> list[RankedDocument]:
    return [
        RankedDocument(rank, doc, score, judged.get(doc), other.get(doc))
        for rank, (doc, score) in enumerate(docs, start=1)
    ]


def _unshown(
    judged_a: Mapping[str, int],
    judged_b: Mapping[str, int],
    ranks_a: Mapping[str, int],
    ranks_b: Mapping[str, int],
    shown: set[str],
) -> list[Unshown]:
    relevant = {doc for judged in (judged_a, judged_b) for doc, grade in judged.items() if is_relevant(grade)}
    missing = [
        Unshown(doc, judged_a.get(doc), judged_b.get(doc), ranks_a.get(doc), ranks_b.get(doc))
        for doc in relevant - shown
    ]
    return sorted(missing, key=lambda m: (-max(m.grade_a or 0, m.grade_b or 0), m.document))
