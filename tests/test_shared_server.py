"""One database shared through `python -m core serve`: several processes write and read it at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from core.embed.loading import load_embedder
from core.ingest.pipeline import ingest
from core.storage.milvus import MilvusStore
from tests.conftest import BUNDLED_SMALL
from tests.test_server import milvus_server  # noqa: F401 - the fixture, shared

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["wing", "lift", "drag", "stall", "flow", "shock", "nozzle", "thrust", "blade", "heat", "panel", "flutter"]


def write_halves(base: Path, count: int) -> tuple[Path, Path, Path]:
    halves, whole = (base / "a", base / "b"), base / "whole"
    for folder in (*halves, whole):
        folder.mkdir(parents=True)
    for i in range(count):
        words = [WORDS[(i * 5 + j * 7) % len(WORDS)] for j in range(200)]
        text = " ".join(" ".join(words[k : k + 10]).capitalize() + "." for k in range(0, 200, 10))
        path = halves[i % 2] / f"report-{i:03d}.txt"
        path.write_text(f"Report {i}. {text}", encoding="utf-8")
        shutil.copy(path, whole / path.name)
    return *halves, whole


def test_two_cli_ingests_of_halves_through_serve_end_with_the_counts_of_one(
    milvus_server,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    monkeypatch.setenv("MILVUS_URI", milvus_server)
    first, second, whole = write_halves(tmp_path / "docs", 160)
    command = [sys.executable, "-m", "core", "ingest", "--library", "Shared", "--model", BUNDLED_SMALL, "--json"]
    env = {**os.environ}
    writers = [
        subprocess.Popen([*command, str(half)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for half in (first, second)
    ]
    outputs = [writer.communicate(timeout=300) for writer in writers]
    for writer, (out, err) in zip(writers, outputs):
        assert writer.returncode == 0, err.decode()[-2000:]
        assert json.loads(out)["documents_indexed"] == 80

    store = MilvusStore()
    try:
        reference = ingest([whole], "Whole", load_embedder(BUNDLED_SMALL), store)
        assert store.index("Shared", BUNDLED_SMALL).count_documents() == 160
        assert store.index("Shared", BUNDLED_SMALL).count() == reference.chunks_total
        shared = {(d.name, d.doc_hash, d.chunks) for d in store.index("Shared", BUNDLED_SMALL).documents()}
        assert shared == {(d.name, d.doc_hash, d.chunks) for d in store.index("Whole", BUNDLED_SMALL).documents()}
        assert [lib.name for lib in store.libraries()] == ["Shared", "Whole"]  # one registry entry, not two
    finally:
        store.close()
