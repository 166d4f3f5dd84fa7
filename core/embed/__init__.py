"""Embed: a model name in; a loaded `Embedder` that turns texts into float32 vectors out.

catalog.py knows the potion family and the bundled models, loading.py resolves a name (bundled, catalog, hub,
local folder, variant, the adapt teacher) and loads it once per process, embedder.py encodes, transformer.py runs
a sentence-transformers model (the adapt teacher) behind the same interface with the adapt extra, drop_in.py is
pymilvus' Model2VecEmbeddingFunction interface over the same loading."""
