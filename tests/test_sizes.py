"""Counts as people read them (7.6M parameters), one format for the pages and the CLI's human output."""

from __future__ import annotations

import pytest

from core.sizes import format_count


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, "0"),
        (950, "950"),
        (999, "999"),
        (1_000, "1.0k"),
        (1_200, "1.2k"),
        (999_949, "999.9k"),
        # Rounding carries into the next unit rather than showing "1000.0k".
        (999_950, "1.0M"),
        (7_558_400, "7.6M"),
        (999_949_999, "999.9M"),
        (999_950_000, "1.0B"),
        (2_000_000_000, "2.0B"),
        (-1_500, "-1.5k"),
    ],
)
def test_a_count_is_shown_with_one_decimal_in_the_unit_that_keeps_it_under_a_thousand(count, shown):
    assert format_count(count) == shown


def test_an_exact_count_keeps_every_digit_so_close_counts_stay_apart():
    assert format_count(2_595, exact=True) == "2,595" and format_count(2_600, exact=True) == "2,600"
    assert format_count(2_595) == format_count(2_600) == "2.6k"  # why stale messages ask for exact


def test_a_models_parameter_label_is_the_same_count_format():
    from core.embed.embedder import ModelInfo, ModelSource

    info = ModelInfo("m", ModelSource.BUNDLED, "m", 256, 29_525, 7_558_400, "float32", 1, "f" * 16)
    assert info.params_label == "7.6M"
