#!/usr/bin/env bash
# The storage tests on the other Milvus Lite line (3.x, pure Python): the store must not depend on one
# engine's quirks. Uses its own venv (.venv-lite3), the same pins except milvus-lite.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv-lite3/bin/python ] || "$PY" -m venv .venv-lite3
.venv-lite3/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
.venv-lite3/bin/python -m pip install --quiet --disable-pip-version-check milvus-lite==3.2.2
exec .venv-lite3/bin/python -m pytest -q -p no:cacheprovider tests/test_store.py tests/test_milvus_store.py \
  tests/test_names.py tests/test_server.py tests/test_cli.py tests/test_connection.py tests/test_vector_index.py "$@"
