"""core.Model2VecEmbeddingFunction: the seed's class (pymilvus.model.dense) as a drop-in, offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from model2vec import StaticModel

from core import Model2VecEmbeddingFunction
from core.config import PROJECT_ROOT, load_settings
from core.embed.catalog import bundled_model
from core.embed.loading import clear_model_cache, load_embedder
from core.errors import ModelNotFoundError, ModelUnavailableError
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL, SEED_DOCS, SEED_QUERIES, TINY_DIM, lay_out_hub_cache

# The seed's example, word for word from the Milvus docs page "Model2Vec" (embed-with-model2vec.md).
SEED_EXAMPLE = """\
from pymilvus import model

model2vec_ef = model.dense.Model2VecEmbeddingFunction(
    model_source='minishlab/potion-base-8M', # or local directory
)

docs = [
    "Artificial intelligence was founded as an academic discipline in 1956.",
    "Alan Turing was the first person to conduct substantial research in AI.",
    "Born in Maida Vale, London, Turing was raised in southern England.",
]

docs_embeddings = model2vec_ef.encode_documents(docs)

# Print embeddings
print("Embeddings:", docs_embeddings)
# Print dimension and shape of embeddings
print("Dim:", model2vec_ef.dim, docs_embeddings[0].shape)

queries = ["When was artificial intelligence founded",
           "Where was Alan Turing born?"]

query_embeddings = model2vec_ef.encode_queries(queries)

# Print embeddings
print("Embeddings:", query_embeddings)
# Print dimension and shape of embeddings
print("Dim", model2vec_ef.dim, query_embeddings[0].shape)
"""
SEED_IMPORT = "from pymilvus import model"
# `model.dense` is this package, so the example's `model.dense.Model2VecEmbeddingFunction` is ours.
OUR_IMPORT = "import core; from types import SimpleNamespace; model = SimpleNamespace(dense=core)"


@pytest.fixture(autouse=True)
def fresh_model_cache():
    # each test has its own HF cache: a hub model loaded by one test must not be found by the next
    clear_model_cache()
    yield
    clear_model_cache()


def _bundled_dir(name: str) -> Path:
    return bundled_model(name, load_settings().models_dir).path


def _reference(folder: Path, texts: list[str], **options) -> np.ndarray:
    """model2vec's own encode, with truncation off: what the seed computes, minus the 512-token cut."""
    model = StaticModel.from_pretrained(folder, force_download=False, **options)
    return model.encode(texts, max_length=None).astype(np.float32)


def test_seed_example_runs_with_only_its_import_line_changed(isolated_env, capsys):
    lay_out_hub_cache(isolated_env.parent / "hf-cache", "minishlab/potion-base-8M", _bundled_dir(BUNDLED_LARGE))
    ours = SEED_EXAMPLE.replace(SEED_IMPORT, OUR_IMPORT)
    changed = [(a, b) for a, b in zip(SEED_EXAMPLE.splitlines(), ours.splitlines(), strict=True) if a != b]
    assert changed == [(SEED_IMPORT, OUR_IMPORT)]

    scope: dict = {}
    exec(compile(ours, "seed_example.py", "exec"), scope)

    ef, docs, queries = scope["model2vec_ef"], scope["docs_embeddings"], scope["query_embeddings"]
    assert ef.dim == 256 and ef.info.kind == "hub" and ef.info.source == "minishlab/potion-base-8M"
    assert isinstance(docs, list) and len(docs) == 3 and isinstance(queries, list) and len(queries) == 2
    assert all(isinstance(v, np.ndarray) and v.shape == (256,) and v.dtype == np.float32 for v in docs + queries)
    out = capsys.readouterr().out
    assert "Dim: 256 (256,)" in out and "Dim 256 (256,)" in out and "dtype=float32" in out
    # the vectors are those of the model laid out in the cache, embedded whole
    np.testing.assert_allclose(np.stack(docs), _reference(_bundled_dir(BUNDLED_LARGE), SEED_DOCS), atol=2e-3)


def test_a_local_model_directory_loads_as_str_or_path(tiny_model_dir):
    for source in (str(tiny_model_dir), Path(tiny_model_dir)):
        ef = Model2VecEmbeddingFunction(model_source=source)
        assert ef.dim == TINY_DIM and ef.info.kind == "local" and ef.model_source == source
        vectors = ef.encode_documents(SEED_DOCS)
        np.testing.assert_allclose(np.stack(vectors), _reference(tiny_model_dir, SEED_DOCS), rtol=1e-5, atol=1e-6)


def test_a_bundled_name_loads_and_gives_the_vectors_the_app_indexes_with():
    ef = Model2VecEmbeddingFunction(BUNDLED_SMALL)
    assert ef.dim == 64 and ef.info.kind == "bundled"
    np.testing.assert_array_equal(
        np.stack(ef.encode_queries(SEED_QUERIES)), load_embedder(BUNDLED_SMALL).encode(SEED_QUERIES)
    )


def test_vectors_are_float32_where_the_model_is_float16():
    ef = Model2VecEmbeddingFunction(BUNDLED_SMALL)
    assert ef.model.embedding.dtype == np.float16  # model2vec alone would hand back float16 here
    assert {v.dtype for v in ef.encode_documents(SEED_DOCS) + ef.encode_queries(SEED_QUERIES)} == {np.dtype("float32")}


def test_a_text_over_600_tokens_is_embedded_whole_not_cut_at_512():
    ef = Model2VecEmbeddingFunction(BUNDLED_LARGE)
    head = "apple " * 512
    text = head + "london " * 100
    ids = ef.model.tokenizer.encode(text, add_special_tokens=False).ids
    assert len(ids) > 600 and ids[:512] == ef.model.tokenizer.encode(head, add_special_tokens=False).ids

    whole, first_512 = ef.encode_documents([text, head])
    assert not np.allclose(whole, first_512, atol=1e-3)
    np.testing.assert_allclose(whole, _reference(_bundled_dir(BUNDLED_LARGE), [text])[0], atol=2e-3)
    # the cut the seed makes silently happens here only when asked for
    cut = Model2VecEmbeddingFunction(BUNDLED_LARGE, max_length=512)
    np.testing.assert_allclose(cut.encode_documents([text])[0], first_512, rtol=1e-5, atol=1e-6)


def test_call_is_encode_documents_and_queries_embed_the_same_way(tiny_model_dir):
    ef = Model2VecEmbeddingFunction(str(tiny_model_dir))
    called, documents, queries = ef(SEED_DOCS), ef.encode_documents(SEED_DOCS), ef.encode_queries(SEED_DOCS)
    assert isinstance(called, list) and len(called) == len(SEED_DOCS)
    np.testing.assert_array_equal(np.stack(called), np.stack(documents))
    np.testing.assert_array_equal(np.stack(queries), np.stack(documents))
    assert ef([]) == []


def test_a_hub_model_that_is_not_cached_is_refused_in_one_sentence():
    with pytest.raises(ModelUnavailableError) as err:
        Model2VecEmbeddingFunction()  # the seed's default, minishlab/potion-base-8M, with an empty HF cache
    message = str(err.value)
    assert "minishlab/potion-base-8M" in message and "bundled" in message and "local" in message
    assert message.count(". ") == 0 and "\n" not in message


def test_a_path_that_is_not_a_directory_is_refused_with_what_to_pass(tmp_path):
    with pytest.raises(ModelNotFoundError, match="is not a directory"):
        Model2VecEmbeddingFunction(model_source=tmp_path / "missing" / "model")


@pytest.mark.parametrize(
    "options",
    [{"dimensionality": 4}, {"normalize": True}, {"quantize_to": "float16"}, {"normalize": True, "dimensionality": 5}],
)
def test_the_seeds_model_options_shape_the_vectors_as_model2vec_does(tiny_model_dir, options):
    ef = Model2VecEmbeddingFunction(str(tiny_model_dir), **options)
    vectors = np.stack(ef.encode_documents(SEED_DOCS))
    assert vectors.dtype == np.float32 and ef.dim == options.get("dimensionality", TINY_DIM)
    np.testing.assert_allclose(vectors, _reference(tiny_model_dir, SEED_DOCS, **options), rtol=1e-3, atol=1e-3)
    # the model the app shares is left as it was
    shared = load_embedder(str(tiny_model_dir))
    assert shared.dim == TINY_DIM and not shared.model.normalize and shared.model.embedding.dtype == np.float32


def test_fetch_options_are_accepted_and_unknown_ones_refused(tiny_model_dir):
    ef = Model2VecEmbeddingFunction(str(tiny_model_dir), token="hf_unused", force_download=True)
    assert ef.dim == TINY_DIM
    with pytest.raises(TypeError, match="unexpected keyword argument 'devise'"):
        Model2VecEmbeddingFunction(str(tiny_model_dir), devise="cpu")


def test_one_string_instead_of_a_list_is_refused(tiny_model_dir):
    with pytest.raises(TypeError, match="wrap it in a list"):
        Model2VecEmbeddingFunction(str(tiny_model_dir)).encode_queries("alan turing")


def test_importing_core_stays_cheap_and_the_class_loads_on_first_use():
    script = (
        "import sys, core\n"
        "assert 'core.embed.drop_in' not in sys.modules and 'model2vec' not in sys.modules\n"
        "print(core.Model2VecEmbeddingFunction.__module__)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "core.embed.drop_in"
