"""Each way the database setting can be wrong gets its own one-line message saying what is wrong and what to set."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
from concurrent import futures
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest

from core.config import load_settings
from core.errors import StoreConfigError
from core.storage import open_store
from core.storage.connection import lite_version, server_error
from tests.servers import free_port, serve

ROOT = Path(__file__).resolve().parents[1]
GOOD_TOKEN = "root:Milvus"


def refusal(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    """The message open_store() raises under `env`; it must be one line."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(StoreConfigError) as caught:
        open_store()
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- Milvus Lite paths ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [("POTION_DB_PATH", "potion.sqlite"), ("MILVUS_URI", "potion"), ("MILVUS_URI", "localhost:19530")],
)
def test_a_lite_path_not_ending_in_db_names_the_variable_that_set_it(isolated_env, monkeypatch, variable, value):
    path = value if ":" in value else str(isolated_env / value)
    message = refusal(monkeypatch, **{variable: path})
    assert "does not end in .db" in message and f"set {variable} to a path ending in .db" in message
    assert "another process" not in message
    if variable == "MILVUS_URI":  # a server address without its scheme reads as a file name
        assert "http://localhost:19530" in message


def test_a_database_under_a_regular_file_says_which_file_is_in_the_way(isolated_env, monkeypatch):
    (isolated_env / "notes").write_text("a file, not a folder")
    message = refusal(monkeypatch, POTION_DB_PATH=str(isolated_env / "notes" / "sub" / "potion.db"))
    assert f"{isolated_env / 'notes'} is a file, not a folder" in message and "set POTION_DB_PATH" in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a read-only folder, so there is nothing to refuse")
def test_a_read_only_folder_is_named_as_such(isolated_env, monkeypatch):
    folder = isolated_env / "locked-down"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        message = refusal(monkeypatch, POTION_DB_PATH=str(folder / "potion.db"))
    finally:
        folder.chmod(0o755)
    assert f"cannot write in {folder}" in message and "set POTION_DB_PATH" in message


def test_a_database_of_the_other_lite_line_is_named_as_such(isolated_env, monkeypatch):
    path = isolated_env / "other.db"
    if lite_version()[0] >= 3:
        path.write_bytes(b"")  # Milvus Lite 2.5 keeps a database in one file
        expected = "is a file, but Milvus Lite 3.x keeps a database in a folder"
    else:
        path.mkdir()  # Milvus Lite 3.x keeps a database in a folder
        expected = "is a folder, a Milvus Lite 3.x database"
    message = refusal(monkeypatch, POTION_DB_PATH=str(path))
    assert expected in message and "set POTION_DB_PATH" in message


LOCKED_PROBE = (
    "from core.storage import open_store\n"
    "from core.errors import StoreLockedError\n"
    "try:\n    open_store()\nexcept StoreLockedError as e:\n    print('LOCKED', e)\nelse:\n    print('OPENED')\n"
)


def test_a_refused_second_process_leaves_the_lock_for_the_next_one(store):
    # Milvus Lite 2.5 deletes the lock file on a refused open, letting the next process open the database too.
    for attempt in ("second", "third"):
        out = subprocess.run([sys.executable, "-c", LOCKED_PROBE], capture_output=True, text=True, timeout=120)
        assert out.stdout.startswith("LOCKED") and "is open in another process" in out.stdout, (attempt, out)
        assert "Traceback" not in out.stderr, out.stderr[-2000:]
    assert store.catalog.names() == []  # the first process still works


# --- a Milvus server --------------------------------------------------------------------------------------------


def test_a_server_that_does_not_answer_is_named_and_milvus_uri_is_the_fix(monkeypatch):
    uri = f"http://127.0.0.1:{free_port()}"
    message = refusal(monkeypatch, MILVUS_URI=uri)
    assert message == f"Cannot connect to Milvus at {uri}: nothing answers there; start the server or fix MILVUS_URI."


def test_the_cli_says_a_server_does_not_answer_in_one_line_without_a_traceback(monkeypatch):
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MILVUS_URI", uri)
    out = subprocess.run(
        [sys.executable, "-m", "core", "libraries"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.splitlines() == [
        f"error: Cannot connect to Milvus at {uri}: nothing answers there; start the server or fix MILVUS_URI."
    ], out.stderr[-2000:]


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # the test's output is not the place
        pass


@pytest.fixture
def web_server():
    """An HTTP/1 server: something answers, but not Milvus' gRPC."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), QuietHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_something_that_answers_but_is_not_milvus_is_told_apart_from_silence(monkeypatch, web_server):
    message = refusal(monkeypatch, MILVUS_URI=web_server)
    assert "something answers there, but not as a Milvus server" in message and "MILVUS_URI" in message


def test_a_served_lite_database_takes_any_token_and_the_cli_prints_nothing_on_stderr(tmp_path, monkeypatch):
    # Milvus Lite checks no tokens, hence the stand-in below for a server that does; and pymilvus logs a
    # traceback for every call Lite 2.5 does not implement (the server version) unless its import is quieted.
    port = free_port()
    command = [sys.executable, "-m", "core", "serve", "--db", tmp_path / "srv" / "served.db", "--port", port]
    with serve(command, ready_text="listening on", cwd=ROOT):
        monkeypatch.setenv("MILVUS_URI", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("MILVUS_TOKEN", "root:anything")
        out = subprocess.run(
            [sys.executable, "-m", "core", "libraries", "--json"], capture_output=True, text=True, timeout=120, cwd=ROOT
        )
    assert (out.returncode, out.stdout.strip(), out.stderr) == (0, "[]", "")


class RefuseWrongTokens(grpc.GenericRpcHandler):
    """Refuses every call whose token is not GOOD_TOKEN the way a Milvus proxy with authorization on does."""

    def service(self, handler_call_details):
        given = dict(handler_call_details.invocation_metadata).get("authorization", "")

        def answer(request, context):
            if given != base64.b64encode(GOOD_TOKEN.encode()).decode():
                context.abort(
                    grpc.StatusCode.UNAUTHENTICATED,
                    "auth check failure, please check username and password are correct",
                )
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "this stand-in only checks tokens")

        return grpc.unary_unary_rpc_method_handler(answer)


@pytest.fixture
def token_checking_server():
    # No Milvus that checks tokens runs here (Milvus Lite takes any token), so this stands in for its gate.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[RefuseWrongTokens()])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop(grace=None)


def test_a_refused_token_is_named_and_milvus_token_is_the_fix(monkeypatch, token_checking_server):
    message = refusal(monkeypatch, MILVUS_URI=token_checking_server, MILVUS_TOKEN="root:wrong")
    uri = token_checking_server
    assert message == f"The Milvus server at {uri} refused MILVUS_TOKEN: set it to a valid token or user:password."


def test_a_missing_token_is_named_as_missing(monkeypatch, token_checking_server):
    message = refusal(monkeypatch, MILVUS_URI=token_checking_server)
    assert "asks for credentials and MILVUS_TOKEN is empty: set MILVUS_TOKEN" in message


def test_a_server_that_takes_the_token_is_not_said_to_refuse_it(monkeypatch, token_checking_server):
    message = refusal(monkeypatch, MILVUS_URI=token_checking_server, MILVUS_TOKEN=GOOD_TOKEN)
    assert "MILVUS_TOKEN" in message and "refused" not in message and "asks for credentials" not in message


def test_milvus_need_authenticate_code_reads_as_a_refused_token():
    from pymilvus.exceptions import MilvusException

    settings = replace(load_settings(), milvus_uri="http://127.0.0.1:1", milvus_token="t")
    error = server_error(settings, MilvusException(code=1800, message="user hasn't authenticated"))
    assert "refused MILVUS_TOKEN" in str(error)
