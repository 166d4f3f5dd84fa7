"""`python -m tests.worker_ingest ARGS` runs `python -m core ARGS` with the embedding worker used for any amount of
text, in small batches: a small ingest then has the process tree of a large one (the CLI, its spawned worker and
multiprocessing's resource tracker, the Milvus Lite engine) and goes through many batches in a few seconds."""

import functools
import runpy

BATCH_CHARS = 40_000

if __name__ == "__main__":  # a spawned worker imports this module too, under another name
    import core.ingest.workers as workers

    workers.WORKER_MIN_CHARS = 0
    workers.batches = functools.partial(workers.batches, max_chars=BATCH_CHARS)
    runpy.run_module("core", run_name="__main__")
