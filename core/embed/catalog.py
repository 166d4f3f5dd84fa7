"""What models exist: the potion family on the hub and the models bundled under data/models/."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    hub_id: str
    dim: int
    params: str
    note: str
    multilingual: bool = False  # trained on many languages; the rest of the family (and the bundled models): English


POTION_FAMILY: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        "potion-base-2M", "minishlab/potion-base-2M", 64, "1.8M", "Smallest and fastest; good for tiny demos."
    ),
    CatalogEntry("potion-base-4M", "minishlab/potion-base-4M", 128, "3.7M", "Small general-purpose English model."),
    CatalogEntry("potion-base-8M", "minishlab/potion-base-8M", 256, "7.5M", "Balanced general-purpose English model."),
    CatalogEntry("potion-base-32M", "minishlab/potion-base-32M", 512, "32.3M", "Most accurate general English model."),
    CatalogEntry(
        "potion-retrieval-32M",
        "minishlab/potion-retrieval-32M",
        512,
        "32.3M",
        "Tuned for retrieval (query to passage).",
    ),
    CatalogEntry("potion-science-32M", "minishlab/potion-science-32M", 256, "32M", "Tuned on scientific text."),
    CatalogEntry(
        "potion-multilingual-128M",
        "minishlab/potion-multilingual-128M",
        256,
        "128M",
        "Over 100 languages, one space.",
        multilingual=True,
    ),
    CatalogEntry("potion-code-16M", "minishlab/potion-code-16M", 256, "16M", "Code and technical text."),
)


@dataclass(frozen=True)
class BundledModel:
    name: str
    path: Path
    dim: int
    size_bytes: int
    note: str


def is_multilingual(name: str, bundled: bool = False) -> bool | None:
    """Whether a model reads many languages: True for the catalog's multilingual entries, False for the rest of the
    catalog and for the bundled models (distilled from an English model), None for any other model (not known).
    `name` is a catalog name or hub id, with or without a variant ("potion-multilingual-128M@128d")."""
    if bundled:
        return False
    entry = catalog_entry(name.split("@")[0])
    return entry.multilingual if entry else None


def catalog_entry(name: str) -> CatalogEntry | None:
    """The potion entry for a short name or hub id (case-insensitive), if any."""
    key = name.strip().lower()
    for entry in POTION_FAMILY:
        if key in (entry.name.lower(), entry.hub_id.lower()):
            return entry
    return None


def bundled_models(models_dir: Path) -> list[BundledModel]:
    """Models shipped with the app: every folder of `models_dir` (POTION_MODELS_DIR, data/models/) that has a
    CARD.json."""
    found = []
    for card_path in sorted(models_dir.glob("*/CARD.json")):
        card = json.loads(card_path.read_text(encoding="utf-8"))
        found.append(
            BundledModel(
                name=card_path.parent.name,
                path=card_path.parent,
                dim=int(card["dim"]),
                size_bytes=int(card.get("size_bytes", 0)),
                note=str(card.get("note", "")),
            )
        )
    return found


def bundled_model(name: str, models_dir: Path) -> BundledModel | None:
    for model in bundled_models(models_dir):
        if model.name.lower() == name.strip().lower():
            return model
    return None


@dataclass(frozen=True)
class AdaptedModel:
    """A static model made here from a library (core.adapt), with the card that says how."""

    name: str
    path: Path
    dim: int
    card: dict


def adapted_models(folder: Path) -> list[AdaptedModel]:
    """Every model made here: folders of `folder` (POTION_ADAPTED_DIR) with an adapted model's CARD.json."""
    from core.adapt.card import read_card

    found = []
    for card_path in sorted(folder.glob("*/CARD.json")):
        card = read_card(card_path.parent)
        if card is not None:
            found.append(AdaptedModel(card_path.parent.name, card_path.parent, int(card["dim"]), card))
    return found


def adapted_model(name: str, folder: Path) -> AdaptedModel | None:
    key = name.strip()
    for model in adapted_models(folder):
        if model.name == key:
            return model
    return None
