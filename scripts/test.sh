#!/usr/bin/env bash
# Set up (idempotently) and run the whole test suite: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
# Browser tests drive Debian's Chromium (Playwright's own browser download cannot work offline).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium and chromium-driver for the browser tests…" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "chromium is not installed: browser tests will be skipped (apt-get install chromium chromium-driver)." >&2
  fi
fi
# Most of the suite waits on engines, subprocesses and browsers rather than computing, so two workers halve its
# time on 2 cores (measured: 13.5 min in one process, 6 min in two). A file's tests stay on one worker, in order:
# the browser tests share one page from test to test. POTION_TEST_WORKERS=0 runs in this process.
exec .venv/bin/python -m pytest -n "${POTION_TEST_WORKERS:-2}" --dist loadfile "$@"
