"""The Map page, driven with AppTest: one or two models' maps, the query marked, sampling said."""

from __future__ import annotations

import json

import pytest

from core.embed.loading import load_embedder
from core.insight.projection import embedding_map
from tests.apptest_helpers import app_store, index_texts, new_app, no_exception, open_page, pick_model
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL, SEED_DOCS

MAP = "pages/map.py"
DOCS = {f"doc{i}.txt": text for i, text in enumerate(SEED_DOCS)} | {"food.txt": "Bread, flour, cheese and soup."}


@pytest.fixture
def store(isolated_env):
    with app_store() as s:
        yield s


def _spec(at) -> dict:
    (chart,) = at.main.get("vega_lite_chart")
    return json.loads(chart.proto.spec)


def _layers(spec: dict) -> list[list[dict]]:
    """Each map's layers, as the values of its inline data."""
    return [[layer["data"]["values"] for layer in view["layer"]] for view in spec["hconcat"]]


def test_an_empty_library_says_what_to_do(store, monkeypatch):
    at = new_app().run()
    open_page(at, MAP)
    assert any("has no documents yet" in i.value for i in at.main.info)


def test_two_models_side_by_side_with_the_query_and_its_hits_marked(store, tmp_path, monkeypatch):
    for model in (BUNDLED_SMALL, BUNDLED_LARGE):
        index_texts(store, tmp_path / model, "Papers", model, DOCS)
    at = new_app().run()
    pick_model(at, BUNDLED_LARGE)
    open_page(at, MAP)
    assert at.main.selectbox(key="map_model").value == BUNDLED_LARGE
    at.main.selectbox(key="map_other").set_value(BUNDLED_SMALL)
    at.main.text_input(key="map_query").input("Where was Alan Turing born?")
    at.main.slider(key="map_top_k").set_value(2)
    at.main.button(key="FormSubmitter:map-Draw").click().run()
    no_exception(at)
    spec = _spec(at)
    (large_points, rings, star), (small_points, *_) = _layers(spec)
    expected = embedding_map(store, "Papers", load_embedder(BUNDLED_LARGE), "Where was Alan Turing born?", 2)
    assert [(p["key"], p["x"], p["y"]) for p in large_points] == [(p.key, p.x, p.y) for p in expected.points]
    assert {p["key"] for p in small_points} == {p["key"] for p in large_points}  # the same chunks, linkable
    assert sorted(p["hit_rank"] for p in large_points if p["hit_rank"]) == [1, 2] and len(rings) == len(large_points)
    assert star == [{"x": expected.query[0], "y": expected.query[1], "label": "query"}]
    assert [view["title"] for view in spec["hconcat"]] == [BUNDLED_LARGE, BUNDLED_SMALL]
    assert "document" in json.dumps(spec["hconcat"][0]["layer"][0]["encoding"]["tooltip"])
    notes = [c.value for c in at.main.caption]
    assert any("2 of the top 2 hits are on the map" in n for n in notes)


def test_a_library_too_large_to_draw_is_sampled_and_says_so(store, tmp_path, monkeypatch):
    index_texts(store, tmp_path / "docs", "Papers", BUNDLED_SMALL, DOCS)
    monkeypatch.setattr("core.insight.projection.embedding_map.__defaults__", ("", 10, 2))
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, MAP)
    no_exception(at)
    notes = " ".join(c.value for c in at.main.caption)
    assert "a sample of whole documents" in notes and f"of {store.index('Papers', BUNDLED_SMALL).count()}" in notes
