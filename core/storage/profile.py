"""What the engine behind a store can do, worked out once when the store opens: the rest of the store asks this.

Milvus Lite 2.5.1 (the C++ engine in a subprocess), Milvus Lite 3.x (pure Python) and a Milvus server differ
in ways the store must follow (measured on this machine, see the design notes): which analyzers BM25 takes,
whether BM25 exists at all (it came in Milvus 2.5), whether other processes write to the same database, and
whether a query iterator sees the latest writes without being told to wait."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.config import Settings
from core.storage.schema import ANALYZERS


@dataclass(frozen=True)
class EngineProfile:
    engine: str  # "lite" (a local database file or folder), "server" (a Milvus reached over gRPC) or "memory"
    version: str  # "2.5.1", "3.2.2", "v2.3.5", ...; "lite" when a served Lite 2.5 does not say
    has_bm25: bool  # keyword search exists; a 2.3 or 2.4 server has none
    analyzers: tuple[str, ...]  # the BM25 analyzers to make a new index with, best first; () without BM25
    shared: bool  # other processes may write to the database: caches revalidate and creates may race
    settle_scans: bool  # a query iterator must be preceded by a Strong query to see the latest writes
    keeps_properties: bool  # collection properties survive a reopen (schema 1 kept provenance there)

    @property
    def label(self) -> str:
        """How the engine is named in a message: "Milvus v2.3.5" or "Milvus Lite 3.2.2"."""
        return f"Milvus Lite {self.version}" if self.engine == "lite" else f"Milvus {self.version}"


def _bm25_in(version: str) -> bool:
    found = re.match(r"v?(\d+)\.(\d+)", version)
    return found is None or (int(found[1]), int(found[2])) >= (2, 5)


def profile_for(settings: Settings, client: Any) -> EngineProfile:
    """The profile of the engine `client` talks to, asking the engine as little as possible."""
    from core.storage.connection import lite_version, server_version

    if settings.is_lite:
        installed = lite_version()
        lite3 = installed[0] >= 3
        return EngineProfile(
            engine="lite",
            version=".".join(str(p) for p in installed),
            has_bm25=True,
            # Lite 3.x has "standard" (and jieba) only; 2.5.1 runs the server's analyzers, "english" among them.
            analyzers=("standard",) if lite3 else ANALYZERS,
            shared=False,  # one process per Lite database (a lock file)
            settle_scans=False,  # Lite answers every read after every write
            keeps_properties=lite3,
        )
    version = server_version(client)
    has_bm25 = _bm25_in(version)
    return profile_of_server(version, has_bm25)


def profile_of_server(version: str, has_bm25: bool | None = None) -> EngineProfile:
    """A Milvus server of this version; Milvus 2.3's query iterator reads a just-written collection as empty
    unless a Strong query settles it first, and newer ones cost one count to settle the same way."""
    bm25 = _bm25_in(version) if has_bm25 is None else has_bm25
    return EngineProfile(
        engine="server",
        version=version,
        has_bm25=bm25,
        analyzers=ANALYZERS if bm25 else (),
        shared=True,
        settle_scans=True,
        keeps_properties=True,  # a served Lite 2.5 keeps none, but a look at an unknown collection costs little
    )


MEMORY = EngineProfile(
    engine="memory",
    version="",
    has_bm25=True,
    analyzers=("standard",),
    shared=False,
    settle_scans=False,
    keeps_properties=True,
)
