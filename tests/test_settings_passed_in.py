"""Settings are read once at an edge (the CLI's main, the app's frame) and passed in; core never reads them itself."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import core.cli
from core.config import load_settings
from core.ingest.pipeline import default_chunking, read_sources
from core.read.documents import FailureKind, ReadLimits, read_bytes
from tests.conftest import BUNDLED_SMALL

ROOT = Path(__file__).resolve().parents[1]


def test_only_the_edges_read_the_environment():
    """load_settings() is called by the CLI's main, the app's frame (pages/shared.py) and config's fallback only."""
    callers = {
        path.relative_to(ROOT).as_posix()
        for folder in ("core", "pages")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"\bload_settings\(\)", path.read_text(encoding="utf-8"))
    }
    callers |= {"app.py"} if re.search(r"\bload_settings\(\)", (ROOT / "app.py").read_text(encoding="utf-8")) else set()
    assert callers == {"core/config.py", "core/cli.py", "pages/shared.py"}


def test_settings_passed_in_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("POTION_CHUNK_SIZE", "64")
    passed = replace(load_settings(), chunk_size=300, max_upload_mb=0.001)  # about 1 KB per upload
    assert default_chunking().size == 64  # no settings: the environment's
    assert default_chunking(passed).size == 300
    read = read_sources([("a.txt", b"x" * 800), ("b.txt", b"y" * 800)], settings=passed)
    assert [d.name for d in read.documents] == ["a.txt"]
    assert read.failures[0].name == "b.txt" and "1 KB" in read.failures[0].message


def test_read_limits_are_values_not_the_environment(monkeypatch):
    monkeypatch.setenv("POTION_MAX_FILE_MB", "50")
    tight = replace(ReadLimits.of(None), max_file_bytes=100)
    assert read_bytes("a.txt", b"x" * 200, limits=tight).failures[0].kind is FailureKind.TOO_LARGE
    assert read_bytes("a.txt", b"x" * 200).documents  # the environment's 50 MB


def test_the_cli_reads_the_environment_once_per_command(monkeypatch, tmp_path, capsys):
    """Each command reads the settings in main and nowhere else: a second read anywhere below would fail."""
    calls = []

    def counted():
        calls.append(1)
        return load_settings()

    def refused():
        raise AssertionError("the settings were read again below the CLI's main")

    monkeypatch.setattr(core.cli, "load_settings", counted)
    monkeypatch.setattr("core.config.load_settings", refused)
    (tmp_path / "a.txt").write_text("Alan Turing was born in Maida Vale, London.", encoding="utf-8")
    commands = [
        ["models"],
        ["ingest", str(tmp_path / "a.txt"), "--library", "L", "--model", BUNDLED_SMALL, "--quiet"],
        ["search", "turing", "--library", "L", "--model", BUNDLED_SMALL],
        ["libraries"],
    ]
    for command in commands:
        assert core.cli.main([*command, "--json"]) == core.cli.EXIT_OK, capsys.readouterr().err
    assert len(calls) == len(commands)
