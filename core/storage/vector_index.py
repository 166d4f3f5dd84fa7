"""The dense field's index of one (library, model): exact FLAT, the default and what evaluation uses, or an
approximate index where the engine has one. The choice is part of the index's provenance (CollectionMeta).

Written as `KIND` or `KIND:key=value,...`, e.g. `ivf_flat:nlist=1024,nprobe=32` or `hnsw:M=16,ef=64`. Build
parameters go to the engine's index, search parameters to every search. Which engine takes which kind (measured
on this machine): Milvus Lite 2.5.1 takes FLAT and IVF_FLAT and refuses HNSW; Milvus Lite 3.2.2 (faiss) and a
Milvus server take all three.
Lite 2.5.1 keeps rows in one growing segment, whose interim IVF index ignores nprobe (recall 0.736 at 100k,
bench/storage.py), which is why the recall shown beside an index is measured, never assumed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import VectorIndexError

# kind: (build parameters with defaults, search parameters with defaults)
KINDS: dict[str, tuple[dict[str, int], dict[str, int]]] = {
    "FLAT": ({}, {}),
    "IVF_FLAT": ({"nlist": 1024}, {"nprobe": 32}),
    "HNSW": ({"M": 16, "efConstruction": 200}, {"ef": 64}),
}
ENGINE_KINDS = {"lite2": ("FLAT", "IVF_FLAT"), "lite3": tuple(KINDS), "server": tuple(KINDS), "memory": ("FLAT",)}


@dataclass(frozen=True)
class VectorIndex:
    kind: str = "FLAT"
    build: dict[str, int] = field(default_factory=dict)
    search: dict[str, int] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return self.kind == "FLAT"

    @property
    def label(self) -> str:
        """ "FLAT (exact)" or "IVF_FLAT nlist=1024 nprobe=32", as pages and the CLI name it."""
        if self.exact:
            return "FLAT (exact)"
        return " ".join([self.kind, *(f"{k}={v}" for k, v in {**self.build, **self.search}.items())])

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "build": dict(self.build), "search": dict(self.search), "exact": self.exact}

    @classmethod
    def of(cls, recorded: Mapping[str, Any] | None) -> VectorIndex:
        """The index a provenance records; none recorded (every index made before the choice existed) is FLAT."""
        if not recorded:
            return FLAT
        return cls(str(recorded["kind"]), dict(recorded.get("build", {})), dict(recorded.get("search", {})))


FLAT = VectorIndex()


def parse(text: str) -> VectorIndex:
    """`KIND[:key=value,...]`, parameters defaulted per kind; VectorIndexError in one sentence otherwise."""
    kind, _, params = text.strip().partition(":")
    kind = kind.upper()
    if kind not in KINDS:
        raise VectorIndexError(f"Unknown vector index '{text}': use one of {', '.join(k.lower() for k in KINDS)}.")
    build, search = (dict(defaults) for defaults in KINDS[kind])
    for item in filter(None, (p.strip() for p in params.split(","))):
        key, _, value = item.partition("=")
        target = build if key in build else search if key in search else None
        if target is None or not value.strip().isdigit() or int(value) < 1:
            known = ", ".join([*build, *search]) or "none"
            raise VectorIndexError(
                f"Vector index parameter '{item}' is not one of {kind}'s ({known}) with a positive whole value."
            )
        target[key] = int(value)
    return VectorIndex(kind, build, search)


def engine_kinds(engine: str, version: str) -> tuple[str, ...]:
    """The kinds an engine (core.storage.profile.EngineProfile's engine and version) takes."""
    major = version.lstrip("v").split(".")[0]
    if engine == "lite" or version == "lite":  # a served Lite 2.5 does not say its version
        return ENGINE_KINDS["lite3" if major.isdigit() and int(major) >= 3 else "lite2"]
    return ENGINE_KINDS.get(engine, ("FLAT",))


def check_supported(choice: VectorIndex, engine: str, version: str, label: str) -> None:
    kinds = engine_kinds(engine, version)
    if choice.kind not in kinds:
        raise VectorIndexError(f"{label} has no {choice.kind} index: choose one of {', '.join(kinds)}.")


def index_params(choice: VectorIndex) -> dict[str, Any]:
    """What `IndexParams.add_index` takes besides the field and the metric."""
    return {"index_type": choice.kind, "params": dict(choice.build)}


def search_params(choice: VectorIndex, metric: str) -> dict[str, Any]:
    return {"metric_type": metric, "params": dict(choice.search)} if choice.search else {"metric_type": metric}
