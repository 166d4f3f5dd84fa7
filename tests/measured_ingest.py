"""`python -m tests.measured_ingest ARGS` runs `python -m core ARGS`, then prints as its last stderr line the peak
resident memory of this process alone ("peak_rss_kb N", getrusage of itself): the CLI's own memory, without its
embedding worker's or the Milvus engine's."""

import resource
import runpy
import sys

PEAK_MARK = "peak_rss_kb"

if __name__ == "__main__":  # a spawned worker imports this module too, under another name
    try:
        runpy.run_module("core", run_name="__main__")
    finally:  # main ends by raising SystemExit
        print(f"{PEAK_MARK} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr, flush=True)
