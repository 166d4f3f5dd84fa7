"""Potion Search core: models, documents, chunking, storage, ingest and search (no UI code)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The product version, in this one place: saved evaluation runs record it, and pyproject.toml reads it from here
# (the app runs from a checkout, not an installed distribution, so there is no installed metadata to ask).
__version__ = "0.20.0"

if TYPE_CHECKING:
    from core.embed.drop_in import Model2VecEmbeddingFunction

__all__ = ["Model2VecEmbeddingFunction", "__version__"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: `python -m core` imports this package, and the class pulls in model2vec and numpy.
    if name == "Model2VecEmbeddingFunction":
        from core.embed.drop_in import Model2VecEmbeddingFunction

        return Model2VecEmbeddingFunction
    raise AttributeError(f"module 'core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
