"""`serve` is safe by default: a host beyond loopback is refused unless --expose says it is meant, and --expose
warns that the engine has no authentication."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.cli import EXIT_ERROR, main
from core.errors import StoreConfigError
from core.storage.serve import is_loopback, serve
from tests.servers import ROOT, free_port


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts_stay_on_this_machine(host: str):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "my-laptop.example.org", ""])
def test_every_other_host_counts_as_exposed(host: str):
    assert not is_loopback(host)


def test_a_host_beyond_loopback_is_refused_before_any_engine_starts(tmp_path):
    with pytest.raises(StoreConfigError, match="--expose"):
        serve(tmp_path / "x.db", free_port(), "0.0.0.0")
    assert not (tmp_path / "x.db").exists()  # nothing was started or created


def test_the_cli_refuses_in_one_line_and_names_the_flag(tmp_path, capsys):
    assert (
        main(["serve", "--host", "0.0.0.0", "--port", str(free_port()), "--db", str(tmp_path / "x.db")]) == EXIT_ERROR
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Refusing to serve") and "no authentication" in err[0]
    assert "--expose" in err[0] and "token" in err[0]


def test_expose_warns_that_there_is_no_authentication_then_serves_on_every_interface(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "core", "serve", "--host", "0.0.0.0", "--expose", "--port", str(port)]
    command += ["--db", str(tmp_path / "exposed.db")]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in server.stdout:
            lines.append(line)
            if "listening on" in line:
                break
        warning = next(line for line in lines if line.startswith("warning:"))
        assert "0.0.0.0" in warning and "no authentication" in warning and "MILVUS_TOKEN" in warning
        assert "listening on http://0.0.0.0:" in lines[-1] and lines.index(warning) < len(lines) - 1, lines
        assert server.poll() is None  # serving
    finally:
        server.terminate()
        server.wait(timeout=30)
