"""`python -m core doctor`: what this installation runs on, and in plain words what is wrong with it.

Each check is independent: one that fails (a database another process holds, a missing package) says so
and the others still run, so one report names every problem at once.
"""

from __future__ import annotations

import platform
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from core.config import Settings
from core.errors import PotionError
from core.sizes import format_bytes

PACKAGES = ("streamlit", "model2vec", "pymilvus", "milvus-lite", "numpy", "tokenizers", "pypdf", "python-docx")
PROBE_LIBRARY = "potion-doctor-probe"  # created and dropped again to prove the database takes writes


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # what was found, or what is wrong and what to do

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Diagnosis:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "checks": [c.as_dict() for c in self.checks]}


def versions() -> Check:
    found, missing = [f"Python {platform.python_version()}"], []
    for package in PACKAGES:
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            missing.append(package)
    if missing:
        detail = f"{', '.join(missing)} not installed: run pip install -r requirements.txt ({'; '.join(found)})"
        return Check("versions", False, detail)
    return Check("versions", True, "; ".join(found))


def engine(settings: Settings) -> Check:
    """Which database the settings point at, and which engine serves it."""
    if not settings.is_lite:
        return Check("engine", True, f"Milvus server at {settings.milvus_uri} (MILVUS_URI)")
    try:
        lite = metadata.version("milvus-lite")
    except metadata.PackageNotFoundError:
        return Check("engine", False, "milvus-lite is not installed: run pip install -r requirements.txt")
    detail = f"Milvus Lite {lite}, database {settings.lite_path}"
    from core.storage import keeper

    kept = keeper.find(Path(settings.milvus_uri)) if keeper.keeps_engines() else None
    if kept is not None:
        detail += f"; {keeper.describe(kept)}"
    elif settings.keep_engine_minutes > 0 and keeper.keeps_engines():
        detail += f"; the app keeps its engine running for {settings.keep_engine_minutes:g} idle minutes"
    return Check("engine", True, detail)


def database(settings: Settings) -> Check:
    """Open the database, list it, and write to it (a library made and dropped again)."""
    from core.storage import open_store

    try:
        store = open_store(settings)
    except PotionError as exc:
        return Check("database", False, str(exc))
    try:
        libraries = store.catalog.names()
        if not settings.read_only:  # a read-only deployment is not written to, not even by a probe
            probe = f"{PROBE_LIBRARY}-{uuid.uuid4().hex[:8]}"
            store.catalog.create(probe)
            store.catalog.drop(probe)
        profile = store.profile
        server = f", server {profile.version}" if profile.engine == "server" and profile.version != "lite" else ""
        count = f"{len(libraries)} {'library' if len(libraries) == 1 else 'libraries'}"
        access = "read-only (POTION_READ_ONLY)" if settings.read_only else "writable"
        return Check("database", True, f"reachable and {access}{server}; {count}")
    except PotionError as exc:
        return Check("database", False, str(exc))
    finally:
        store.close()


def models(settings: Settings) -> Check:
    from core.embed.loading import list_models

    offline = [m.name for m in list_models(settings) if m.available_offline]
    if not offline:
        detail = "no model loads offline: restore data/models or set POTION_MODELS_DIR to the bundled models"
        return Check("models", False, detail)
    return Check("models", True, f"available offline: {', '.join(offline)}")


def limits(settings: Settings) -> Check:
    """The limits in force; uploads and files given by path (the CLI's) are held to different ones."""
    mb = 1024 * 1024
    parts = [
        f"uploaded file {format_bytes(settings.max_file_mb * mb, exact=True)} (POTION_MAX_FILE_MB)",
        f"upload {format_bytes(settings.max_upload_mb * mb, exact=True)} (POTION_MAX_UPLOAD_MB)",
        f"file given by path and parsed whole {format_bytes(settings.max_whole_file_mb * mb, exact=True)} "
        "(POTION_MAX_WHOLE_FILE_MB; a JSONL collection given by path is streamed, with no limit)",
        f"zip ratio {settings.zip_max_ratio:g} to 1 (POTION_ZIP_MAX_RATIO)",
        f"zip members {settings.zip_max_members:,} (POTION_ZIP_MAX_MEMBERS)",
        f"chunks per file {settings.max_chunks_per_file:,} (POTION_MAX_CHUNKS_PER_FILE)",
    ]
    bad = [
        name
        for name, value in (
            ("POTION_MAX_FILE_MB", settings.max_file_mb),
            ("POTION_MAX_UPLOAD_MB", settings.max_upload_mb),
            ("POTION_MAX_WHOLE_FILE_MB", settings.max_whole_file_mb),
            ("POTION_ZIP_MAX_RATIO", settings.zip_max_ratio),
            ("POTION_ZIP_MAX_MEMBERS", settings.zip_max_members),
            ("POTION_MAX_CHUNKS_PER_FILE", settings.max_chunks_per_file),
        )
        if value <= 0
    ]
    if bad:
        detail = f"{', '.join(bad)} must be above 0, or nothing can be indexed: {'; '.join(parts)}"
        return Check("limits", False, detail)
    return Check("limits", True, "; ".join(parts))


def diagnose(settings: Settings) -> Diagnosis:
    """Every check, each run whatever the others found."""
    steps: list[Callable[[], Check]] = [
        versions,
        lambda: engine(settings),
        lambda: database(settings),
        lambda: models(settings),
        lambda: limits(settings),
    ]
    return Diagnosis([step() for step in steps])
