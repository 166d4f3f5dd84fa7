"""Adapt to a library: read its stored chunks through the store, then make the model (what the CLI and the app
call)."""

from __future__ import annotations

from dataclasses import replace

from core.access import Actor, require_write
from core.adapt.options import AdaptOptions, AdaptResult
from core.config import Settings, settings_or_environment
from core.errors import AdaptError, LibraryNotFoundError


def base_index(store, library: str, model: str | None, settings: Settings) -> str:
    """The index whose chunks are read: the one named, else the library's only one, else the default model's."""
    models = sorted(meta.model_name for meta in store.catalog.collections() if meta.library == library)
    if model:
        if model not in models:
            raise LibraryNotFoundError(
                f"Library '{library}' has no index for {model}: it has {', '.join(models) or 'none'}."
            )
        return model
    if not models:
        raise LibraryNotFoundError(f"Library '{library}' has no indexed documents to adapt to: index some first.")
    if len(models) == 1:
        return models[0]
    default = settings.default_model
    if default in models:
        return default
    raise AdaptError(f"Library '{library}' has indexes for {', '.join(models)}: say which to read with --model.")


def may_adapt(actor: Actor | None, library: str, settings: Settings | None = None) -> None:
    """Refuse (ReadOnlyError) an actor who may only read: asked first, before the extra or the store."""
    require_write(actor, f"make a model from library '{library}'", settings)


def library_texts(store, library: str, model: str) -> list[str]:
    """The library's chunk texts, in a fixed order so the same library gives the same model."""
    rows = store.index(library, model).chunk_rows()
    rows.sort(key=lambda r: (r["document"], r["chunk"]))
    return [r["text"] for r in rows]


def adapt_library(
    store,
    library: str,
    name: str,
    options: AdaptOptions,
    model: str | None = None,
    release_store: bool = False,
    settings: Settings | None = None,
    actor: Actor | None = None,
) -> AdaptResult:
    """Make the model `name` from the library's stored chunks. With `release_store` the store is closed once they
    are read: a Milvus Lite database opens in one process at a time, and fitting takes minutes. Refused to an actor
    who may only read (it writes a model on the server's disk)."""
    from core.adapt.pipeline import adapt

    settings = settings_or_environment(settings)  # a script's call; the CLI and the app pass theirs
    may_adapt(actor, library, settings)

    try:
        chunks = library_texts(store, library, base_index(store, library, model, settings))
    finally:
        if release_store:
            store.close()
    return adapt(chunks, name, settings.adapted_dir, replace(options, library=library), settings)
