"""Saved evaluation runs' storage face, `store.runs`: a run kept whole under its id, with a small summary to list.

The store knows a run only as two JSON objects, its summary and the whole run (core.evaluate.saved makes and reads
them). A run with 300 queries of 100 documents is about 1 MB of JSON, past the 64 KB a Milvus VARCHAR holds, so
MilvusRuns keeps it zlib-compressed and base64'd in numbered parts, then the summary row naming how many parts there
are and their digest. The summary is written last and deleted first, and a listing counts each run's parts, so a
reader sees a run whole or not at all: one whose write or delete was interrupted is neither listed nor read."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import zlib
from abc import ABC, abstractmethod
from collections import Counter
from typing import Any

from core.storage.consistency import EXACT, settle
from core.storage.filters import quote
from core.storage.schema import REGISTRY_DIM, OwnCollection, runs_schema
from core.storage.state import StoreState, engine_call

RUNS = "potion__runs"
SUMMARY = -1  # the part number of a run's summary row
PART_CHARS = 60_000  # of base64 text per part: under the VARCHAR limit (65,535 bytes), ASCII so a char is a byte
PARTS_PER_WRITE = 8  # rows per upsert: about 0.5 MB a call
PAGE = 1_000  # summary rows per read


class Runs(ABC):
    @abstractmethod
    def put(self, run_id: str, summary: dict, run: dict) -> None:
        """Keep `run` under `run_id` with its `summary` (both JSON values), replacing a run of that id."""

    @abstractmethod
    def list(self) -> list[dict]:
        """The summary of every run kept whole, in no particular order."""

    @abstractmethod
    def get(self, run_id: str) -> dict | None:
        """The whole run, or None when there is none (or it is not all there)."""

    @abstractmethod
    def delete(self, run_id: str) -> bool:
        """Remove the run; whether there was one."""


class MemoryRuns(Runs):
    """Runs as JSON text, so what comes out is a copy, as from a database."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, tuple[str, str]] = {}

    def put(self, run_id: str, summary: dict, run: dict) -> None:
        kept = (json.dumps(summary, ensure_ascii=False), json.dumps(run, ensure_ascii=False))
        with self._lock:
            self._runs[run_id] = kept

    def list(self) -> list[dict]:
        with self._lock:
            return [json.loads(summary) for summary, _ in self._runs.values()]

    def get(self, run_id: str) -> dict | None:
        with self._lock:
            kept = self._runs.get(run_id)
        return None if kept is None else json.loads(kept[1])

    def delete(self, run_id: str) -> bool:
        with self._lock:
            return self._runs.pop(run_id, None) is not None


def pack(run: dict) -> list[str]:
    """The run as compressed, base64'd parts of at most PART_CHARS characters (at least one)."""
    blob = base64.b64encode(zlib.compress(json.dumps(run, ensure_ascii=False).encode("utf-8"))).decode("ascii")
    return [blob[start : start + PART_CHARS] for start in range(0, max(len(blob), 1), PART_CHARS)]


def unpack(parts: list[str]) -> dict:
    return json.loads(zlib.decompress(base64.b64decode("".join(parts))).decode("utf-8"))


def digest(parts: list[str]) -> str:
    return hashlib.sha256("".join(parts).encode("ascii")).hexdigest()


class MilvusRuns(Runs):
    """One collection of the store's own, made on the first run saved (a database never evaluated has none)."""

    def __init__(self, state: StoreState) -> None:
        self.state = state
        self.collection = OwnCollection(state, RUNS, runs_schema)

    @engine_call("save the evaluation run")
    def put(self, run_id: str, summary: dict, run: dict) -> None:
        self.collection.exists(create=True)
        client, parts = self.state.client, pack(run)
        rows = [self._row(run_id, number, part) for number, part in enumerate(parts)]
        for start in range(0, len(rows), PARTS_PER_WRITE):
            client.upsert(RUNS, rows[start : start + PARTS_PER_WRITE])
        head = {"summary": summary, "parts": len(parts), "digest": digest(parts)}
        self._write_summary(run_id, head)
        # A run saved again under its id (imported twice, say) may have had more parts.
        client.delete(RUNS, filter=f"run == {quote(run_id)} and part >= {len(parts)}")

    def _write_summary(self, run_id: str, head: dict) -> None:
        self.state.client.upsert(RUNS, [self._row(run_id, SUMMARY, json.dumps(head, ensure_ascii=False))])

    @staticmethod
    def _row(run_id: str, part: int, meta: str) -> dict[str, Any]:
        placeholder = [0.0] * REGISTRY_DIM
        return {"key": f"{run_id}:{part}", "run": run_id, "part": part, "meta": meta, "placeholder": placeholder}

    @engine_call("list the saved runs", read=True)
    def list(self) -> list[dict]:
        if not self.collection.exists(create=False):
            return []
        heads = {row["run"]: json.loads(row["meta"]) for row in self._rows(f"part == {SUMMARY}", ["run", "meta"])}
        counted = Counter(row["run"] for row in self._rows("part >= 0", ["run"]))
        return [head["summary"] for run_id, head in heads.items() if counted[run_id] == head["parts"]]

    @engine_call("read the saved run", read=True)
    def get(self, run_id: str) -> dict | None:
        if not self.collection.exists(create=False):
            return None
        rows = {row["part"]: row["meta"] for row in self._rows(f"run == {quote(run_id)}", ["part", "meta"], 16)}
        if SUMMARY not in rows:
            return None
        head = json.loads(rows.pop(SUMMARY))
        parts = [rows.get(number, "") for number in range(head["parts"])]
        if len(rows) < head["parts"] or digest(parts) != head["digest"]:
            return None  # parts of a write or delete that did not finish
        return unpack(parts)

    @engine_call("delete the saved run")
    def delete(self, run_id: str) -> bool:
        if not self.collection.exists(create=False):
            return False
        client = self.state.client
        found = bool(self._rows(f"run == {quote(run_id)} and part == {SUMMARY}", ["run"]))
        client.delete(RUNS, filter=f"run == {quote(run_id)} and part == {SUMMARY}")  # unlisted first
        client.delete(RUNS, filter=f"run == {quote(run_id)}")
        return found

    def _rows(self, where: str, output: list[str], batch: int = PAGE) -> list[dict]:
        client = self.state.client
        settle(client, RUNS)
        found: list[dict] = []
        it = client.query_iterator(RUNS, batch_size=batch, filter=where, output_fields=output, consistency_level=EXACT)
        try:
            while rows := it.next():
                found.extend(rows)
        finally:
            it.close()
        return found
