"""Resolve a model name to a source and load it, once per process."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np

from core.catalog import bundled_model, catalog_entry
from core.config import load_settings
from core.embedder import Embedder, ModelInfo, ModelSource
from core.errors import ModelNotFoundError, ModelUnavailableError

_MODEL_FILES = ["*.safetensors", "*.json", "README.md", "0_StaticEmbedding/*", "modules.json"]
_cache: dict[str, Embedder] = {}
# One lock per model source, so a slow hub download never holds up loading any other model.
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class ModelRef:
    name: str  # what the user typed, as shown back to them
    kind: ModelSource
    source: str  # a directory for bundled/local, a hub id for hub


def resolve_model(name: str) -> ModelRef:
    """Bundled name, then local directory, then catalog name, then any hub id (owner/name)."""
    key = name.strip()
    if not key:
        raise ModelNotFoundError("No model was named: pick a bundled model, a local directory or a hub id.")
    bundled = bundled_model(key)
    if bundled is not None:
        return ModelRef(bundled.name, ModelSource.BUNDLED, str(bundled.path))
    path = Path(key).expanduser()
    if path.is_dir():
        return ModelRef(key, ModelSource.LOCAL, str(path.resolve()))
    entry = catalog_entry(key)
    if entry is not None:
        return ModelRef(entry.name, ModelSource.HUB, entry.hub_id)
    if key.count("/") == 1 and not key.startswith(("/", ".", "~")):
        return ModelRef(key, ModelSource.HUB, key)
    raise ModelNotFoundError(
        f"'{key}' is not a bundled model, a local model directory, a potion catalog name or a hub id (owner/name)."
    )


def cached_hub_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot folder of a hub model, or None; never touches the network."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = snapshot_download(
            repo_id, allow_patterns=_MODEL_FILES, local_files_only=True, cache_dir=load_settings().hub_cache
        )
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError):
        return None
    return Path(folder)


def _download_hub_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import RepositoryNotFoundError

    offline_hint = "use a bundled model (works offline), a local model directory, or a model already in the HF cache"
    if load_settings().hub_offline:
        raise ModelUnavailableError(f"{repo_id} is not in the local cache and HF_HUB_OFFLINE is set: {offline_hint}.")
    try:
        folder = snapshot_download(
            repo_id, allow_patterns=_MODEL_FILES, cache_dir=load_settings().hub_cache, etag_timeout=5
        )
    except RepositoryNotFoundError as exc:
        raise ModelNotFoundError(f"{repo_id} does not exist on the Hugging Face hub (or is private).") from exc
    except Exception as exc:  # the hub client raises many network error types; all mean "cannot fetch now"
        raise ModelUnavailableError(
            f"{repo_id} could not be fetched from the Hugging Face hub (no network?): {offline_hint}."
        ) from exc
    return Path(folder)


def is_available_offline(ref: ModelRef) -> bool:
    return ref.kind != ModelSource.HUB or cached_hub_snapshot(ref.source) is not None


def _not_downloaded(ref: ModelRef) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"{ref.source} is not downloaded yet: load it from the sidebar (needs the Hugging Face hub) "
        "or pick a bundled model."
    )


def model_directory(ref: ModelRef, download: bool = False) -> Path:
    """The local directory holding the model's files; a hub model not cached is fetched only if `download`."""
    if ref.kind != ModelSource.HUB:
        return Path(ref.source)
    cached = cached_hub_snapshot(ref.source)
    if cached is not None:
        return cached
    if not download:
        raise _not_downloaded(ref)
    return _download_hub_snapshot(ref.source)


def _fingerprint(vectors: np.ndarray, vocab_size: int) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(vectors).tobytes())
    digest.update(f"{vectors.shape}:{vectors.dtype}:{vocab_size}".encode())
    return digest.hexdigest()[:16]


def _directory_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _load(ref: ModelRef, download: bool) -> Embedder:
    from model2vec import StaticModel

    folder = model_directory(ref, download)
    try:
        model = StaticModel.from_pretrained(folder, force_download=False)
    except (ValueError, OSError) as exc:
        raise ModelNotFoundError(f"{ref.source} does not hold a Model2Vec model ({exc}).") from exc
    vectors = np.asarray(model.embedding)
    vocab_size = len(model.tokens)
    info = ModelInfo(
        name=ref.name,
        kind=ref.kind,
        source=ref.source,
        dim=int(model.dim),
        vocab_size=vocab_size,
        params=int(vectors.shape[0] * vectors.shape[1]),
        dtype=str(vectors.dtype),
        file_size_bytes=_directory_size(folder),
        fingerprint=_fingerprint(vectors, vocab_size),
    )
    return Embedder(model, info)


def load_embedder(name: str, download: bool = False) -> Embedder:
    """Load a model by any name the app accepts; each source is loaded once per process.

    A hub model that is not cached raises ModelUnavailableError unless `download` is set: only an
    explicit request from the user (the sidebar's Load button, a CLI run naming the model) fetches one."""
    ref = resolve_model(name)
    cache_key = f"{ref.kind}:{ref.source}"
    loaded = _cache.get(cache_key)
    if loaded is not None:
        return loaded
    if not download and not is_available_offline(ref):
        raise _not_downloaded(ref)  # at once, rather than waiting behind someone else's download of it
    with _lock_for(cache_key):
        if cache_key not in _cache:
            _cache[cache_key] = _load(ref, download)
        return _cache[cache_key]


def _lock_for(cache_key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(cache_key, threading.Lock())


def clear_model_cache() -> None:
    with _locks_guard:
        _cache.clear()


class ListingKind(StrEnum):
    """Why a model is in the picker: bundled, in the potion catalog, or found in the hub cache."""

    BUNDLED = "bundled"
    CATALOG = "catalog"
    CACHED = "cached"


@dataclass(frozen=True)
class ModelListing:
    name: str
    source: str
    kind: ListingKind
    dim: int | None
    bundled: bool
    available_offline: bool
    params: str = ""
    note: str = ""

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _cached_hub_models() -> list[tuple[str, Path]]:
    """Model repos in the HF cache that hold a Model2Vec model, as (repo id, snapshot folder)."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(load_settings().hub_cache)
    except CacheNotFound:
        return []
    found = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        snapshot = cached_hub_snapshot(repo.repo_id)
        if snapshot is not None and (snapshot / "config.json").exists() and any(snapshot.glob("*.safetensors")):
            found.append((repo.repo_id, snapshot))
    return found


def _dim_on_disk(folder: Path) -> int | None:
    """The embedding width read from the safetensors header, without loading the matrix."""
    from safetensors import safe_open

    try:
        with safe_open(str(folder / "model.safetensors"), framework="numpy") as tensors:
            name = "embeddings" if "embeddings" in tensors.keys() else next(iter(tensors.keys()))  # noqa: SIM118
            return int(tensors.get_slice(name).get_shape()[1])
    except (OSError, StopIteration, IndexError, ValueError):
        return None


def list_models() -> list[ModelListing]:
    """Bundled models first, then the potion catalog, then any other Model2Vec model in the HF cache."""
    from core.catalog import POTION_FAMILY, bundled_models

    listings = [
        ModelListing(m.name, str(m.path), ListingKind.BUNDLED, m.dim, True, True, note=m.note) for m in bundled_models()
    ]
    cached = dict(_cached_hub_models())
    for entry in POTION_FAMILY:
        offline = entry.hub_id in cached
        listings.append(
            ModelListing(
                entry.name, entry.hub_id, ListingKind.CATALOG, entry.dim, False, offline, entry.params, entry.note
            )
        )
    catalog_ids = {e.hub_id for e in POTION_FAMILY}
    for repo_id, folder in sorted(cached.items()):
        if repo_id not in catalog_ids:
            listings.append(ModelListing(repo_id, repo_id, ListingKind.CACHED, _dim_on_disk(folder), False, True))
    return listings
