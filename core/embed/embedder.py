"""The embedder: a loaded static model behind the interface of pymilvus' Model2VecEmbeddingFunction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

import numpy as np
from model2vec import StaticModel
from tokenizers import Tokenizer

from core.sizes import format_count
from core.vectors import unit_rows

ENCODE_BATCH = 1024
POOL_BATCH = 256  # texts per gather: 256 x ~130 tokens x dim float32 stays a few tens of MB
# Pre-tokenizers that split at white space the same way wherever a text starts, and normalizers that work
# character by character: with both, the ids of a chunk are its sentences' ids joined.
_SPLITTING = {"BertPreTokenizer", "Whitespace", "WhitespaceSplit", "Punctuation", "Digits"}
_CHARWISE = {"BertNormalizer", "Lowercase", "NFC", "NFD", "NFKC", "NFKD", "StripAccents", "Strip"}


class ModelSource(StrEnum):
    """Where a model is loaded from; a str, so it compares equal to its value."""

    BUNDLED = "bundled"
    LOCAL = "local"
    HUB = "hub"
    ADAPTED = "adapted"  # made here by `python -m core adapt`, under POTION_ADAPTED_DIR
    TRANSFORMER = "transformer"  # a sentence-transformers model run with torch (core.embed.transformer), not static


@dataclass(frozen=True)
class ModelInfo:
    name: str
    kind: ModelSource
    source: str  # directory path or hub id
    dim: int
    vocab_size: int
    params: int
    dtype: str
    file_size_bytes: int
    fingerprint: str
    variant: str = ""  # "" for the model as published; else 128d, int8 or 128d+int8 (core.embed.loading.ModelVariant)

    @property
    def params_label(self) -> str:
        """Parameter count as people write it (7.6M), as every count is shown (core.sizes)."""
        return format_count(self.params)


class Embedder:
    """Encodes texts to float32 vectors of the model's dim; batches large inputs."""

    # A static vector is a mean of token vectors, so its cosine splits exactly over words (core.search.dense_explain).
    static = True
    # Spawned ingest workers pay off for a static model (core.ingest.workers); a transformer says otherwise.
    runs_in_workers = True

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

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer, for reading which words it knows (vocabulary coverage)."""
        return self.model.tokenizer

    @property
    def unk_token_id(self) -> int | None:
        return self.model.unk_token_id

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), dim) float32 matrix; texts with no known token give all-zero rows."""
        return self.encode_ids(self.token_ids(texts)) if len(texts) else np.zeros((0, self.dim), np.float32)

    def encode_ids(self, ids_per_text: Sequence[Sequence[int]]) -> np.ndarray:
        """The vectors of texts given as token ids (as `token_ids` gives them, unknown ones included).

        The mean of the known tokens' vectors, normalised if the model says so: what `StaticModel.encode`
        computes, in float32 throughout, and pooled by padding each batch to a rectangle and summing one
        axis, which measured 1.9x faster than model2vec's per-length buckets on SciFact chunks."""
        out = np.zeros((len(ids_per_text), self.dim), dtype=np.float32)
        for start in range(0, len(ids_per_text), POOL_BATCH):
            out[start : start + POOL_BATCH] = self._pool(ids_per_text[start : start + POOL_BATCH])
        if self.model.normalize:
            out = unit_rows(out)
        return out

    def _pool(self, ids_per_text: Sequence[Sequence[int]]) -> np.ndarray:
        unk = self.model.unk_token_id
        # model2vec drops the unknown token (word-level vocabularies) before averaging
        kept = [[i for i in ids if i != unk] for ids in ids_per_text] if unk is not None else ids_per_text
        lengths = np.fromiter(map(len, kept), dtype=np.int64, count=len(kept))
        pad = self._pad_id
        matrix = np.full((len(kept), max(1, int(lengths.max(initial=0)))), pad, dtype=np.int64)
        matrix[np.arange(matrix.shape[1])[None, :] < lengths[:, None]] = np.fromiter(
            (i for ids in kept for i in ids), dtype=np.int64, count=int(lengths.sum())
        )
        rows = matrix if self._rows is None else self._rows[matrix]
        gathered = self._table[rows]
        if self._weights is not None:
            gathered *= self._weights[matrix][..., None]
        return gathered.sum(axis=1, dtype=np.float32) / np.maximum(lengths, 1)[:, None]

    @cached_property
    def _table(self) -> np.ndarray:
        """The embedding matrix in float32 with one zero row appended, for padding."""
        table = np.asarray(self.model.embedding, dtype=np.float32)
        return np.vstack([table, np.zeros((1, self.dim), dtype=np.float32)])

    @cached_property
    def _pad_id(self) -> int:
        """One past the last token id: it maps to the zero row and weighs nothing."""
        mapping = self.model.token_mapping
        return len(mapping) if mapping is not None else self._table.shape[0] - 1

    @cached_property
    def _rows(self) -> np.ndarray | None:
        """Token id -> embedding row, where the model maps several ids to one row; padding -> the zero row."""
        mapping = self.model.token_mapping
        if mapping is None:
            return None
        return np.append(np.asarray(mapping, dtype=np.int64), self._table.shape[0] - 1)

    @cached_property
    def _weights(self) -> np.ndarray | None:
        weights = self.model.weights
        return None if weights is None else np.append(np.asarray(weights, dtype=np.float32), 0.0)

    @cached_property
    def ids_concatenate(self) -> bool:
        """True if a text's ids are its white-space-separated parts' ids joined, so chunking's ids can be
        embedded as they are instead of tokenizing each chunk again."""
        spec = json.loads(self.model.tokenizer.to_str())

        def kinds(node: dict | None, key: str) -> set[str]:
            if not node:
                return set()
            return set().union(*(kinds(n, key) for n in node[key])) if node["type"] == "Sequence" else {node["type"]}

        pre = kinds(spec.get("pre_tokenizer"), "pretokenizers")
        norm = kinds(spec.get("normalizer"), "normalizers")
        return bool(pre) and pre <= _SPLITTING and norm <= _CHARWISE

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The tokenizer's ids of each text, unknown ones included, no special tokens."""
        return [e.ids for e in self.model.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)]

    def encode_documents(self, documents: Sequence[str]) -> list[np.ndarray]:
        return list(self.encode(documents))

    def encode_queries(self, queries: Sequence[str]) -> list[np.ndarray]:
        return list(self.encode(queries))

    def __call__(self, texts: Sequence[str]) -> list[np.ndarray]:
        return self.encode_documents(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text gives the tokenizer, unknown ones included: text the model cannot read
        still takes room, so a chunk of it stays as short as any other."""
        return [len(ids) for ids in self.token_ids(texts)]
