"""BEIR-style collections: a folder's corpus, queries and relevance judgments, read and checked.

A collection is a folder with corpus.jsonl ({"id"|"_id", "title", "text"}), queries.jsonl
({"id"|"_id", "text"}) and qrels.tsv (query_id, doc_id, relevance;
one header line; TREC's four columns, query_id iteration doc_id relevance, are read too).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from core.errors import PotionError
from core.read.records import json_lines, record_id

Qrels = dict[str, dict[str, int]]  # query id -> {doc id: gain}

MIN_RELEVANCE = 1  # a judgment counts as relevant from this grade up (Cranfield 1-4, SciFact 1)


class EvaluationError(PotionError):
    """An evaluation collection that cannot be read (missing file, bad line, no judgments)."""


@dataclass(frozen=True)
class CorpusDoc:
    doc_id: str
    title: str
    text: str


@dataclass(frozen=True)
class BeirDataset:
    name: str
    corpus: dict[str, CorpusDoc]
    queries: dict[str, str]
    qrels: Qrels

    @property
    def judged_queries(self) -> dict[str, str]:
        """The queries that have at least one relevant document: the ones every mean is taken over."""
        return {qid: text for qid, text in self.queries.items() if self.qrels.get(qid)}


def load_beir(directory: str | Path, min_relevance: int = MIN_RELEVANCE) -> BeirDataset:
    folder = Path(directory)
    if not folder.is_dir():
        raise EvaluationError(f"{folder} is not a folder: point to one holding corpus.jsonl, queries.jsonl, qrels.tsv.")
    return BeirDataset(
        name=folder.name,
        corpus=read_corpus(folder / "corpus.jsonl"),
        queries=read_queries(folder / "queries.jsonl"),
        qrels=read_qrels(folder / "qrels.tsv", min_relevance),
    )


def read_corpus(path: str | Path) -> dict[str, CorpusDoc]:
    docs = (
        CorpusDoc(_record_id(record, path, n), str(record.get("title") or ""), str(record.get("text") or ""))
        for n, record in _jsonl(path)
    )
    return {doc.doc_id: doc for doc in docs}


def read_queries(path: str | Path) -> dict[str, str]:
    return {_record_id(record, path, n): str(record.get("text") or "") for n, record in _jsonl(path)}


def read_qrels(path: str | Path, min_relevance: int = MIN_RELEVANCE) -> Qrels:
    """Judgments with relevance >= min_relevance; the rest (0, -1) are dropped: they add no gain.

    Columns are split on tabs where a line has them (ids may hold spaces), else on spaces; a first line whose
    relevance is not a number is a header."""
    qrels: Qrels = {}
    with _open(path) as handle:
        for number, line in enumerate(handle, start=1):
            row = _qrels_columns(line)
            if not line.strip() or (number == 1 and not _is_number(row[-1])):
                continue
            query_id, doc_id, relevance = _qrels_row(row, path, number)
            if relevance >= min_relevance:
                judged = qrels.setdefault(query_id, {})
                judged[doc_id] = max(relevance, judged.get(doc_id, relevance))
    if not qrels:
        raise EvaluationError(f"{path} has no judgment with relevance >= {min_relevance}: check the file.")
    return qrels


def _open(path: str | Path) -> TextIO:
    try:
        return open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise EvaluationError(
            f"{path} could not be opened ({exc.strerror or exc}): check the collection folder."
        ) from exc


def _jsonl(path: str | Path) -> Iterable[tuple[int, dict]]:
    with _open(path) as handle:
        for number, record in json_lines(handle, str(path), _not_json):
            if not isinstance(record, dict):
                raise EvaluationError(f"{path} line {number} is not a JSON object.")
            yield number, record


def _not_json(where: str, exc: ValueError) -> EvaluationError:
    return EvaluationError(f"{where} is not valid JSON ({exc}).")


def _record_id(record: dict, path: str | Path, number: int) -> str:
    found = record_id(record)
    if found is None:
        raise EvaluationError(f'{path} line {number} has no "id" or "_id" field.')
    return found


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _qrels_columns(line: str) -> list[str]:
    # BEIR separates columns with tabs, so ids may hold spaces; TREC qrels separate them with spaces. A tab
    # line that does not make 3 or 4 columns (a trailing tab, spaces mixed in) is read the TREC way.
    if "\t" in line:
        cells = line.rstrip("\r\n").split("\t")
        while cells and not cells[-1].strip():
            cells.pop()
        if len(cells) in (3, 4) and all(cell.strip() for cell in cells):
            return cells
    return line.split()


def _qrels_row(row: list[str], path: str | Path, number: int) -> tuple[str, str, int]:
    # BEIR has three columns; TREC qrels have four (query, iteration, doc, relevance).
    if len(row) not in (3, 4):
        raise EvaluationError(f"{path} line {number} has {len(row)} columns; expected query_id, doc_id, relevance.")
    query_id, doc_id, relevance = row[0], row[-2], row[-1]
    try:
        return query_id, doc_id, int(float(relevance))
    except ValueError as exc:
        raise EvaluationError(f"{path} line {number}: relevance {relevance!r} is not a number.") from exc
