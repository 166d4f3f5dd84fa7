"""Hybrid ranking: fuse a dense and a keyword ranking of the same chunks, keeping each component's score."""

from __future__ import annotations

from dataclasses import replace

from core.types import Fusion, Hit, HybridParams


def fuse(dense: list[Hit], keyword: list[Hit], top_k: int, params: HybridParams) -> list[Hit]:
    """The top_k chunks of both rankings by RRF or a weighted blend; ties go to the chunk id, so order is stable.

    A chunk found by one ranking only has no score from the other: it counts as 0 in a weighted blend
    and adds nothing in RRF. A weighted blend first scales each ranking to 0..1, because a cosine and a
    BM25 score are not on one scale: BM25 by its best score (0 already means "no match"), cosines
    min-max over the candidates (as Weaviate's relative score fusion does)."""
    merged: dict[str, dict] = {}
    for source, hits in (("dense", dense), ("keyword", keyword)):
        for rank, hit in enumerate(hits, start=1):
            entry = merged.setdefault(hit.chunk_id, {"hit": hit})
            entry[source] = hit.score
            entry[f"{source}_rank"] = rank
    if params.fusion == Fusion.RRF:
        score = lambda e: sum(1.0 / (params.rrf_k + e[f"{s}_rank"]) for s in ("dense", "keyword") if s in e)  # noqa: E731
    else:
        scale_dense = _min_max(dense)
        top_keyword = max((h.score for h in keyword), default=0.0)
        scale_keyword = (lambda s: s / top_keyword) if top_keyword > 0 else (lambda s: 0.0)
        w = min(1.0, max(0.0, params.weight))

        def score(e: dict) -> float:
            d = scale_dense(e["dense"]) if "dense" in e else 0.0
            k = scale_keyword(e["keyword"]) if "keyword" in e else 0.0
            return w * d + (1.0 - w) * k

    ranked = sorted(merged.values(), key=lambda e: (-score(e), e["hit"].chunk_id))[:top_k]
    return [
        replace(e["hit"], rank=rank, score=score(e), dense_score=e.get("dense"), keyword_score=e.get("keyword"))
        for rank, e in enumerate(ranked, start=1)
    ]


def _min_max(hits: list[Hit]):
    """Maps the ranking's worst score to 0 and its best to 1; a ranking of equal scores maps to 1."""
    if not hits:
        return lambda s: 0.0
    low, high = min(h.score for h in hits), max(h.score for h in hits)
    return (lambda s: 1.0) if high == low else (lambda s: (s - low) / (high - low))
