"""The starting point: the teacher's raw token vectors (no PCA), centred, then weighted by token rank."""

from __future__ import annotations

import copy
import re
from typing import Any

import numpy as np

from core.adapt.options import CancelFn, ProgressFn
from core.adapt.teacher import Teacher
from core.errors import AdaptCancelledError

_UNUSED = re.compile(r"\[unused\d+\]")  # placeholders model2vec's distill drops; they never occur in text
_BATCH = 256


def token_vectors(teacher: Teacher, progress: ProgressFn, cancelled: CancelFn, stage: str) -> np.ndarray:
    """One row per vocabulary id: the teacher's mean-pooled output for [CLS] token [SEP], as model2vec's
    distill(pca_dims=None, sif_coefficient=None, quantize_to='float32') makes it, float32 and unreduced."""
    import torch

    size = len(teacher.tokenizer.get_vocab())
    first, last = teacher.tokenizer.cls_token_id, teacher.tokenizer.sep_token_id
    out = np.zeros((size, teacher.dim), dtype=np.float32)
    progress(stage, 0, size)
    with torch.inference_mode():
        for start in range(0, size, _BATCH):
            if cancelled():
                raise AdaptCancelledError("Adapting was cancelled while the teacher's token vectors were made.")
            ids = torch.arange(start, min(start + _BATCH, size)).unsqueeze(1)
            parts = [ids]
            if first is not None:
                parts.insert(0, torch.full_like(ids, first))
            if last is not None:
                parts.append(torch.full_like(ids, last))
            batch = torch.cat(parts, dim=1)
            hidden = teacher.model(input_ids=batch, attention_mask=torch.ones_like(batch)).last_hidden_state
            out[start : start + len(ids)] = hidden.mean(dim=1).numpy()
            progress(stage, start + len(ids), size)
    return out


def ranked_tokens(vocabulary: dict[str, int]) -> np.ndarray:
    """Ids of the tokens that count, by id: the order model2vec ranks them in for SIF (frequent words first)."""
    return np.array(sorted(i for token, i in vocabulary.items() if not _UNUSED.fullmatch(token)), dtype=np.int64)


def sif_weights(count: int, coefficient: float) -> np.ndarray:
    """model2vec's rank-based SIF weights: Zipf's law guesses each token's frequency from its rank."""
    inverse_rank = 1.0 / np.arange(2, count + 2)
    probability = inverse_rank / inverse_rank.sum()
    return coefficient / (coefficient + probability)


def centre_and_weight(vectors: np.ndarray, vocabulary: dict[str, int], coefficient: float) -> np.ndarray:
    """Subtract the mean of the real tokens' vectors, then scale each by its SIF weight (placeholders by 1)."""
    ranked = ranked_tokens(vocabulary)
    out = vectors - vectors[ranked].mean(axis=0)
    out[ranked] *= sif_weights(len(ranked), coefficient)[:, None].astype(np.float32)
    return out.astype(np.float32)


def static_tokenizer(teacher: Teacher) -> Any:
    """The teacher's own tokenizer for the static model: same ids, no truncation (its 128-token cut would
    silently drop the rest of every text) and no padding."""
    tokenizer = copy.deepcopy(teacher.tokenizer.backend_tokenizer)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer
