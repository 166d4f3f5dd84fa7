"""Domain exceptions; the pages and the CLI turn them into one-line messages."""

from __future__ import annotations


class PotionError(Exception):
    """Base class of every error Potion Search raises on purpose."""


class ModelNotFoundError(PotionError):
    """The name is neither a catalog or bundled model, a local model directory, nor a hub id."""


class ModelNotAllowedError(PotionError):
    """A model this deployment does not allow: a folder outside POTION_MODEL_ROOTS, a hub id with them off."""


class ModelUnavailableError(PotionError):
    """A hub model is not in the local cache and the hub cannot be reached."""


class DocumentError(PotionError):
    """A file cannot be turned into text; `kind` says why (see core.read.documents.FailureKind)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class ChunkingError(PotionError):
    """Chunking settings that cannot work (for example overlap >= size)."""


class IngestWorkerError(PotionError):
    """The process that chunks and embeds for an ingest stopped before finishing."""


class StoreError(PotionError):
    """The vector database cannot be opened or used."""


class StoreLockedError(StoreError):
    """Another process holds the Milvus Lite database open."""


class ModelMismatchError(StoreError):
    """A collection holds vectors of another model, dim or chunking than the one asked for."""


class LibraryNotFoundError(StoreError):
    """No collection exists for the library (and model) named."""


class StoreConfigError(StoreError):
    """The database setting cannot work (a bad path or file name, an unreachable server, a refused token)."""


class SchemaVersionError(StoreError):
    """The database was written by a newer Potion Search than this one."""


class KeywordUnavailableError(StoreError):
    """Keyword or hybrid search was asked of an index or engine that has no BM25."""


class FilterValueError(StoreError):
    """A value cannot be written as a literal of the engine's filter grammar."""


class LibraryBusyError(PotionError):
    """A change to a library was refused because a job (or another change) is writing to it."""


class ReadOnlyError(PotionError):
    """A change refused because whoever asked may only read here (POTION_READ_ONLY, or not among the editors)."""


class SignInUnavailableError(PotionError):
    """A setting relies on sign-in (POTION_REQUIRE_SIGN_IN, POTION_EDITORS) but no identity provider is configured."""


class AdaptError(PotionError):
    """A static model cannot be adapted as asked (no text, a name already taken, dims the teacher lacks)."""


class AdaptExtraMissingError(AdaptError):
    """Adapting needs torch and transformers, which the app's requirements leave out on purpose."""


class AdaptCancelledError(AdaptError):
    """The user stopped an adaptation; nothing was written."""


class EngineRestartedError(StoreError):
    """The embedded engine died during a write and was started again: the job stopped, and re-running it converges."""


class EngineRestartFailedError(StoreError):
    """The embedded engine died and could not be started again; `reason` is "disk full", "locked" or "other"."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ServerUnavailableError(StoreError):
    """The Milvus server does not answer; the store reconnects by itself once it does."""


class VectorIndexError(StoreError):
    """A vector index that cannot be written down, or that the engine does not have."""


class ApproximateIndexError(StoreError):
    """Evaluation asked of an index whose dense ranking is approximate: its numbers would not be exact."""


class RunNotFoundError(PotionError):
    """No saved evaluation run has the id (or unique id prefix) given."""


class RunFileError(PotionError):
    """A file of saved runs (or a stored run) that cannot be read: not JSON, or not a run Potion Search wrote."""


class RunDiffError(PotionError):
    """Saved runs that cannot be compared: fewer than two, or no judged query in common."""


class QuerySetError(PotionError):
    """A query set that cannot be made, found or run as asked (no queries, a name taken, a malformed line)."""


class UnknownLanguageError(PotionError):
    """A language name or code that no analyzer is known for (core.storage.analyzers lists the choices)."""
