"""`python -m core ingest ...`, paused inside the ingest, holding the library's lease, until a line arrives on stdin:
says "reading" first."""

import sys

import core.ingest.pipeline as pipeline
from core.cli import main

SourceBatch = pipeline.SourceBatch


def paused(*args, **kwargs):
    print("reading", flush=True)
    sys.stdin.readline()
    return SourceBatch(*args, **kwargs)


pipeline.SourceBatch = paused
sys.exit(main(sys.argv[1:]))
