"""The embedder: a loaded static model behind the interface of pymilvus' Model2VecEmbeddingFunction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from model2vec import StaticModel

ENCODE_BATCH = 1024


@dataclass(frozen=True)
class ModelInfo:
    name: str
    kind: str  # "bundled", "local" or "hub"
    source: str  # directory path or hub id
    dim: int
    vocab_size: int
    params: int
    dtype: str
    file_size_bytes: int
    fingerprint: str

    @property
    def params_label(self) -> str:
        """Parameter count as people write it (7.5M)."""
        return f"{self.params / 1e6:.1f}M" if self.params >= 1e5 else f"{self.params / 1e3:.1f}K"


class Embedder:
    """Encodes texts to float32 vectors of the model's dim; batches large inputs."""

    def __init__(self, model: StaticModel, info: ModelInfo, batch_size: int = ENCODE_BATCH) -> None:
        # encode(max_length=...) flips the shared tokenizer's truncation and back, which races when
        # Streamlit sessions share one model; with no limit set on the model, every call leaves it alone.
        # A chunk is then embedded whole, never silently cut at 512 tokens.
        model.config["max_length"] = None
        model.max_length = None
        self.model = model
        self.info = info
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return self.info.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), dim) float32 matrix; texts with no known token give all-zero rows."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=self.batch_size, use_multiprocessing=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def encode_documents(self, documents: Sequence[str]) -> list[np.ndarray]:
        return list(self.encode(documents))

    def encode_queries(self, queries: Sequence[str]) -> list[np.ndarray]:
        return list(self.encode(queries))

    def __call__(self, texts: Sequence[str]) -> list[np.ndarray]:
        return self.encode_documents(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text gives the tokenizer, unknown ones included: text the model cannot read
        still takes room, so a chunk of it stays as short as any other."""
        encodings = self.model.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]
