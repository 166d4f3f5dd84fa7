"""pymilvus-model's Model2VecEmbeddingFunction as a drop-in: same constructor, methods and `dim`, over this app's
model loading (bundled names, local directories, the HF cache) and its whole-text, float32 pooling."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from core.embed.embedder import Embedder, ModelInfo
from core.embed.loading import load_embedder, model_directory, resolve_model
from core.errors import ModelNotFoundError

DEFAULT_MODEL_SOURCE = "minishlab/potion-base-8M"
# The keyword arguments the seed passes on to StaticModel.from_pretrained. Fetching ones are served by the
# app's loading (the HF cache first, the hub only when not cached; the hub client reads HF_TOKEN).
_FETCH_OPTIONS = frozenset({"token", "force_download"})
# These change the vectors, so they get a private copy of the model: the shared one stays as the app uses it.
_SHAPE_OPTIONS = ("normalize", "quantize_to", "dimensionality", "vocabulary_quantization")
_OPTIONS = _FETCH_OPTIONS | set(_SHAPE_OPTIONS) | {"subfolder", "max_length"}


class Model2VecEmbeddingFunction:
    """Encodes texts with a Model2Vec model, as `pymilvus.model.dense.Model2VecEmbeddingFunction` does.

    `model_source` is a hub id (loaded from the HF cache, fetched once if the hub can be reached), a local model
    directory, or a bundled model name. Unlike the seed, vectors are always float32 and texts are embedded whole,
    never cut at 512 tokens unless `max_length` is passed.
    """

    def __init__(self, model_source: str | Path = DEFAULT_MODEL_SOURCE, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - _OPTIONS)
        if unknown:
            raise TypeError(f"Model2VecEmbeddingFunction() got an unexpected keyword argument '{unknown[0]}'")
        self.model_source = model_source
        self.max_length: int | None = kwargs.get("max_length")
        self._embedder = _load(model_source, kwargs)
        self.model = self._embedder.model

    @property
    def dim(self) -> int:
        return self._embedder.dim

    @property
    def info(self) -> ModelInfo:
        """What was loaded: name, kind (bundled, local or hub), source, dims, vocabulary, dtype on disk."""
        return self._embedder.info

    def encode_queries(self, queries: Sequence[str]) -> list[np.ndarray]:
        return self._encode(queries)

    def encode_documents(self, documents: Sequence[str]) -> list[np.ndarray]:
        return self._encode(documents)

    def __call__(self, texts: Sequence[str]) -> list[np.ndarray]:
        return self._encode(texts)

    def _encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        if isinstance(texts, str):
            # a string is a sequence of characters: it would embed each character as a text
            raise TypeError("Model2VecEmbeddingFunction encodes a list of texts, not one string: wrap it in a list.")
        if self.max_length is None:
            return list(self._embedder.encode(texts))
        ids = [ids[: self.max_length] for ids in self._embedder.token_ids(texts)]
        return list(self._embedder.encode_ids(ids))


def _load(model_source: str | Path, options: dict[str, Any]) -> Embedder:
    if isinstance(model_source, Path) and not model_source.is_dir():
        raise ModelNotFoundError(
            f"{model_source} is not a directory: pass the folder holding the model's model.safetensors, "
            "tokenizer.json and config.json, or a hub id or bundled model name as a string."
        )
    name = str(model_source)
    if options.get("subfolder"):
        name = str(model_directory(resolve_model(name), download=True) / options["subfolder"])
    # naming a model here is an explicit request, as on the command line: a hub model not cached is fetched once
    embedder = load_embedder(name, download=True)
    if not embedder.static:  # the adapt teacher or a sentence-transformers folder: not what this class stands in for
        raise ModelNotFoundError(
            f"{name} is a transformer, not a Model2Vec model: load it with core.embed.loading.load_embedder instead."
        )
    shaping = {key: options[key] for key in _SHAPE_OPTIONS if options.get(key) is not None}
    return _reshaped(embedder, shaping) if shaping else embedder


def _reshaped(embedder: Embedder, shaping: dict[str, Any]) -> Embedder:
    """A copy of the loaded model with from_pretrained's shaping options applied, as model2vec applies them."""
    from model2vec.model import quantize_model

    model = quantize_model(
        embedder.model,
        vocabulary_quantization=shaping.get("vocabulary_quantization"),
        quantize_to=shaping.get("quantize_to"),
        dimensionality=shaping.get("dimensionality"),
    )
    if "normalize" in shaping:
        # set the config first, or model2vec logs a warning that the value differs from the config's
        model.config["normalize"] = shaping["normalize"]
        model.normalize = shaping["normalize"]
    vectors = np.asarray(model.embedding)
    options = ",".join(f"{key}={shaping[key]}" for key in sorted(shaping))
    info = replace(
        embedder.info,
        dim=int(model.dim),
        params=int(vectors.shape[0] * vectors.shape[1]),
        dtype=str(vectors.dtype),
        fingerprint=hashlib.sha256(f"{embedder.info.fingerprint}:{options}".encode()).hexdigest()[:16],
    )
    return Embedder(model, info)
