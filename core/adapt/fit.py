"""Fit the token vectors so that a text's mean vector points where the teacher's vector for it does."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.adapt.options import AdaptOptions, AdaptStage
from core.errors import AdaptCancelledError, AdaptError

MAX_TOKENS = 512  # StaticModel.encode's own cut, so a text is fitted on the tokens it is embedded from


@dataclass(frozen=True)
class FitResult:
    vectors: np.ndarray
    epochs_run: int
    best_epoch: int  # 1-based; 0 when no epoch beat the starting vectors on the held-out texts
    held_out_losses: list[float]  # before fitting, then after each epoch
    texts_used: int
    held_out: int


def token_ids(tokenizer: Any, texts: list[str], unk_id: int | None) -> list[list[int]]:
    """What StaticModel.tokenize gives: no special tokens, unknown pieces dropped, at most MAX_TOKENS."""
    encoded = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    return [[i for i in e.ids if i != unk_id][:MAX_TOKENS] for e in encoded]


@contextlib.contextmanager
def repeatable(seed: int, threads: int | None) -> Iterator[None]:
    """Seeded, deterministic kernels and a fixed thread count (sums split across threads round differently);
    the process's own settings come back afterwards."""
    import torch

    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])


@dataclass(frozen=True)
class _Texts:
    """Token ids of every text in one flat array (CSR), so a batch is gathered with numpy, not Python lists."""

    tokens: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray

    @classmethod
    def of(cls, ids: list[list[int]]) -> _Texts:
        lengths = np.array([len(row) for row in ids], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return cls(np.concatenate([np.asarray(row, dtype=np.int64) for row in ids]), starts, lengths)

    def batch(self, rows: np.ndarray) -> tuple[Any, Any]:
        import torch

        lengths = self.lengths[rows]
        flat = np.concatenate([self.tokens[s : s + n] for s, n in zip(self.starts[rows], lengths)])
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        return torch.from_numpy(flat), torch.from_numpy(offsets.astype(np.int64))


def _loss(bag: Any, texts: _Texts, targets: Any, rows: np.ndarray) -> Any:
    import torch

    flat, offsets = texts.batch(rows)
    predicted = bag(flat, offsets)
    return (1.0 - torch.nn.functional.cosine_similarity(predicted, targets[rows], dim=-1)).mean()


def fit(vectors: np.ndarray, ids: list[list[int]], targets: np.ndarray, options: AdaptOptions) -> FitResult:
    """torch.nn.EmbeddingBag(mode="mean") over the static token ids, 1 - cosine loss, Adam; a share of the
    texts is held out and the epoch that scores best on them is kept (patience: worse epochs in a row)."""
    import torch

    keep = [i for i, row in enumerate(ids) if row]  # a text with no known token has no mean vector
    if len(keep) < 2:
        raise AdaptError("The library has too little text the model's vocabulary knows to fit on: add documents.")
    ids = [ids[i] for i in keep]
    goal = torch.from_numpy(np.ascontiguousarray(targets[keep], dtype=np.float32))
    rng = np.random.default_rng(options.seed)
    order = rng.permutation(len(ids))
    n_held = max(1, round(len(ids) * options.held_out))
    held, train = np.sort(order[:n_held]), order[n_held:]
    steps = -(-len(train) // options.batch_size)
    total = steps * options.epochs
    # Only the rows of tokens the texts use are fitted: any other row gets a zero gradient at every step, so
    # Adam (per element, no weight decay) never moves it; leaving those rows out gives the same vectors faster.
    texts = _Texts.of(ids)
    used, compact = np.unique(texts.tokens, return_inverse=True)
    texts = _Texts(compact.astype(np.int64), texts.starts, texts.lengths)
    with repeatable(options.seed, options.threads):
        bag = torch.nn.EmbeddingBag.from_pretrained(torch.from_numpy(vectors[used].copy()), freeze=False, mode="mean")
        # Adam as torch defines it, in its fused kernel: the same update, several times faster on the CPU here.
        optimiser = torch.optim.Adam(bag.parameters(), lr=options.learning_rate, fused=True)

        def held_out_loss() -> float:
            with torch.no_grad():
                return float(_loss(bag, texts, goal, held))

        losses = [held_out_loss()]
        best, best_epoch, worse, epoch = bag.weight.detach().clone(), 0, 0, 0
        options.progress(AdaptStage.FIT, 0, total)
        for epoch in range(1, options.epochs + 1):
            shuffled = train[rng.permutation(len(train))]
            for step in range(steps):
                if options.cancelled():
                    raise AdaptCancelledError("Adapting was cancelled while the token vectors were fitted.")
                optimiser.zero_grad()
                rows = shuffled[step * options.batch_size : (step + 1) * options.batch_size]
                _loss(bag, texts, goal, rows).backward()
                optimiser.step()
                options.progress(AdaptStage.FIT, (epoch - 1) * steps + step + 1, total)
            losses.append(held_out_loss())
            if losses[-1] < min(losses[:-1]):
                best, best_epoch, worse = bag.weight.detach().clone(), epoch, 0
            else:
                worse += 1
                if worse >= options.patience:
                    break
        options.progress(AdaptStage.FIT, total, total)
    fitted = vectors.copy()
    fitted[used] = best.numpy()
    return FitResult(fitted, epoch, best_epoch, losses, len(texts.lengths), n_held)
