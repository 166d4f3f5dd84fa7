"""Opening a Milvus connection: the URI checks, the pymilvus import, and the engine logs we silence."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Any

from core.config import Settings
from core.errors import StoreConfigError, StoreLockedError

LITE2_DB_NAME = re.compile(r"^[a-zA-Z0-9.\-_]{1,33}\.db$")  # Milvus Lite 2.x: at most 36 characters in all


def lite_version() -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(p) for p in re.findall(r"\d+", version("milvus-lite"))[:3])


def import_pymilvus() -> None:
    """Import pymilvus with MILVUS_URI hidden when it names a Lite file.

    pymilvus reads MILVUS_URI at import for its ORM default connection and refuses a file path there,
    while we accept one (the same variable picks a Lite database or a server)."""
    import os
    import sys

    # grpc's C core prints keepalive notices ("GOAWAY ... too_many_pings") straight to stderr during
    # long calls; they are harmless and read like failures on the command line. Set before grpc loads.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    uri = os.environ.get("MILVUS_URI", "")
    if "pymilvus" in sys.modules or uri.startswith(("http://", "https://", "tcp://", "unix:")):
        return
    os.environ.pop("MILVUS_URI", None)
    try:
        import pymilvus  # noqa: F401
    finally:
        if uri:
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


def connect(settings: Settings) -> Any:
    """A MilvusClient for the configured URI, or one StoreError saying what to set."""
    import_pymilvus()
    silence_engine_logs()
    from pymilvus import MilvusClient
    from pymilvus.exceptions import ConnectionConfigException, MilvusException

    if settings.is_lite:
        _check_lite_path(Path(settings.milvus_uri))
    try:
        return MilvusClient(uri=settings.milvus_uri, token=settings.milvus_token)
    except ConnectionConfigException as exc:
        if settings.is_lite:
            raise StoreLockedError(
                f"The database {settings.milvus_uri} is open in another process: close that app or CLI run, "
                "or point MILVUS_URI at a Milvus server to share one database."
            ) from exc
        raise StoreConfigError(f"Cannot connect to Milvus at {settings.milvus_uri}: {exc.message}.") from exc
    except MilvusException as exc:
        raise StoreConfigError(
            f"Cannot connect to Milvus at {settings.milvus_uri}: {exc.message}. Check MILVUS_URI and MILVUS_TOKEN."
        ) from exc


def _check_lite_path(path: Path) -> None:
    major = lite_version()[0]
    if major < 3:
        if path.is_dir():
            raise StoreConfigError(
                f"{path} is a folder, a Milvus Lite 3.x database; this install runs Milvus Lite 2.5, which keeps "
                "a database in one file: set POTION_DB_PATH to a new .db file and index again."
            )
        if not LITE2_DB_NAME.match(path.name):
            raise StoreConfigError(
                f"The database file name '{path.name}' cannot be used: Milvus Lite 2.5 needs letters, digits, "
                "'.', '-', '_', at most 36 characters, ending in .db: set POTION_DB_PATH, e.g. data/potion.db."
            )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreConfigError(
            f"Cannot create the folder {path.parent} for the database ({exc.strerror}): "
            "set POTION_DB_PATH or POTION_DATA_DIR to a writable place."
        ) from exc


def server_version(client: Any) -> str:
    try:
        return str(client.get_server_version())
    except Exception:  # Milvus Lite 2.5 does not implement the call
        return "lite"
