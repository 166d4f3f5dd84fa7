"""Model catalog, resolution, loading from every kind of source, and the embedder interface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.config import load_settings
from core.embed import catalog
from core.embed import loading as models
from core.errors import ModelNotFoundError, ModelUnavailableError
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL, TINY_DIM, lay_out_hub_cache


def test_catalog_lists_the_potion_family_with_dims_and_notes():
    by_name = {e.name: e for e in catalog.POTION_FAMILY}
    assert by_name["potion-base-2M"].dim == 64
    assert by_name["potion-base-8M"].dim == 256
    assert by_name["potion-retrieval-32M"].dim == 512
    assert {"potion-science-32M", "potion-multilingual-128M", "potion-base-32M"} <= set(by_name)
    assert all(e.hub_id.startswith("minishlab/") and e.note and e.params for e in catalog.POTION_FAMILY)


def test_bundled_models_have_different_dims_and_cards():
    bundled = {m.name: m for m in catalog.bundled_models(load_settings().models_dir)}
    assert bundled[BUNDLED_SMALL].dim == 64
    assert bundled[BUNDLED_LARGE].dim == 256
    for m in bundled.values():
        assert m.size_bytes < 20 * 1024 * 1024, "bundled models must stay small"
        assert (m.path / "model.safetensors").exists()


@pytest.mark.parametrize("name", [BUNDLED_SMALL, BUNDLED_LARGE])
def test_bundled_model_loads_and_encodes_float32_of_its_dim(name):
    embedder = models.load_embedder(name)
    vectors = embedder.encode(["a sentence about wings", "another about turbulence"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (2, catalog.bundled_model(name, load_settings().models_dir).dim)
    assert embedder.info.kind == "bundled" and embedder.info.vocab_size > 10_000


def test_resolution_order_bundled_local_catalog_hub(tiny_model_dir):
    assert models.resolve_model(BUNDLED_SMALL).kind == "bundled"
    assert models.resolve_model(str(tiny_model_dir)).kind == "local"
    ref = models.resolve_model("potion-base-8M")
    assert (ref.kind, ref.source) == ("hub", "minishlab/potion-base-8M")
    assert models.resolve_model("someone/their-model").source == "someone/their-model"


@pytest.mark.parametrize("bad", ["", "   ", "no-such-model", "/no/such/dir/model"])
def test_unknown_names_are_refused_with_a_message(bad):
    with pytest.raises(ModelNotFoundError) as err:
        models.resolve_model(bad)
    assert str(err.value)


def test_local_directory_loads_with_model_info(tiny_model_dir):
    embedder = models.load_embedder(str(tiny_model_dir))
    info = embedder.info
    assert (info.kind, info.dim) == ("local", TINY_DIM)
    assert info.vocab_size == info.params // TINY_DIM
    assert info.file_size_bytes > 0 and len(info.fingerprint) == 16 and info.dtype == "float32"


def test_loaded_models_are_cached_per_process(tiny_model_dir):
    assert models.load_embedder(str(tiny_model_dir)) is models.load_embedder(str(tiny_model_dir))


def test_hub_model_loads_offline_from_a_cache_laid_out_like_the_hub_client(tiny_model_dir, isolated_env, monkeypatch):
    cache = Path(isolated_env.parent / "hf-cache")
    lay_out_hub_cache(cache, "minishlab/potion-base-2M", tiny_model_dir)
    models.clear_model_cache()
    ref = models.resolve_model("potion-base-2M")
    assert models.is_available_offline(ref, load_settings())
    embedder = models.load_embedder("potion-base-2M")
    assert embedder.info.kind == "hub" and embedder.info.source == "minishlab/potion-base-2M"
    assert embedder.encode(["alan turing"]).shape == (1, TINY_DIM)
    listed = {m.name: m for m in models.list_models(load_settings())}
    assert listed["potion-base-2M"].available_offline
    assert not listed["potion-base-8M"].available_offline


def test_other_cached_hub_models_are_listed(tiny_model_dir, isolated_env):
    lay_out_hub_cache(isolated_env.parent / "hf-cache", "someone/static-model", tiny_model_dir)
    listed = {m.name: m for m in models.list_models(load_settings())}
    assert listed["someone/static-model"].kind == "cached"
    assert listed["someone/static-model"].dim == TINY_DIM


def test_uncached_hub_model_offline_says_so_in_one_sentence():
    models.clear_model_cache()
    with pytest.raises(ModelUnavailableError) as err:
        models.load_embedder("potion-base-32M", download=True)
    message = str(err.value)
    assert "minishlab/potion-base-32M" in message and "bundled" in message
    assert message.count(". ") == 0 and "\n" not in message


def test_unreachable_hub_is_reported_not_raised_raw(monkeypatch):
    # Network allowed by the settings, but the hub is unreachable on this machine (and in CI).
    import huggingface_hub

    def unreachable(*args, **kwargs):
        if kwargs.get("local_files_only"):
            raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")
        raise ConnectionError("Name or service not known")

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", unreachable)
    with pytest.raises(ModelUnavailableError, match="could not be fetched"):
        models.load_embedder("minishlab/potion-science-32M", download=True)


def test_embedder_offers_the_model2vec_embedding_function_interface(tiny_embedder):
    docs = tiny_embedder.encode_documents(["alan turing", "apple bread"])
    queries = tiny_embedder.encode_queries(["who was turing"])
    assert tiny_embedder.dim == TINY_DIM
    assert isinstance(docs, list) and len(docs) == 2 and docs[0].shape == (TINY_DIM,)
    assert queries[0].dtype == np.float32
    np.testing.assert_allclose(tiny_embedder(["alan turing"])[0], docs[0])


def test_embedder_batches_large_inputs_to_the_same_vectors(tiny_embedder):
    texts = [f"{w} turing apple" for w in ["alan", "born", "soup"] * 700]
    batched = tiny_embedder.encode(texts)
    tiny_embedder.batch_size, saved = 10_000, tiny_embedder.batch_size
    try:
        whole = tiny_embedder.encode(texts)
    finally:
        tiny_embedder.batch_size = saved
    assert batched.shape == (2100, TINY_DIM)
    np.testing.assert_allclose(batched, whole, rtol=1e-6)


def test_text_of_unknown_tokens_embeds_to_zero_and_empty_input_to_no_rows(tiny_embedder):
    vectors = tiny_embedder.encode(["zzzz qqqq", "alan"])
    assert not vectors[0].any() and vectors[1].any()
    assert tiny_embedder.encode([]).shape == (0, TINY_DIM)


def test_long_text_is_embedded_whole_not_cut_at_512_tokens(tiny_embedder):
    head = "apple " * 600
    assert not np.allclose(tiny_embedder.encode([head + "turing " * 600])[0], tiny_embedder.encode([head])[0])


def test_where_a_model_loads_from_and_why_it_is_listed_are_two_vocabularies():
    from core.embed.embedder import ModelSource
    from core.embed.loading import ListingKind, list_models, resolve_model

    assert resolve_model(BUNDLED_SMALL).kind is ModelSource.BUNDLED
    assert resolve_model("minishlab/potion-base-8M").kind is ModelSource.HUB
    assert {type(m.kind) for m in list_models(load_settings())} == {ListingKind}
    assert {m.kind for m in list_models(load_settings())} >= {ListingKind.BUNDLED, ListingKind.CATALOG}
