"""The soak under faults, short (issue 17, item 3): `bench/soak.py` for one minute with one fault of each kind (the
app's engine SIGKILLed, a CLI ingest SIGKILLed while it writes, `serve` restarted) must end with no error but the
one-line restart notices, the ingest library exactly equal to a fault-free ingest of the same batches, and nothing
left running. No timing is asserted: the machine may be loaded. The 10-minute run is `bench/soak.py` itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.soak

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 900  # a soak that has not ended by then is stuck: fail rather than hang


def test_a_minute_under_one_fault_of_each_kind_leaves_no_error_exact_counts_and_no_orphan():
    command = [sys.executable, str(ROOT / "bench" / "soak.py"), "--minutes", "1", "--fault-every", "15"]
    command += ["--corpus", "synthetic", "--limit-docs", "600", "--sessions", "4"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE_S)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)

    assert result["faults_by_kind"] == {"engine": 1, "cli": 1, "serve": 1}, result["faults"]
    assert result["errors"]["unexplained"] == 0, result["errors"]["messages"]
    assert result["counts"]["exact"], result["counts"]
    assert result["counts"]["ingest"]["documents"] > 0
    assert result["cleanup"] == {"orphans": 0, "orphan_commands": [], "unowned_engines": 0}
    cli_kill = next(f for f in result["faults"] if f["kind"] == "cli")
    assert cli_kill["left_after_5s"] == {}, cli_kill  # the killed CLI's worker went with it
    assert result["operations"]["cli_killed_by_fault"] == 1
    # Every session saw the engine restart once, at most, and kept working after it.
    assert all(n <= 1 for n in result["restart_notices_by_session"].values()), result["restart_notices_by_session"]
    for kind in ("app_search", "app_judge", "app_compare", "cli_completed"):
        assert result["operations"].get(kind, 0) > 0, result["operations"]
