"""Potion Search core: models, documents, chunking, storage, ingest and search (no UI code)."""
