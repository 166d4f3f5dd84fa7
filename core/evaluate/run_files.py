"""Saved runs as files: a TREC run file that trec_eval and ranx read unchanged, and a lossless JSONL of whole runs
that moves them to another database and back (as core.evaluate.judgment_files moves judgments).

TREC run lines are `qid Q0 docid rank score tag`, split on whitespace. Ids holding whitespace or "%" have those
characters percent-encoded (UTF-8, as in URLs), so every other id is written as it is. trec_eval and ranx order a
query's documents by score alone (trec_eval compares scores as single-precision floats and breaks ties by document
id, descending), so scores are written at float32 precision, and a document whose score would tie the one above it
there is written one float32 step (nextafter) below it: the order both re-derive is the run's, and a score moves
by about 1e-7 of itself per tie."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import numpy as np

from core.errors import RunFileError
from core.evaluate.saved import SavedRun, run_from_dict
from core.read.records import json_lines

TAG_MAX = 64


def trec_id(text: str) -> str:
    """An id as one TREC column: whitespace and "%" percent-encoded, everything else as it is."""
    return (
        "".join("".join(f"%{byte:02X}" for byte in c.encode("utf-8")) if c.isspace() or c == "%" else c for c in text)
        or "%00"
    )  # an empty id would leave the column out


def run_tag(name: str) -> str:
    """The run's name as TREC's last column: letters, digits, ".", "_" and "-" only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:TAG_MAX] or "run"


def trec_run(run: SavedRun) -> str:
    """The run's rankings as a TREC run file: ranks from 1, scores strictly descending within a query at the single
    precision trec_eval compares them in."""
    tag = run_tag(run.name)
    lines = []
    for query_id, docs in run.ranking.items():
        qid, previous = trec_id(query_id), np.float32(np.inf)
        for rank, (doc, score) in enumerate(docs, start=1):
            written = np.float32(score)
            if written >= previous:  # a tie, or scores only a double tells apart
                written = np.nextafter(previous, np.float32(-np.inf))
            # The shortest text that reads back as this float32: doubles read from it keep the order too.
            lines.append(f"{qid} Q0 {trec_id(doc)} {rank} {written} {tag}")
            previous = written
    return "".join(line + "\n" for line in lines)


def runs_jsonl(runs: Sequence[SavedRun]) -> str:
    """Whole runs, one JSON object per line: what `read_runs_jsonl` reads back."""
    return "".join(json.dumps(run.as_dict(), ensure_ascii=False) + "\n" for run in runs)


def read_runs_jsonl(data: bytes | str, source: str) -> list[SavedRun]:
    """Runs from `runs_jsonl` output; `source` names the file in errors."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise RunFileError(f"{source} is not UTF-8 text: export the run again with `runs export ID`.") from exc
    # Not splitlines(): it also breaks at U+2028 and U+0085, which names may hold and the JSON keeps raw.
    found = [
        run_from_dict(record, f"{source} line {n}") for n, record in json_lines(text.split("\n"), source, _not_json)
    ]
    if not found:
        raise RunFileError(f"{source} holds no runs: export one with `python -m core runs export ID --format json`.")
    return found


def _not_json(where: str, exc: ValueError) -> RunFileError:
    return RunFileError(f"{where} is not JSON ({exc}): export the run again.")
