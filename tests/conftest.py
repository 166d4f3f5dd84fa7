"""Shared fixtures: every test gets its own data dir, database and empty HF cache; no network."""

from __future__ import annotations

import hashlib
import os
import shutil
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

SEED_DOCS = [
    "Artificial intelligence was founded as an academic discipline in 1956.",
    "Alan Turing was the first person to conduct substantial research in AI.",
    "Born in Maida Vale, London, Turing was raised in southern England.",
]
SEED_QUERIES = ["When was artificial intelligence founded", "Where was Alan Turing born?"]
