"""The CARD.json of a model made here: everything needed to know, and redo, how it was made."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from core.adapt.extra import versions
from core.adapt.fit import FitResult
from core.adapt.options import AdaptOptions
from core.adapt.teacher import Teacher
from core.errors import AdaptError

CARD_FILE = "CARD.json"
KIND = "adapted"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_name(name: str, models_dir: Path) -> str:
    """A name that is a safe folder name and reads as a model name everywhere (no / or @, which mean a hub id
    or a variant), and that no bundled or catalog model has (those names resolve first)."""
    from core.embed.catalog import bundled_model, catalog_entry

    if not _NAME.fullmatch(name) or name.endswith((".", "-")):
        raise AdaptError(
            f"'{name}' cannot name a model: use 1 to 64 letters, digits, '.', '-' or '_', starting with a letter "
            "or digit."
        )
    if bundled_model(name, models_dir) is not None or catalog_entry(name) is not None:
        raise AdaptError(f"'{name}' is already the name of a bundled or catalog model: pick another name.")
    return name


def readme_text(name: str, teacher: str, library: str, texts: int, dims: int, licence: str) -> str:
    """The model's README.md (model2vec's own template says MIT and names the temporary folder): what it is, what
    it was fitted to, and under which licence its weights come."""
    return f"""---
base_model: {teacher}
library_name: model2vec
license: {"apache-2.0" if _default_teacher(teacher) else "other"}
model_name: {name}
tags:
- embeddings
- static-embeddings
- model2vec
---

# {name}

A [Model2Vec](https://github.com/MinishLab/model2vec) static embedding model ({dims} dimensions, float16) made
by Potion Search's `adapt`: the token vectors of the teacher {teacher} were fitted so that a text's mean vector
matches the teacher's embedding of it, on {texts} texts of {library}. See CARD.json beside this file for how.

Licence: {licence}
"""


def _default_teacher(teacher: str) -> bool:
    return teacher.startswith("sentence-transformers/all-MiniLM-L6-v2")  # the packaged default, Apache-2.0


def default_licence(teacher: str) -> str:
    if _default_teacher(teacher):
        return "the weights derive from all-MiniLM-L6-v2, under the Apache License 2.0, which applies to them too."
    return "the weights derive from the teacher's; the teacher's licence applies to them."


def folder_files(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file() and p.name != CARD_FILE}


def make_card(
    name: str,
    folder: Path,
    options: AdaptOptions,
    teacher: Teacher,
    chunks: int,
    sentences: int,
    documents: int,
    fitted: FitResult,
    stage_seconds: dict[str, float],
    dtype: str,
    vocab_size: int,
) -> dict:
    files = folder_files(folder)
    return {
        "name": name,
        "kind": KIND,
        "dim": options.dims,
        "dtype": dtype,
        "vocab_size": vocab_size,
        "size_bytes": sum(files.values()),
        "files": files,
        "teacher": {"name": teacher.name, "fingerprint": teacher.fingerprint, "max_tokens": teacher.max_tokens},
        "library": options.library,
        "chunks": chunks,
        "targets": {
            "sentences": sentences,
            "chunks": documents,
            "fitted": fitted.texts_used,
            "held_out": fitted.held_out,
        },
        "dims": options.dims,
        "epochs": {
            "max": options.epochs,
            "run": fitted.epochs_run,
            "best": fitted.best_epoch,
            "patience": options.patience,
            "held_out_loss": [round(x, 6) for x in fitted.held_out_losses],
        },
        "seeds": {"sample": options.seed, "torch": options.seed, "split": options.seed},
        "recipe": {
            "distil": f"raw teacher token vectors ({teacher.dim}-d float32), no PCA, no SIF",
            "weights": f"centred, then model2vec's rank-based SIF weights ({options.sif_coefficient:g})",
            "targets": _targets_recipe(options),
            "fit": f"EmbeddingBag(mode=mean), 1 - cosine, Adam lr {options.learning_rate:g}, batch "
            f"{options.batch_size}, {options.held_out:.0%} held out, best epoch, patience {options.patience}",
            "reduce": f"projection on the top {options.dims} eigenvectors of the fitted vectors, not re-centred",
            "threads": options.threads,
        },
        "stage_seconds": {k: round(v, 2) for k, v in stage_seconds.items()},
        "seconds": round(sum(stage_seconds.values()), 2),
        "versions": versions(),
        "made_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "note": f"Made here from {teacher.name} on library '{options.library}' ({chunks} chunks).",
    }


def write_card(folder: Path, card: dict) -> None:
    (folder / CARD_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_card(folder: Path) -> dict | None:
    """The card of a model made here, or None for any other folder (or a card that cannot be read)."""
    try:
        card = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) and card.get("kind") == KIND else None


def _targets_recipe(options: AdaptOptions) -> str:
    sentences = (
        f"up to {options.max_sentences} seeded distinct sentences of >= {options.min_words} words plus "
        if options.max_sentences
        else ""
    )
    return f"{sentences}every chunk cut to what the teacher sees; teacher mean-pooled, normalised, then centred"
