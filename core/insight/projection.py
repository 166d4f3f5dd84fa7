"""The embedding map: a library's chunk vectors projected to 2D (PCA), with a query and its hits placed on it.

PCA, not UMAP: it is exact and deterministic, needs only numpy, and places a new point (the query) with
the same linear map as the chunks, so "the query sits near its hits" is literally true in the picture.
Large libraries are sampled by whole documents, chosen by a prefix of their document key, so the sample is
the same on every call and in every model's index of the library, and two maps show the same chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from core.embed.embedder import Embedder
from core.search.query import search
from core.storage import Store
from core.types import document_key
from core.vectors import unit_rows

MAX_POINTS = 4_000  # an Altair scatter stays responsive in the browser up to a few thousand points
HEX = "0123456789abcdef"
PREVIEW_CHARS = 120


@dataclass(frozen=True)
class MapPoint:
    """One chunk on the map; `key` is the same for the same chunk in every model's map of a library."""

    key: str
    document: str
    chunk: int
    preview: str
    x: float
    y: float
    hit_rank: int = 0  # 1.. for the query's hits, 0 otherwise


@dataclass(frozen=True)
class EmbeddingMap:
    model: str
    points: list[MapPoint]
    chunks_total: int
    explained: tuple[float, float]  # share of the variance along each axis
    query: tuple[float, float] | None = None
    sample_prefixes: list[str] = field(default_factory=list)  # empty when every chunk is drawn

    @property
    def sampled(self) -> bool:
        return len(self.points) < self.chunks_total


def sample_prefixes(chunks_total: int, max_points: int = MAX_POINTS) -> list[str] | None:
    """Document-key prefixes covering about max_points of chunks_total; None when all fit."""
    if chunks_total <= max_points:
        return None
    share = max_points / chunks_total
    width = 1 if share * 16 >= 1 else 2  # keys are uniform hex: one character splits 16 ways, two 256 ways
    slots = 16**width
    keep = max(1, math.floor(share * slots))
    return [format(i, f"0{width}x") for i in range(keep)]


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float]]:
    """Mean, the two principal axes (2 x dim), the projected points and each axis's share of the variance."""
    mean = vectors.mean(axis=0)
    centered = vectors - mean
    _, singular, axes = np.linalg.svd(centered, full_matrices=False)
    variance = singular**2
    total = float(variance.sum()) or 1.0
    top = axes[:2]
    if top.shape[0] < 2:  # one point, or all identical: no second axis to show
        top = np.vstack([top, np.zeros((2 - top.shape[0], vectors.shape[1]))])
    # Fix each axis's sign (SVD may flip it) so the same data always draws the same way round.
    for i in range(2):
        anchor = int(np.argmax(np.abs(top[i]))) if np.any(top[i]) else 0
        if top[i, anchor] < 0:
            top[i] = -top[i]
    shares = tuple(float(v) / total for v in (list(variance[:2]) + [0.0, 0.0])[:2])
    return mean, top, centered @ top.T, (shares[0], shares[1])


def embedding_map(
    store: Store,
    library: str,
    embedder: Embedder,
    query: str = "",
    top_k: int = 10,
    max_points: int = MAX_POINTS,
) -> EmbeddingMap:
    """The map of one model's index of the library, with `query` and its top_k hits marked when given."""
    model = embedder.info.name
    total = store.index(library, model).count()
    prefixes = sample_prefixes(total, max_points)
    rows = store.index(library, model).chunk_vectors(prefixes)
    if prefixes is not None:  # the store may not filter (old schemas): make sure of the sample here
        rows = [r for r in rows if document_key(r["document"]).startswith(tuple(prefixes))]
    if not rows:
        return EmbeddingMap(model, [], total, (0.0, 0.0), sample_prefixes=prefixes or [])
    vectors = unit_rows(np.stack([np.asarray(r["vector"], dtype=np.float64) for r in rows]))  # cosine geometry
    mean, axes, xy, explained = pca_2d(vectors)
    ranks: dict[str, int] = {}
    where = None
    if query.strip():
        for hit in search(query, library, embedder, store, top_k).hits:
            ranks[hit.chunk_id] = hit.rank
        q = unit_rows(embedder.encode([query])[0].astype(np.float64))
        if np.any(q):
            qx, qy = (q - mean) @ axes.T
            where = (float(qx), float(qy))
    points = [
        MapPoint(
            key=r["id"],
            document=r["document"],
            chunk=int(r["chunk"]),
            preview=" ".join(r["text"].split())[:PREVIEW_CHARS],
            x=float(x),
            y=float(y),
            hit_rank=ranks.get(r["id"], 0),
        )
        for r, (x, y) in zip(rows, xy, strict=True)
    ]
    return EmbeddingMap(model, points, total, explained, where, prefixes or [])
