"""Domain exceptions; the pages and the CLI turn them into one-line messages."""

from __future__ import annotations


class PotionError(Exception):
    """Base class of every error Potion Search raises on purpose."""


class ModelNotFoundError(PotionError):
    """The name is neither a catalog or bundled model, a local model directory, nor a hub id."""


class ModelUnavailableError(PotionError):
    """A hub model is not in the local cache and the hub cannot be reached."""


class DocumentError(PotionError):
    """A file cannot be turned into text; `kind` says why (see core.documents.FailureKind)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class ChunkingError(PotionError):
    """Chunking settings that cannot work (for example overlap >= size)."""


class StoreError(PotionError):
    """The vector database cannot be opened or used."""


class StoreLockedError(StoreError):
    """Another process holds the Milvus Lite database open."""


class ModelMismatchError(StoreError):
    """A collection holds vectors of another model, dim or chunking than the one asked for."""


class LibraryNotFoundError(StoreError):
    """No collection exists for the library (and model) named."""
