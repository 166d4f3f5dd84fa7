"""`python -m tests.worker_ingest ARGS` runs `python -m core ARGS` with the embedding worker used for any amount of
text, in small batches: a small ingest then has the process tree of a large one (the CLI, its spawned worker and
multiprocessing's resource tracker, the Milvus Lite engine) and goes through many batches in a few seconds."""

import functools
import os
import runpy
import sys

BATCH_CHARS = 40_000
WORKER_MARK = "worker_ingest: a spawned worker started"

if __name__ == "__mp_main__":  # how a spawned worker imports this module: it says so, for tests to know it ran
    print(f"{WORKER_MARK} (pid {os.getpid()})", file=sys.stderr, flush=True)

if __name__ == "__main__":  # a spawned worker imports this module too, under another name
    import core.ingest.workers as workers

    workers.WORKER_MIN_CHARS = 0
    workers.batches = functools.partial(workers.batches, max_chars=BATCH_CHARS)
    runpy.run_module("core", run_name="__main__")
