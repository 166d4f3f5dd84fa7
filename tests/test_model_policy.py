"""What a shared deployment may restrict about models: local folders (POTION_MODEL_ROOTS), arbitrary hub ids
(POTION_ALLOW_HUB_IDS); and that loading a model never runs code from its folder."""

from __future__ import annotations

import pickle
import shutil

import pytest

from core.config import load_settings
from core.embed.loading import list_models, load_embedder, resolve_model
from core.errors import ModelNotAllowedError
from tests.conftest import BUNDLED_SMALL, lay_out_hub_cache


@pytest.fixture
def two_folders(tmp_path, tiny_model_dir):
    allowed, elsewhere = tmp_path / "allowed", tmp_path / "elsewhere"
    shutil.copytree(tiny_model_dir, allowed / "tiny")
    shutil.copytree(tiny_model_dir, elsewhere / "tiny")
    return allowed, elsewhere


def test_only_folders_under_the_allowed_roots_load(two_folders, monkeypatch):
    allowed, elsewhere = two_folders
    monkeypatch.setenv("POTION_MODEL_ROOTS", f"{allowed}:{allowed.parent / 'also-allowed'}")
    assert load_embedder(str(allowed / "tiny")).info.kind == "local"
    (allowed / "escape").symlink_to(elsewhere / "tiny", target_is_directory=True)
    for outside in (elsewhere / "tiny", allowed / ".." / "elsewhere" / "tiny", allowed / "escape"):
        with pytest.raises(ModelNotAllowedError, match="outside the model folders this deployment allows") as err:
            load_embedder(str(outside))
        assert "POTION_MODEL_ROOTS" in str(err.value) and str(allowed) in str(err.value)
    with pytest.raises(ModelNotAllowedError):
        resolve_model(f"{elsewhere / 'tiny'}@int8")  # a variant of it too
    assert resolve_model(BUNDLED_SMALL).kind == "bundled"  # the bundled models always load

    monkeypatch.delenv("POTION_MODEL_ROOTS")
    assert resolve_model(str(elsewhere / "tiny")).kind == "local"  # unset: any folder, as on one's own machine


def test_arbitrary_hub_ids_can_be_turned_off_leaving_the_catalog(isolated_env, tiny_model_dir, monkeypatch):
    lay_out_hub_cache(isolated_env.parent / "hf-cache", "someone/static-model", tiny_model_dir)
    assert "someone/static-model" in [m.name for m in list_models(load_settings())]
    monkeypatch.setenv("POTION_ALLOW_HUB_IDS", "0")
    with pytest.raises(ModelNotAllowedError, match="POTION_ALLOW_HUB_IDS=0"):
        resolve_model("someone/static-model")
    assert resolve_model("potion-base-8M").source == "minishlab/potion-base-8M"  # the catalog stays
    assert "someone/static-model" not in [m.name for m in list_models(load_settings())]  # nor offered from the cache


def test_the_picker_asks_for_no_hub_id_where_they_are_off(store, monkeypatch):
    from tests.apptest_helpers import MODEL_PICKER, new_app, no_exception

    monkeypatch.setenv("POTION_ALLOW_HUB_IDS", "0")
    at = new_app().run()
    no_exception(at)
    options = at.sidebar.selectbox(key=MODEL_PICKER).options
    assert "Other hub id…" not in options and "Local directory…" in options


class Trap:
    """Unpickling it leaves a file behind: proof that a pickle in the folder was loaded."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_loading_a_model_runs_no_code_from_its_folder(tmp_path, tiny_model_dir):
    folder = tmp_path / "booby-trapped"
    shutil.copytree(tiny_model_dir, folder)
    marker = tmp_path / "code-ran"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Trap(str(marker))))
    (folder / "__init__.py").write_text(f"open({str(marker)!r}, 'w')\n")
    (folder / "modeling.py").write_text(f"open({str(marker)!r}, 'w')\n")
    embedder = load_embedder(str(folder))
    assert embedder.encode(["alan turing"]).shape[1] == embedder.info.dim
    assert not marker.exists()  # weights come from safetensors, the tokenizer from JSON: nothing is executed
