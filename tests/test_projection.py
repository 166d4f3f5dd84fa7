"""The embedding map: PCA of a library's chunk vectors, stable document samples, the query placed with the chunks."""

from __future__ import annotations

import numpy as np
import pytest

from core.embed.loading import load_embedder
from core.ingest.pipeline import ingest
from core.insight.projection import embedding_map, pca_2d, sample_prefixes
from core.storage.memory import MemoryStore
from core.types import document_key
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL, SEED_DOCS

FOOD = "Bake the bread with flour, then serve it with cheese and soup from the kitchen."


def test_pca_gives_the_top_two_axes_and_their_variance_shares():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(200, 5)) * np.array([5.0, 2.0, 0.5, 0.1, 0.1])  # axes 0 and 1 dominate
    mean, axes, xy, shares = pca_2d(data)
    assert np.allclose(mean, data.mean(axis=0))
    assert abs(axes[0, 0]) > 0.99 and abs(axes[1, 1]) > 0.99  # found the two widest directions
    assert np.allclose(xy, (data - mean) @ axes.T)
    total = ((data - mean) ** 2).sum()
    assert shares[0] == pytest.approx(((xy[:, 0]) ** 2).sum() / total)
    assert shares[0] > shares[1] > 0 and shares[0] + shares[1] < 1
    _, again, _, _ = pca_2d(data[::-1].copy())
    assert np.allclose(again, axes)  # same data, same orientation, whatever order it comes in


def test_large_libraries_are_sampled_by_whole_documents_the_same_way_in_every_index():
    assert sample_prefixes(3_000, 4_000) is None
    prefixes = sample_prefixes(100_000, 4_000)
    assert prefixes is not None and len(prefixes) == 10 and all(len(p) == 2 for p in prefixes)  # 10/256 ~ 4%
    assert sample_prefixes(6_000, 4_000) == [format(i, "x") for i in range(10)]  # 10/16 of the keys


@pytest.fixture(params=["milvus", "memory"])
def any_store(request, isolated_env):
    from core.storage.milvus import MilvusStore

    s = MilvusStore() if request.param == "milvus" else MemoryStore()
    yield s
    s.close()


def _index(tmp_path, store, model):
    paths = []
    for i, text in enumerate([*SEED_DOCS, FOOD]):
        paths.append(tmp_path / f"doc{i}.txt")
        paths[-1].write_text(text, encoding="utf-8")
    ingest(paths, "lib", load_embedder(model), store)


def test_the_map_projects_every_chunk_and_places_the_query_among_its_hits(tmp_path, any_store):
    _index(tmp_path, any_store, BUNDLED_LARGE)
    embedder = load_embedder(BUNDLED_LARGE)
    found = embedding_map(any_store, "lib", embedder, query="Where was Alan Turing born?", top_k=2)
    assert (
        len(found.points) == found.chunks_total == any_store.index("lib", BUNDLED_LARGE).count() and not found.sampled
    )
    assert sorted(p.hit_rank for p in found.points if p.hit_rank) == [1, 2]
    assert all(p.preview and len(p.preview) <= 120 for p in found.points)
    # The query is mapped with the chunks' own linear map: nearer its top hit than the unrelated food text.
    query = np.array(found.query)
    top = next(p for p in found.points if p.hit_rank == 1)
    food = next(p for p in found.points if p.document == "doc3.txt")
    assert np.linalg.norm(query - [top.x, top.y]) < np.linalg.norm(query - [food.x, food.y])


def test_two_models_sample_the_same_chunks_and_share_keys(tmp_path, any_store):
    for model in (BUNDLED_SMALL, BUNDLED_LARGE):
        _index(tmp_path, any_store, model)
    small = embedding_map(any_store, "lib", load_embedder(BUNDLED_SMALL), max_points=2)
    large = embedding_map(any_store, "lib", load_embedder(BUNDLED_LARGE), max_points=2)
    assert small.sampled and large.sampled and small.sample_prefixes == large.sample_prefixes
    assert {p.key for p in small.points} == {p.key for p in large.points}  # the same chunk, linkable
    assert all(document_key(p.document).startswith(tuple(small.sample_prefixes)) for p in small.points)
    every = embedding_map(any_store, "lib", load_embedder(BUNDLED_SMALL))
    whole = {p.document for p in small.points}
    assert {p.key for p in every.points if p.document in whole} == {p.key for p in small.points}  # whole documents
