"""`python -m core ingest ...`, paused inside the ingest until a line arrives on stdin: says "reading" first."""

import sys

import core.ingest.pipeline as pipeline
from core.cli import main

read_sources = pipeline.read_sources


def paused(*args, **kwargs):
    print("reading", flush=True)
    sys.stdin.readline()
    return read_sources(*args, **kwargs)


pipeline.read_sources = paused
sys.exit(main(sys.argv[1:]))
