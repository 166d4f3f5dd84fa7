"""Opening a Milvus connection: the URI checks, the pymilvus import, and the engine logs we silence."""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.config import Settings
from core.errors import StoreConfigError, StoreLockedError
from core.lifetime import children_keep_interrupts_blocked
from core.storage import keeper
from core.storage.engine import GRPC_OPTIONS, EngineClient
from core.storage.keeper import KeptEngine

LITE2_DB_NAME = re.compile(r"^[a-zA-Z0-9.\-_]{1,33}\.db$")  # Milvus Lite 2.x: at most 36 characters in all


def lite_version() -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(p) for p in re.findall(r"\d+", version("milvus-lite"))[:3])


def import_pymilvus() -> None:
    """Import pymilvus with MILVUS_URI hidden when it names a Lite file.

    pymilvus reads MILVUS_URI at import for its ORM default connection and refuses a file path there,
    while we accept one (the same variable picks a Lite database or a server)."""
    import sys

    # grpc's C core prints keepalive notices ("GOAWAY ... too_many_pings") straight to stderr during
    # long calls; they are harmless and read like failures on the command line. Set before grpc loads.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    if "pymilvus" in sys.modules:
        return
    uri = os.environ.get("MILVUS_URI", "")
    # Imported now for a server too: the import sets pymilvus' log levels, which silence_engine_logs then lowers.
    hide = bool(uri) and not uri.startswith(("http://", "https://", "tcp://", "unix:"))
    if hide:
        os.environ.pop("MILVUS_URI")
    try:
        import pymilvus  # noqa: F401
    finally:
        if hide:
            os.environ["MILVUS_URI"] = uri


class _QuietLiteLogs(logging.Filter):
    """Milvus Lite 2.x logs its own errors on the root logger (a second process opening a locked file, say);
    we raise a one-line StoreError for each, so the engine's copy would only print a duplicate."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "milvus_lite" not in record.pathname


def silence_engine_logs() -> None:
    # Process-wide, and on purpose: every engine error becomes a StoreError with a message of ours, and
    # pymilvus and Milvus Lite would otherwise print the same error (often with a traceback) to stderr,
    # including harmless ones such as Lite 3.x's "AllocTimestamp not implemented" on create.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    logging.getLogger("milvus_lite").setLevel(logging.CRITICAL)
    root = logging.getLogger()
    if not any(isinstance(f, _QuietLiteLogs) for f in root.filters):
        root.addFilter(_QuietLiteLogs())
    # Milvus Lite 2.5.1 imports pkg_resources (hence setuptools<81), which warns on every import since 80.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)


def connect(settings: Settings, keep_engine: bool = False) -> EngineClient:
    """A client for the configured URI, which comes back by itself after the engine dies (core.storage.engine),
    or one StoreError saying what is wrong and what to set.

    A Lite database whose kept engine runs is reached through it (core.storage.keeper), whoever asks; with
    `keep_engine` (the app) one is started when none runs and POTION_KEEP_ENGINE_MINUTES is above 0. The client's
    settings then name the engine's address."""
    import_pymilvus()
    silence_engine_logs()
    if settings.is_lite:
        joined = _kept_engine(settings, keep_engine)
        if joined is not None:
            kept, lease = joined
            served = replace(settings, milvus_uri=kept.uri)
            try:
                return EngineClient(served, lambda: _connect_server(served), kept=kept, lease=lease)
            except BaseException:
                lease.release()
                raise
        return EngineClient(settings, lambda: _connect_lite(settings))
    return EngineClient(settings, lambda: _connect_server(settings))


def _kept_engine(settings: Settings, start: bool) -> tuple[KeptEngine, keeper.Lease] | None:
    """The kept engine to talk to, with this process's lease on it (taken first, so it cannot go idle meanwhile)."""
    if not keeper.keeps_engines():
        return None
    path = Path(settings.milvus_uri)
    _check_lite_path(settings, path)
    if str(path.resolve()) in _OPENED:
        # This process has the database open itself, and probing its lock (as starting an engine does) would drop it.
        return None
    lease = keeper.Lease(path)
    try:
        found = keeper.find(path)
        if found is None and start and settings.keep_engine_minutes > 0:
            found = keeper.ensure(path, settings.keep_engine_minutes)
    except BaseException:
        lease.release()
        raise
    if found is None:
        lease.release()
        return None
    return found, lease


# Each store has its own connection (not pymilvus' one per address, shared by every client in the process), so
# a store that replaces it after the engine restarted closes a channel no one else uses.
def _client_options() -> dict[str, Any]:
    return {"dedicated": True, "grpc_options": dict(GRPC_OPTIONS)}


# --- Milvus Lite: a local database file (2.5) or folder (3.x) ------------------------------------------------------

_OPENED: set[str] = set()  # Lite databases this process opened; pymilvus keeps each engine (and its lock) until exit


def _connect_lite(settings: Settings) -> Any:
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    path = Path(settings.milvus_uri)
    _check_lite_path(settings, path)
    key = str(path.resolve())
    # Asked before pymilvus tries: on Lite 2.5 a refused attempt deletes the lock file the other process holds,
    # after which a third process would open the same database unhindered. Only when this process has not opened
    # the path itself: closing a probe of a POSIX lock this process holds would release that lock.
    if key not in _OPENED and lite_lock_held(path):
        raise _locked(settings)
    try:
        # The engine starts here; it ends by itself once this process dies (it watches the lock this process
        # holds), and a Ctrl-C sent to the whole terminal group is left to this process to handle.
        with children_keep_interrupts_blocked():
            client = MilvusClient(uri=settings.milvus_uri, token=settings.milvus_token, **_client_options())
    except OSError as exc:  # Lite 2.5 creates its lock file without a guard
        raise StoreConfigError(
            f"Cannot write the database {path} ({exc.strerror or exc}): set {_folder_variable(settings)} "
            "to a path in a writable folder."
        ) from exc
    except MilvusException as exc:  # pymilvus says "Open local milvus failed" whatever the reason
        if lite_lock_held(path):  # it took the lock between our look and its own
            raise _locked(settings) from exc
        raise StoreConfigError(
            f"Milvus Lite could not open the database {path} ({exc.message}): check that it is a Milvus Lite "
            f"{lite_version()[0]}.x database, or set {_path_variable(settings)} to a new .db path."
        ) from exc
    _OPENED.add(key)
    return client


def _locked(settings: Settings) -> StoreLockedError:
    return StoreLockedError(
        f"The database {settings.milvus_uri} is open in another process: stop that app or CLI run, or share "
        "the database with `python -m core serve` and point MILVUS_URI at the address it prints."
    )


def lite_lock_held(path: Path) -> bool:
    """Whether another process holds the installed Milvus Lite engine's lock on the database at `path`."""
    import fcntl  # Milvus Lite runs on Linux and macOS only

    if lite_version()[0] >= 3:
        lock_file, lock = Path(os.path.abspath(path)) / "LOCK", fcntl.flock
    else:
        resolved = path.absolute().resolve()
        lock_file, lock = resolved.parent / f".{resolved.name}.lock", fcntl.lockf
    try:
        fd = os.open(lock_file, os.O_RDONLY)
    except OSError:  # no lock file, so no lock
        return False
    try:
        # Shared, so a read-only descriptor will do: it conflicts only with the engine's exclusive lock.
        lock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        lock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _path_variable(settings: Settings) -> str:
    """The variable that chose the Lite path: MILVUS_URI when it was set (it wins), else POTION_DB_PATH."""
    return "MILVUS_URI" if settings.milvus_uri != str(settings.lite_path) else "POTION_DB_PATH"


def _folder_variable(settings: Settings) -> str:
    variable = _path_variable(settings)
    if variable == "POTION_DB_PATH" and settings.lite_path == settings.data_dir / "potion.db":
        return "POTION_DB_PATH or POTION_DATA_DIR"  # the default path lives under the data folder
    return variable


def _check_lite_path(settings: Settings, path: Path) -> None:
    variable = _path_variable(settings)
    if not settings.milvus_uri.endswith(".db"):  # pymilvus' own test for a Lite URI, on both Lite lines
        server = ", or to a server address such as http://localhost:19530" if variable == "MILVUS_URI" else ""
        raise StoreConfigError(
            f"The database path {settings.milvus_uri} does not end in .db, which Milvus Lite needs: "
            f"set {variable} to a path ending in .db, e.g. data/potion.db{server}."
        )
    if lite_version()[0] < 3:
        if path.is_dir():
            raise StoreConfigError(
                f"{path} is a folder, a Milvus Lite 3.x database; this install runs Milvus Lite 2.5, which keeps "
                f"a database in one file: set {variable} to a new .db file and index again."
            )
        if not LITE2_DB_NAME.match(path.name):
            raise StoreConfigError(
                f"The database file name '{path.name}' cannot be used: Milvus Lite 2.5 needs letters, digits, "
                f"'.', '-', '_', at most 36 characters, ending in .db: set {variable}, e.g. data/potion.db."
            )
    elif path.exists() and not path.is_dir():
        raise StoreConfigError(
            f"{path} is a file, but Milvus Lite 3.x keeps a database in a folder (it cannot open a Milvus Lite 2.5 "
            f"database file): set {variable} to a new .db path and index again."
        )
    _check_folder(settings, path)


def _check_folder(settings: Settings, path: Path) -> None:
    where = _folder_variable(settings)
    folder = path.parent
    nearest = next(p for p in (folder, *folder.parents) if p.exists())
    if not nearest.is_dir():
        raise StoreConfigError(
            f"Cannot create the database {path}: {nearest} is a file, not a folder: set {where} "
            "to a path in a writable folder."
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreConfigError(
            f"Cannot create the folder {folder} for the database ({exc.strerror}): set {where} to a writable place."
        ) from exc
    # The engine writes next to a 2.5 file (its lock) and inside a 3.x folder.
    written = path if path.is_dir() else folder
    if not os.access(written, os.W_OK | os.X_OK):
        raise StoreConfigError(
            f"Cannot write the database {path}: this user cannot write in {written}: set {where} "
            "to a path in a writable folder."
        )
    if path.is_file() and not os.access(path, os.R_OK | os.W_OK):
        raise StoreConfigError(
            f"Cannot write the database {path}: this user cannot write the file: set {where} to another path."
        )


# --- a Milvus server ---------------------------------------------------------------------------------------------

# pymilvus waits 10 s for a server that does not answer; one reachable over a network answers well within this.
SERVER_CONNECT_TIMEOUT_S = 5.0
_PROBE_TIMEOUT_S = 1.0
NEED_AUTHENTICATE = 1800  # Milvus' error code for a request without valid credentials (merr.ErrNeedAuthenticate)


def _connect_server(settings: Settings) -> Any:
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    try:
        return MilvusClient(
            uri=settings.milvus_uri, token=settings.milvus_token, timeout=SERVER_CONNECT_TIMEOUT_S, **_client_options()
        )
    except ValueError as exc:  # urllib's parse of the address, a port that is not a number say
        raise StoreConfigError(
            f"MILVUS_URI {settings.milvus_uri} is not a server address ({exc}): set it to http://host:port "
            "or to a .db path."
        ) from exc
    except MilvusException as exc:
        raise server_error(settings, exc) from exc


def server_error(settings: Settings, exc: BaseException) -> StoreConfigError:
    """The message for a failed connection to a server, from what the server said and whether anything answers."""
    uri = settings.milvus_uri
    if _refused_credentials(exc):
        if not settings.milvus_token:
            return StoreConfigError(
                f"The Milvus server at {uri} asks for credentials and MILVUS_TOKEN is empty: set MILVUS_TOKEN "
                "to a token or user:password."
            )
        return StoreConfigError(
            f"The Milvus server at {uri} refused MILVUS_TOKEN: set it to a valid token or user:password."
        )
    reach = _reach(uri)
    if reach == "silent":
        return StoreConfigError(
            f"Cannot connect to Milvus at {uri}: nothing answers there; start the server or fix MILVUS_URI."
        )
    if reach == "unknown host":
        return StoreConfigError(f"Cannot connect to Milvus at {uri}: no such host; fix MILVUS_URI.")
    if reach == "answers" and _grpc_codes(exc) & {"UNAVAILABLE", "DEADLINE_EXCEEDED"}:
        return StoreConfigError(
            f"Cannot connect to Milvus at {uri}: something answers there, but not as a Milvus server: check the "
            "port (Milvus serves gRPC on 19530) and http or https in MILVUS_URI."
        )
    message = (getattr(exc, "message", "") or str(exc)).rstrip(". ")
    return StoreConfigError(f"Cannot connect to Milvus at {uri}: {message}. Check MILVUS_URI and MILVUS_TOKEN.")


CONNECT_FAILED = 2  # pymilvus' code for "Fail connecting to server" (its reconnect found nothing answering)


def server_unreachable(uri: str, exc: BaseException) -> bool:
    """Whether a failed call means the server is gone (stopped, restarting), rather than refusing the request."""
    from pymilvus.exceptions import MilvusException

    if _grpc_codes(exc) & {"UNAVAILABLE", "DEADLINE_EXCEEDED"}:
        return True
    if any(isinstance(error, MilvusException) and error.code == CONNECT_FAILED for error in _chain(exc)):
        return True
    return _reach(uri) != "answers"


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and the ones it was raised from: pymilvus wraps the gRPC error that says what happened."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _grpc_codes(exc: BaseException) -> set[str]:
    import grpc

    return {error.code().name for error in _chain(exc) if isinstance(error, grpc.RpcError) and hasattr(error, "code")}


def _refused_credentials(exc: BaseException) -> bool:
    import grpc
    from pymilvus.exceptions import MilvusException

    if "UNAUTHENTICATED" in _grpc_codes(exc):  # what Milvus 2.4+ answers a bad or missing token with
        return True
    for error in _chain(exc):
        if isinstance(error, MilvusException):
            if error.code == NEED_AUTHENTICATE:
                return True
            text = error.message
        elif isinstance(error, grpc.RpcError) and hasattr(error, "details"):
            text = error.details()
        else:
            continue
        if "auth check failure" in (text or ""):  # Milvus 2.2 and 2.3 send it under another code
            return True
    return False


def _reach(uri: str) -> str:
    """Whether anything accepts a connection at the server address: answers, silent, unknown host or unknown."""
    import socket
    from urllib.parse import urlparse

    try:
        if uri.startswith("unix:"):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(_PROBE_TIMEOUT_S)
                sock.connect(uri.removeprefix("unix:"))
            return "answers"
        parsed = urlparse(uri)
        port = parsed.port or (443 if parsed.scheme == "https" else 19530)  # pymilvus' defaults
        with socket.create_connection((parsed.hostname or "localhost", port), timeout=_PROBE_TIMEOUT_S):
            return "answers"
    except socket.gaierror as exc:  # "unknown" when no name server answered either
        return "unknown host" if exc.errno == socket.EAI_NONAME else "unknown"
    except OSError:
        return "silent"
    except ValueError:  # an address urllib cannot parse
        return "unknown"


def server_version(client: Any) -> str:
    try:
        return str(client.get_server_version())
    except Exception:  # Milvus Lite 2.5 does not implement the call
        return "lite"
