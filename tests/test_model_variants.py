"""Model variants: a model's first N dimensions and/or its weights quantized, each a model of its own with
its own provenance, indexed, searched, costed and evaluated beside the model it came from."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.cli import EXIT_OK, main
from core.embed.loading import ModelVariant, load_embedder, model_dim, parse_variant, resolve_model, variant_dims
from core.errors import ModelNotFoundError
from core.insight.costs import measure_costs
from core.search.query import search
from tests.conftest import BUNDLED_DEFAULT, BUNDLED_LARGE, BUNDLED_SMALL, SEED_DOCS, index_texts

TEXTS = ["the wing stalls at a high angle of attack", "protein folding in yeast cells", "bread and cheese"]


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.parametrize(
    ("suffix", "variant"),
    [
        ("128d", ModelVariant(128, None)),
        ("int8", ModelVariant(None, "int8")),
        ("int8+64d", ModelVariant(64, "int8")),
        ("64D+Float16", ModelVariant(64, "float16")),
    ],
)
def test_variant_suffixes_parse_and_are_named_one_way(suffix, variant):
    assert parse_variant(suffix) == variant
    ref = resolve_model(f"{BUNDLED_LARGE}@{suffix}")
    assert (ref.kind, ref.variant) == ("bundled", variant)
    assert ref.name == f"{BUNDLED_LARGE}@{variant.suffix}"  # dims first, lower case, whatever was typed
    assert ref.source == resolve_model(BUNDLED_LARGE).source  # the same files, loaded differently


@pytest.mark.parametrize("suffix", ["", "0d", "x8", "64d+32d", "int8+int8", "int4"])
def test_a_suffix_that_is_no_variant_is_refused_in_one_sentence(suffix):
    with pytest.raises(ModelNotFoundError, match="is not a model variant: write the dimensions"):
        resolve_model(f"{BUNDLED_LARGE}@{suffix}")


def test_a_directory_with_an_at_sign_in_its_name_is_a_directory(tiny_model_dir, tmp_path):
    folder = tmp_path / "models@work"
    folder.symlink_to(tiny_model_dir, target_is_directory=True)
    ref = resolve_model(str(folder))
    assert (ref.kind, ref.variant) == ("local", None)
    assert resolve_model(f"{folder}@int8").variant == ModelVariant(None, "int8")


def test_a_truncated_variant_embeds_as_the_first_dimensions_of_its_model():
    full = load_embedder(BUNDLED_LARGE)
    half = load_embedder(f"{BUNDLED_LARGE}@128d")
    assert half is not full and half.info.dim == 128 and full.info.dim == 256
    assert half.info.variant == "128d" and full.info.variant == ""
    assert half.info.fingerprint != full.info.fingerprint
    assert half.info.params == full.info.params // 2
    assert half.info.file_size_bytes < full.info.file_size_bytes
    # PCA-ordered weights: the mean of the truncated rows is the truncated mean.
    expected = unit(full.encode(TEXTS)[:, :128])
    assert np.allclose(half.encode(TEXTS), expected, atol=1e-6)
    assert load_embedder(f"{BUNDLED_LARGE}@128d") is half  # loaded once, like any model


def test_an_int8_variant_is_a_quarter_of_the_float32_weights_and_embeds_nearly_the_same():
    full = load_embedder(BUNDLED_LARGE)
    small = load_embedder(f"{BUNDLED_LARGE}@int8")
    assert (small.info.dtype, small.info.dim) == ("int8", 256)
    assert small.info.fingerprint != full.info.fingerprint
    matrix_bytes = full.info.vocab_size * 256
    stored = np.asarray(full.model.embedding).nbytes
    assert full.info.file_size_bytes - small.info.file_size_bytes == stored - matrix_bytes
    cosines = (unit(small.encode(TEXTS)) * unit(full.encode(TEXTS))).sum(axis=1)
    assert cosines.min() > 0.99 and not np.allclose(cosines, 1.0, atol=1e-7)  # rounded, yet close


def test_more_dimensions_than_the_model_has_are_refused_naming_the_width():
    with pytest.raises(ModelNotFoundError, match="keeps 128 dimensions but the model has 64: pick 64 or fewer"):
        load_embedder(f"{BUNDLED_SMALL}@128d")


def test_widths_offered_are_halvings_and_the_width_on_disk_is_read_without_loading():
    assert variant_dims(256) == [128, 64, 32, 16]
    assert variant_dims(64) == [32, 16]
    assert model_dim(BUNDLED_LARGE) == 256 and model_dim(f"{BUNDLED_LARGE}@64d") == 256  # the base's width
    assert model_dim("no-such-model") is None


def test_a_variant_is_indexed_with_its_own_provenance_beside_its_model(store, tmp_path):
    docs = {f"doc{i}.txt": text for i, text in enumerate(SEED_DOCS)}
    variant = f"{BUNDLED_LARGE}@64d+int8"
    for model in (BUNDLED_LARGE, variant):
        index_texts(store, tmp_path / model.replace("@", "-"), "Papers", model, docs)
    full, small = store.catalog.require("Papers", BUNDLED_LARGE), store.catalog.require("Papers", variant)
    assert small.collection != full.collection
    assert (small.model_source, small.model_kind) == (full.model_source, full.model_kind)
    assert (small.model_variant, full.model_variant, small.dim) == ("64d+int8", "", 64)
    assert small.fingerprint == load_embedder(variant).info.fingerprint != full.fingerprint
    assert store.index("Papers", variant).count() == store.index("Papers", BUNDLED_LARGE).count()
    found = search("wing stall", "Papers", load_embedder(variant), store, 3)
    assert found.hits and (found.query_dim, found.doc_dim) == (64, 64)

    report = measure_costs(store, "Papers", load_embedder)
    by_model = {c.model: c for c in report.costs}
    assert set(by_model) == {BUNDLED_LARGE, variant}
    assert (by_model[variant].dim, by_model[variant].bytes_per_vector) == (64, 256)
    assert by_model[variant].file_size_bytes < by_model[BUNDLED_LARGE].file_size_bytes


def test_the_command_line_indexes_a_variant_and_lists_its_provenance(tmp_path, capsys):
    (tmp_path / "a.txt").write_text(SEED_DOCS[0], encoding="utf-8")
    variant = f"{BUNDLED_LARGE}@INT8+32d"  # typed any way: indexed under its one name
    assert main(["ingest", str(tmp_path / "a.txt"), "--library", "L", "--model", variant, "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["model"] == f"{BUNDLED_LARGE}@32d+int8"
    assert main(["libraries", "--json"]) == EXIT_OK
    (listed,) = json.loads(capsys.readouterr().out)[0]["models"]
    assert (listed["model"], listed["variant"], listed["dim"]) == (f"{BUNDLED_LARGE}@32d+int8", "32d+int8", 32)
    assert listed["source"] == resolve_model(BUNDLED_LARGE).source


def test_a_variant_is_evaluated_beside_its_model(tmp_path, capsys):
    from tests.test_cli_evaluate import write_tiny_collection

    folder = write_tiny_collection(tmp_path / "tiny")
    args = ["evaluate", str(folder), "--model", BUNDLED_LARGE, "--model", f"{BUNDLED_LARGE}@32d", "--no-chunking"]
    assert main([*args, "--json", "--quiet"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in report["results"]] == [BUNDLED_LARGE, f"{BUNDLED_LARGE}@32d"]
    assert report["comparisons"][0]["other"]["model"] == f"{BUNDLED_LARGE}@32d"


# --- in the app --------------------------------------------------------------------------------------


def test_the_sidebar_offers_a_variant_of_the_picked_model_as_a_model_of_its_own(app_store, monkeypatch, tmp_path):
    from pages import shared
    from tests.apptest_helpers import new_app, no_exception, open_page, pick_model

    at = new_app().run()
    no_exception(at)
    dims = at.sidebar.selectbox(key="variant_dims_256")
    assert dims.options == ["256 (all)", "first 128", "first 64", "first 32", "first 16"]
    assert at.session_state[shared.MODEL_KEY] == BUNDLED_DEFAULT  # no variant until one is asked for

    dims.set_value(64).run()
    no_exception(at)
    assert at.session_state[shared.MODEL_KEY] == f"{BUNDLED_DEFAULT}@64d"
    assert {m.label: m.value for m in at.sidebar.metric}["Dimensions"] == "64"
    at.sidebar.checkbox(key="variant_int8").check().run()
    no_exception(at)
    assert at.session_state[shared.MODEL_KEY] == f"{BUNDLED_DEFAULT}@64d+int8"
    card = " ".join(c.value for c in at.sidebar.caption)
    assert "int8" in card and "Variant 64d+int8" in card
    assert load_embedder(f"{BUNDLED_DEFAULT}@64d+int8").info.fingerprint in card

    pick_model(at, BUNDLED_SMALL)  # a 64d model: its own widths, and int8 still asked for
    assert at.sidebar.selectbox(key="variant_dims_64").options == ["64 (all)", "first 32", "first 16"]
    assert at.session_state[shared.MODEL_KEY] == f"{BUNDLED_SMALL}@int8"

    # Indexed beside its model, the variant is measured on the Costs page with its own numbers.
    pick_model(at, BUNDLED_LARGE)
    at.sidebar.selectbox(key="variant_dims_256").set_value(64).run()
    assert at.session_state[shared.MODEL_KEY] == f"{BUNDLED_LARGE}@64d+int8"
    docs = {f"doc{i}.txt": text for i, text in enumerate(SEED_DOCS)}
    for model in (BUNDLED_LARGE, f"{BUNDLED_LARGE}@64d+int8"):
        index_texts(app_store, tmp_path / model.replace("@", "-"), "My library", model, docs)
    open_page(at, "pages/evaluate.py")
    assert f"{BUNDLED_LARGE}@64d+int8" in at.main.multiselect(key="eval_models").options
    open_page(at, "pages/costs.py")
    at.main.button(key="costs_measure").click().run()
    from tests.apptest_helpers import costs_table, wait_for_job

    wait_for_job(shared.jobs(), "costs|My library")
    at.run()
    no_exception(at)
    rows = {r["model"]: r for r in costs_table(at)}
    assert (rows[f"{BUNDLED_LARGE}@64d+int8"]["dims"], rows[BUNDLED_LARGE]["dims"]) == (64, 256)
    assert (rows[f"{BUNDLED_LARGE}@64d+int8"]["weights"], rows[BUNDLED_LARGE]["weights"]) == ("int8", "float16")
    assert rows[f"{BUNDLED_LARGE}@64d+int8"]["bytes / vector"] == 256
