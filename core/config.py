"""All configuration in one place: environment variables with defaults (documented in the README)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    models_dir: Path
    samples_dir: Path
    milvus_uri: str
    lite_path: Path
    milvus_token: str
    default_model: str
    max_file_mb: float
    chunk_size: int
    chunk_overlap: int
    chunk_unit: str
    hub_cache: Path | None
    hub_offline: bool
    ingest_workers: int = 1
    default_library: str = "My library"
    max_upload_mb: float = 500.0  # one upload batch in all
    zip_max_ratio: float = 100.0  # uncompressed over compressed size of one archive member
    zip_max_members: int = 10_000  # files in one archive
    max_chunks_per_file: int = 100_000  # a 50 MB text file makes ~85,000 chunks of 128 tokens
    # A file given by path that must be parsed whole (every format but JSONL, which is streamed): the guard that
    # keeps a 2 GB PDF from taking the machine's memory. POTION_MAX_FILE_MB is the limit of uploads, not of paths.
    max_whole_file_mb: float = 256.0
    model_roots: tuple[Path, ...] = ()  # local model folders allowed; () allows any
    allow_hub_ids: bool = True  # any owner/name of the hub; off, only the potion catalog loads from the hub
    adapted_dir: Path = PROJECT_ROOT / "data" / "adapted"  # static models made here by `python -m core adapt`
    read_only: bool = False  # a demo: search, compare, map, costs and evaluation of existing indexes, no writes
    # Who may write once sign-in is on: emails ("alice@example.org") and domains ("@example.org"), lowercased.
    # Empty: sign-in names the actor but restricts nobody (core.access.editor_rule says it in full).
    editors: tuple[str, ...] = ()
    require_sign_in: bool = False  # signed out, the app shows a sign-in button and nothing else
    # The app keeps its Lite engine running in the background for this long after the last process leaves it, so a
    # restarted app finds its libraries loaded (core.storage.keeper); 0 opens the database in the app's process.
    keep_engine_minutes: float = 0.0

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def max_whole_file_bytes(self) -> int:
        return int(self.max_whole_file_mb * 1024 * 1024)

    @property
    def is_lite(self) -> bool:
        """True when the URI names a local Milvus Lite database rather than a server."""
        return not self.milvus_uri.startswith(("http://", "https://", "tcp://", "unix:"))


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _paths(joined: str) -> tuple[Path, ...]:
    """Folders joined by the OS path separator (: here), resolved, so a link cannot point a check astray."""
    return tuple(Path(part.strip()).expanduser().resolve() for part in joined.split(os.pathsep) if part.strip())


def _editors(joined: str) -> tuple[str, ...]:
    """POTION_EDITORS: entries split by commas, semicolons or whitespace, trimmed and lowercased (emails compare
    case-insensitively in practice: providers lowercase them, and people type them either way)."""
    return tuple(part.strip().lower() for part in re.split(r"[,;\s]+", joined) if part.strip())


def _flag(name: str, default: str) -> bool:
    return _env(name, default).lower() in ("1", "true", "yes", "on")


def load_settings() -> Settings:
    """Read the environment now (not at import), so tests and the CLI can change it."""
    data_dir = Path(_env("POTION_DATA_DIR", str(PROJECT_ROOT / "data")))
    hub_cache = os.environ.get("HF_HUB_CACHE")
    lite_path = Path(_env("POTION_DB_PATH", str(data_dir / "potion.db")))
    return Settings(
        data_dir=data_dir,
        models_dir=Path(_env("POTION_MODELS_DIR", str(PROJECT_ROOT / "data" / "models"))),
        samples_dir=Path(_env("POTION_SAMPLES_DIR", str(PROJECT_ROOT / "data" / "samples" / "docs"))),
        milvus_uri=_env("MILVUS_URI", str(lite_path)),
        lite_path=lite_path,
        milvus_token=os.environ.get("MILVUS_TOKEN", ""),
        default_model=_env("POTION_DEFAULT_MODEL", "minilm-wordnet-256"),
        max_file_mb=float(_env("POTION_MAX_FILE_MB", "50")),
        chunk_size=int(_env("POTION_CHUNK_SIZE", "128")),
        chunk_overlap=int(_env("POTION_CHUNK_OVERLAP", "26")),
        chunk_unit=_env("POTION_CHUNK_UNIT", "tokens"),
        hub_cache=Path(hub_cache) if hub_cache else None,
        hub_offline=os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"),
        ingest_workers=max(0, int(_env("POTION_INGEST_WORKERS", "1"))),
        default_library=_env("POTION_DEFAULT_LIBRARY", "My library"),
        max_upload_mb=float(_env("POTION_MAX_UPLOAD_MB", "500")),
        zip_max_ratio=float(_env("POTION_ZIP_MAX_RATIO", "100")),
        zip_max_members=int(_env("POTION_ZIP_MAX_MEMBERS", "10000")),
        max_chunks_per_file=int(_env("POTION_MAX_CHUNKS_PER_FILE", "100000")),
        max_whole_file_mb=float(_env("POTION_MAX_WHOLE_FILE_MB", "256")),
        model_roots=_paths(os.environ.get("POTION_MODEL_ROOTS", "")),
        allow_hub_ids=_env("POTION_ALLOW_HUB_IDS", "1").lower() not in ("0", "false", "no", "off"),
        adapted_dir=Path(_env("POTION_ADAPTED_DIR", str(data_dir / "adapted"))),
        read_only=_flag("POTION_READ_ONLY", "0"),
        editors=_editors(os.environ.get("POTION_EDITORS", "")),
        require_sign_in=_flag("POTION_REQUIRE_SIGN_IN", "0"),
        keep_engine_minutes=max(0.0, float(_env("POTION_KEEP_ENGINE_MINUTES", "30"))),
    )


def settings_or_environment(settings: Settings | None) -> Settings:
    """The settings a caller passed in; a caller that passes none (a script, a test) gets the environment's,
    read now. The app and the CLI load settings once at their edge and pass them down; only core's public entry
    points call this (tests/test_settings_passed_in.py lists them), every other function takes settings as given."""
    return settings if settings is not None else load_settings()
