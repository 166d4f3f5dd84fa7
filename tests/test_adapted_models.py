"""Adapting without the optional extra, and models made here, in the main suite (no torch needed).

The fitting itself is tested in tests/test_adapt.py, in .venv-adapt (scripts/test-adapt.sh)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from core.adapt.card import CARD_FILE, check_name
from core.adapt.distil import centre_and_weight, sif_weights
from core.adapt.reduce import project
from core.adapt.targets import build_targets, pick_sentences
from core.cli import EXIT_ERROR, main
from core.config import load_settings
from core.errors import AdaptError


def test_without_the_extra_the_command_names_what_to_install_in_one_sentence(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError, as when not installed
    assert main(["adapt", "--library", "any", "--name", "mine"]) == EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "pip install -r requirements-adapt.txt" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "command",
    [
        ["search", "a query", "--library", "lib", "--model", "all-MiniLM-L6-v2"],
        ["ingest", "DOCS", "--library", "lib", "--model", "all-MiniLM-L6-v2"],
        ["evaluate", "DOCS", "--model", "minilm-static-64", "--model", "all-MiniLM-L6-v2"],
    ],
)
def test_without_the_extra_the_teacher_as_a_model_names_what_to_install_in_one_sentence(
    command, monkeypatch, capsys, tmp_path
):
    from core.embed.loading import list_models

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails, as when it is not installed
    (tmp_path / "a.txt").write_text("apple bread", encoding="utf-8")
    assert main([str(tmp_path) if part == "DOCS" else part for part in command]) == EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: all-MiniLM-L6-v2 is a transformer") and "pip install -r requirements-adapt.txt" in err
    assert len(err.splitlines()) == 1 and err.count(". ") == 0  # one sentence
    offered = list_models(load_settings())
    assert all(m.name != "all-MiniLM-L6-v2" and m.kind != "transformer" for m in offered)


def test_a_sentence_transformers_folder_is_a_transformer_and_needs_the_extra(monkeypatch, tmp_path):
    from core.embed.loading import load_embedder, model_dim, resolve_model
    from core.errors import AdaptExtraMissingError

    monkeypatch.setitem(sys.modules, "torch", None)
    folder = tmp_path / "mini-bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 48}), encoding="utf-8")
    assert resolve_model(str(folder)).kind == "transformer" and model_dim(str(folder)) == 48
    with pytest.raises(AdaptExtraMissingError, match=r"is a transformer.*pip install -r requirements-adapt\.txt"):
        load_embedder(str(folder))


def _made_here(tiny_model_dir: Path, adapted_dir: Path, name: str, card: dict) -> Path:
    folder = adapted_dir / name
    shutil.copytree(tiny_model_dir, folder)
    (folder / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    return folder


def test_a_model_made_here_is_named_like_any_model_and_listed_with_its_card(tiny_model_dir, isolated_env, capsys):
    from core.embed.loading import ListingKind, list_models, load_embedder

    adapted_dir = isolated_env / "adapted"  # POTION_ADAPTED_DIR's default sits under the data folder
    card = {"kind": "adapted", "dim": 8, "library": "notes", "chunks": 12, "note": "Made here from a teacher."}
    _made_here(tiny_model_dir, adapted_dir, "mine", card)
    _made_here(tiny_model_dir, adapted_dir, "not-made-here", {"kind": "something else", "dim": 8})

    embedder = load_embedder("mine")
    assert embedder.info.kind == "adapted" and embedder.info.dim == 8
    assert load_embedder("mine@4d").info.dim == 4  # variants work on it as on any model
    listed = {m.name: m for m in list_models(load_settings())}
    assert listed["mine"].kind == ListingKind.ADAPTED and listed["mine"].card["library"] == "notes"
    assert listed["mine"].available_offline and "not-made-here" not in listed

    assert main(["models"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("mine "))
    assert "made here" in line


def test_the_adapted_folder_is_a_setting(tiny_model_dir, tmp_path, monkeypatch):
    from core.embed.loading import load_embedder

    elsewhere = tmp_path / "elsewhere"
    _made_here(tiny_model_dir, elsewhere, "mine", {"kind": "adapted", "dim": 8})
    monkeypatch.setenv("POTION_ADAPTED_DIR", str(elsewhere))
    assert load_embedder("mine").info.source == str(elsewhere / "mine")


@pytest.mark.parametrize("bad", ["", "owner/name", "mine@128d", "../up", ".hidden", "a" * 65, "ends-"])
def test_a_name_that_cannot_be_a_model_name_is_refused(bad):
    with pytest.raises(AdaptError, match="cannot name a model"):
        check_name(bad, load_settings().models_dir)


@pytest.mark.parametrize("taken", ["minilm-static-256", "potion-base-8M"])
def test_a_name_a_bundled_or_catalog_model_has_is_refused(taken):
    with pytest.raises(AdaptError, match="already the name"):
        check_name(taken, load_settings().models_dir)
    assert check_name("minilm-static-256-scifact", load_settings().models_dir) == "minilm-static-256-scifact"


CHUNKS = [
    "Boundary layers thicken downstream. Shock waves heat the wall. Short one. Boundary layers thicken downstream.",
    "Shock waves heat the wall. Jets mix faster at high speed! Does the flow separate at the corner?",
]


def test_sentences_are_distinct_long_enough_and_sampled_by_seed():
    every = pick_sentences(CHUNKS, limit=100, min_words=4, seed=0)
    assert every == [
        "Boundary layers thicken downstream.",
        "Shock waves heat the wall.",
        "Jets mix faster at high speed!",
        "Does the flow separate at the corner?",
    ]  # "Short one." has too few words; repeats across overlapping chunks count once
    assert pick_sentences(CHUNKS, 2, 4, seed=0) == pick_sentences(CHUNKS, 2, 4, seed=0)
    samples = {tuple(pick_sentences(CHUNKS, 2, 4, seed=s)) for s in range(10)}
    assert len(samples) > 1 and all(len(s) == 2 and set(s) <= set(every) for s in samples)
    targets = build_targets(CHUNKS + [CHUNKS[0], "  "], limit=100, min_words=4, seed=0)
    assert targets.documents == CHUNKS and targets.texts == every + CHUNKS


def test_token_vectors_are_centred_then_weighted_by_rank_with_placeholders_left_out():
    vocabulary = {"[PAD]": 0, "[unused0]": 1, "the": 2, "wing": 3, "flow": 4}
    vectors = np.arange(15, dtype=np.float32).reshape(5, 3) + 100.0
    weighted = centre_and_weight(vectors, vocabulary, 1e-4)
    ranked = [0, 2, 3, 4]
    expected = (vectors[ranked] - vectors[ranked].mean(axis=0)) * sif_weights(4, 1e-4)[:, None]
    assert np.allclose(weighted[ranked], expected, atol=1e-5)
    assert np.all(np.diff(sif_weights(1000, 1e-4)) > 0)  # rarer (later) tokens weigh more


def test_reducing_keeps_the_strongest_directions_without_re_centring():
    rng = np.random.default_rng(0)
    vectors = rng.normal(0, 1.0, size=(500, 6)).astype(np.float32)
    vectors[:, 5] = 10.0  # a shared offset: no variance, but most of the vectors' length
    reduced = project(vectors, 2)
    assert reduced.shape == (500, 2)
    # Re-centring (PCA) would throw the offset away; the projection keeps it as the first dimension.
    assert np.allclose(np.abs(reduced[:, 0]).mean(), 10.0, atol=0.5)
    assert np.array_equal(project(vectors, 2), reduced)
    with pytest.raises(AdaptError, match="cannot be kept"):
        project(vectors, 7)
