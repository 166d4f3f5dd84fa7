"""Shared fixtures: every test gets its own data dir, database and empty HF cache; no network."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

# Session-wide servers, defined once here so every module shares one of each.
from tests.servers import served_uri, standalone_uri  # noqa: F401

# Topics give the tiny model a meaning: words of one topic share a direction.
TOPICS = {
    "ai": ["artificial", "intelligence", "founded", "discipline", "academic", "research", "machine", "learning"],
    "turing": ["alan", "turing", "born", "maida", "vale", "london", "england", "raised"],
    "food": ["apple", "bread", "cheese", "soup", "kitchen", "recipe", "bake", "flour"],
}
FILLER = ["the", "a", "was", "in", "as", "an", "of", "and", "to", "is", "where", "when", "who"]
TINY_DIM = 8

# Every engine a test starts ends with it: the app keeps no engine warm in the background unless a test of the kept
# engine asks (tests/test_kept_engine.py). Set for the whole process, so servers started for a session inherit it.
os.environ["POTION_KEEP_ENGINE_MINUTES"] = "0"


def _tiny_static_model():
    from model2vec import StaticModel
    from tokenizers import Tokenizer
    from tokenizers.models import WordPiece
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    words = [w for group in TOPICS.values() for w in group] + FILLER
    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    tokenizer = Tokenizer(WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = BertPreTokenizer()
    rng = np.random.default_rng(0)
    vectors = rng.normal(0, 0.1, size=(len(vocab), TINY_DIM)).astype(np.float32)
    for axis, group in enumerate(TOPICS.values()):
        for w in group:
            vectors[vocab[w], axis] += 1.0
    return StaticModel(vectors=vectors, tokenizer=tokenizer, config={"normalize": False})


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every path at a tmp dir; block the hub so no test can reach the network."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("POTION_DATA_DIR", str(data))
    monkeypatch.setenv("POTION_DB_PATH", str(data / "test.db"))
    monkeypatch.delenv("MILVUS_URI", raising=False)
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    for name in ("POTION_EDITORS", "POTION_REQUIRE_SIGN_IN"):  # a deployment's sign-in settings are not a test's
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POTION_KEEP_ENGINE_MINUTES", "0")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return data


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Model2Vec model on disk (8 dims, ~40 words), loadable as a local model directory."""
    folder = tmp_path_factory.mktemp("tiny-model")
    _tiny_static_model().save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_embedder(tiny_model_dir: Path):
    from core.embed.loading import load_embedder

    return load_embedder(str(tiny_model_dir))


@pytest.fixture
def store():
    from core.storage.milvus import MilvusStore

    s = MilvusStore()
    yield s
    s.close()


# The stores any_store runs a test on: Milvus Lite in the tmp dir and the exact in-memory reference; a module
# holding a contract every engine must keep sets STORES = ALL_STORES to add the servers reached through MILVUS_URI
# (by the fixture giving each uri), which run only under -m server as they need one running.
LOCAL_STORES = ["milvus", "memory"]
SERVERS = {"served": "served_uri", "standalone": "standalone_uri"}
ALL_STORES = [*LOCAL_STORES, *(pytest.param(name, marks=pytest.mark.server) for name in SERVERS)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "any_store" in metafunc.fixturenames:
        metafunc.parametrize("any_store", getattr(metafunc.module, "STORES", LOCAL_STORES), indirect=True)


@pytest.fixture
def any_store(request: pytest.FixtureRequest, isolated_env: Path, monkeypatch: pytest.MonkeyPatch):
    """Each store engine in turn (LOCAL_STORES, or the module's STORES), empty, closed after."""
    from core.storage.memory import MemoryStore
    from core.storage.milvus import MilvusStore

    if request.param in SERVERS:
        monkeypatch.setenv("MILVUS_URI", request.getfixturevalue(SERVERS[request.param]))
    s = MemoryStore() if request.param == "memory" else MilvusStore()
    _drop_every_library(s)  # a server outlives one test: each starts from an empty database
    yield s
    _drop_every_library(s)
    s.close()


def _drop_every_library(store) -> None:
    for library in store.catalog.names():
        store.catalog.drop(library)


@pytest.fixture
def app_store(isolated_env: Path):
    """The store the pages use (st.cache_resource) on this test's tmp database, caches cleared around it.

    AppTest runs the script in this process, so the pages get this very instance: tests pre-populate it through
    core. Job threads are joined before it closes. Streamlit is imported here, not at the top, so that tests of
    core alone never load it."""
    import streamlit as st

    from core.config import load_settings
    from pages import shared
    from tests.apptest_helpers import join_all_jobs

    st.cache_resource.clear()  # a store, job runner or listing left by another test points at its tmp dir
    st.cache_data.clear()
    s = shared.store(load_settings())
    assert s.uri == str(isolated_env / "test.db")  # the pages must not reach a database outside the test's
    try:
        yield s
    finally:
        join_all_jobs()
        s.close()
        st.cache_resource.clear()
        st.cache_data.clear()


def index_texts(store, folder: Path, library: str, model: str, docs: Mapping[str, str]):
    """Index {file name: text} into `library` with `model` through core, as the CLI would; every one must index."""
    from core.embed.loading import load_embedder
    from core.ingest.pipeline import ingest

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in docs.items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    result = ingest(paths, library, load_embedder(model), store)
    assert result.count("indexed") == len(docs) and not result.failures, result.summary()
    return result


def lay_out_hub_cache(cache_dir: Path, repo_id: str, model_dir: Path, commit: str = "a" * 40) -> Path:
    """Copy a model into `cache_dir` exactly as huggingface_hub lays out a download: blobs, snapshots, refs."""
    repo = cache_dir / f"models--{repo_id.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    for file in sorted(model_dir.iterdir()):
        if not file.is_file():
            continue
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
        blob = repo / "blobs" / digest
        shutil.copyfile(file, blob)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / file.name)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


# The real labelled collections every developer and CI have beside the project (../shared/datasets);
# POTION_SHARED_DATASETS points elsewhere, for a clone that does not sit beside shared/.
SHARED_DATASETS = Path(
    os.environ.get("POTION_SHARED_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets")
)


def shared_dataset(name: str) -> Path:
    """The folder of one shared collection; a test that needs it fails, saying where it looked, rather than skip
    silently: a quality check that never runs is worse than a red one."""
    folder = SHARED_DATASETS / name
    if not (folder / "corpus.jsonl").is_file():
        pytest.fail(
            f"The shared collection {name} is not at {folder}: run the tests from a clone beside ../shared, "
            "or set POTION_SHARED_DATASETS to the folder holding cranfield/ and scifact/."
        )
    return folder


BUNDLED_SMALL = "minilm-static-64"
BUNDLED_LARGE = "minilm-static-256"
BUNDLED_DEFAULT = "minilm-wordnet-256"  # POTION_DEFAULT_MODEL's default
BUNDLED_COUNT = 3

SEED_DOCS = [
    "Artificial intelligence was founded as an academic discipline in 1956.",
    "Alan Turing was the first person to conduct substantial research in AI.",
    "Born in Maida Vale, London, Turing was raised in southern England.",
]
SEED_QUERIES = ["When was artificial intelligence founded", "Where was Alan Turing born?"]
