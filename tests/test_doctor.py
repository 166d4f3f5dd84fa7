"""`python -m core doctor`: every check in plain words, each run whatever the others found."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.cli import EXIT_ERROR, EXIT_OK, main
from core.service.doctor import PROBE_LIBRARY
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL

ROOT = Path(__file__).resolve().parents[1]


def doctor(capsys) -> tuple[int, dict[str, dict]]:
    code = main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] == (code == EXIT_OK)
    return code, {c["name"]: c for c in report["checks"]}


def test_a_healthy_installation_passes_every_check_and_leaves_no_trace(monkeypatch, capsys):
    monkeypatch.setenv("POTION_MAX_UPLOAD_MB", "7")
    monkeypatch.setenv("POTION_MAX_FILE_MB", "5")
    monkeypatch.setenv("POTION_MAX_WHOLE_FILE_MB", "300")
    code, checks = doctor(capsys)
    assert code == EXIT_OK
    assert list(checks) == ["versions", "engine", "database", "models", "limits"]
    assert all(c["ok"] for c in checks.values()), checks
    assert "pymilvus" in checks["versions"]["detail"] and "milvus-lite" in checks["versions"]["detail"]
    assert "Milvus Lite" in checks["engine"]["detail"] and os.environ["POTION_DB_PATH"] in checks["engine"]["detail"]
    assert "reachable and writable" in checks["database"]["detail"]
    assert BUNDLED_SMALL in checks["models"]["detail"] and BUNDLED_LARGE in checks["models"]["detail"]
    assert "upload 7 MB (POTION_MAX_UPLOAD_MB)" in checks["limits"]["detail"]
    # POTION_MAX_FILE_MB is the upload limit: files given by path have their own, and a JSONL collection none.
    assert "uploaded file 5 MB (POTION_MAX_FILE_MB)" in checks["limits"]["detail"]
    assert "file given by path and parsed whole 300 MB (POTION_MAX_WHOLE_FILE_MB" in checks["limits"]["detail"]
    assert "JSONL collection given by path is streamed, with no limit" in checks["limits"]["detail"]
    assert main(["libraries", "--json"]) == EXIT_OK
    assert not [lib for lib in json.loads(capsys.readouterr().out) if lib["name"].startswith(PROBE_LIBRARY)]


def test_every_problem_is_named_in_one_report(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("POTION_MAX_FILE_MB", "0")
    monkeypatch.setenv("POTION_MODELS_DIR", str(tmp_path / "no-models"))
    monkeypatch.setenv("POTION_DB_PATH", str(tmp_path / "not-a-database"))
    code, checks = doctor(capsys)
    assert code == EXIT_ERROR
    assert not checks["database"]["ok"] and "does not end in .db" in checks["database"]["detail"]
    assert not checks["models"]["ok"] and "POTION_MODELS_DIR" in checks["models"]["detail"]
    assert not checks["limits"]["ok"] and "POTION_MAX_FILE_MB must be above 0" in checks["limits"]["detail"]
    assert checks["versions"]["ok"] and checks["engine"]["ok"]  # the rest still ran

    assert main(["doctor"]) == EXIT_ERROR  # and the text form says so in words
    text = capsys.readouterr().out
    assert text.count("PROBLEM") == 3 and text.rstrip().endswith("fix the problems above, then run doctor again")


def test_a_database_open_in_another_process_is_explained_in_one_line(store):
    env = {**os.environ}
    for command in (["doctor"], ["libraries"]):
        out = subprocess.run(
            [sys.executable, "-m", "core", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        assert out.returncode == EXIT_ERROR, out
        assert "Traceback" not in out.stderr + out.stdout
        said = out.stdout if command == ["doctor"] else out.stderr
        (line,) = [line for line in said.splitlines() if "is open in another process" in line]
        assert "stop that app or CLI run" in line and "python -m core serve" in line
    assert store.catalog.names() == []  # the process holding it is unharmed
