#!/usr/bin/env bash
# The store contract and the ingest/search integration tests through MILVUS_URI against two servers:
# `python -m core serve` and a genuine Milvus 2.3 standalone (installed once into .venv-milvus-server).
# Kept out of the main suite (pytest -m server selects them) because the standalone's collections take
# seconds each to create: bash scripts/test-servers.sh [pytest args]
# Two runs, so the standalone's background work (flushes, garbage collection after drops) cannot starve the
# Lite server's answers: the served tests finish before the standalone starts.
set -euo pipefail
here="$(dirname "$0")"
# One process: a second worker would start a second standalone, and its embedded etcd's peer port is fixed.
export POTION_TEST_WORKERS=0
bash "$here/test.sh" -m server -k "not standalone" "$@"
exec bash "$here/test.sh" -m server -k standalone "$@"
