"""Ingest: `Document`s in; chunk rows with vectors written to a library's index out.

chunking.py cuts text into chunks, workers.py chunks and encodes batches (in worker processes for large jobs),
pipeline.py drives read -> chunk -> embed -> write with progress, reindex.py copies a library to another model
from its stored chunks, index_time.py records how long indexing took."""
