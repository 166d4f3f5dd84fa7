"""One normalisation for every stage: unit rows stay unit, zero rows stay zero, and no stage writes its own."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from core.vectors import ZERO_NORM, unit_rows

CORE = Path(__file__).resolve().parents[1] / "core"


def test_rows_come_out_at_unit_length_in_their_own_dtype():
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        rows = rng.normal(size=(50, 16)).astype(dtype) * rng.uniform(0.01, 100, size=(50, 1)).astype(dtype)
        unit = unit_rows(rows)
        assert unit.dtype == dtype
        np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-6)
        # the direction is kept: each row is a positive multiple of the input
        np.testing.assert_allclose(unit * np.linalg.norm(rows, axis=1, keepdims=True), rows, rtol=1e-5)


def test_unit_rows_are_left_as_they_are():
    rows = np.eye(4, dtype=np.float32)
    np.testing.assert_array_equal(unit_rows(rows), rows)


def test_all_zero_rows_stay_zero_beside_others():
    rows = np.array([[0.0, 0.0, 0.0], [3.0, 4.0, 0.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    unit = unit_rows(rows)
    assert np.all(np.isfinite(unit))
    np.testing.assert_array_equal(unit[[0, 2]], 0.0)
    np.testing.assert_allclose(unit[1], [0.6, 0.8, 0.0], rtol=1e-6)


def test_one_vector_and_an_empty_matrix_work_too():
    np.testing.assert_allclose(unit_rows(np.array([0.0, 2.0])), [0.0, 1.0])
    np.testing.assert_array_equal(unit_rows(np.zeros(5)), np.zeros(5))
    assert unit_rows(np.zeros((0, 8), dtype=np.float32)).shape == (0, 8)
    assert unit_rows([[1, 1]]).dtype == np.float64  # whole numbers come back as floats


def test_a_vector_shorter_than_the_threshold_has_no_direction():
    tiny = np.array([[ZERO_NORM / 10, 0.0]])
    np.testing.assert_array_equal(unit_rows(tiny), tiny)


def test_a_normalising_model_gives_unit_rows_and_zero_for_unknown_text():
    from core.embed.loading import load_embedder
    from tests.conftest import BUNDLED_SMALL

    embedder = load_embedder(BUNDLED_SMALL)
    assert embedder.model.normalize
    vectors = embedder.encode(["Alan Turing was born in London", "\u2063\u2063"])
    assert vectors.dtype == np.float32
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-6)
    assert not vectors[1].any()


@pytest.mark.parametrize("path", sorted(p for p in CORE.rglob("*.py") if p.name != "vectors.py"), ids=str)
def test_no_module_of_core_normalises_vectors_its_own_way(path: Path):
    """Dividing by a norm, or adding an epsilon to one, belongs to core.vectors alone."""
    source = path.read_text(encoding="utf-8")
    assert not re.search(r"/=?\s*\(?\s*np\.(maximum|where)\(\s*(np\.linalg\.)?norm", source)
    assert not re.search(r"linalg\.norm\([^)]*\)[^\n]*\+\s*(np\.float32\()?1e-", source)
    assert not re.search(r"/=?\s*np\.linalg\.norm\(", source)
