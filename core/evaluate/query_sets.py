"""Query sets from what an analyst has: queries typed one per line, a text file (one per line), BEIR's queries.jsonl
({"_id"|"id": ..., "text": ...}), or the queries a library's judgments hold.

Each reader gives the queries in order, text with its runs of whitespace made one space (as judgments keep a
query, so a verdict made on a set's query is found again by it), repeats left out. Bad input is one QuerySetError
naming the file and line."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import Any

from core.errors import QuerySetError
from core.read.records import json_lines, record_id
from core.types import Judgment, SetQuery, query_id

MAX_QUERY_CHARS = 2_000  # a query row stays far below the engine's 64 KB per value
MAX_QUERIES = 5_000  # each query is searched once per column: beyond this a run takes minutes
MAX_NAME_CHARS = 200
JSONL_SUFFIXES = (".jsonl", ".json")
TYPED, JUDGMENTS = "typed", "judgments"  # a set's source when it came from no file


def normalised(text: str) -> str:
    return " ".join(text.split())


def check_name(name: str) -> str:
    """The set's name, trimmed; refused when empty, too long or holding a line break."""
    cleaned = name.strip()
    if not cleaned:
        raise QuerySetError("A query set needs a name: type one.")
    if len(cleaned) > MAX_NAME_CHARS:
        raise QuerySetError(f"A query set's name is at most {MAX_NAME_CHARS} characters; this one has {len(cleaned)}.")
    if "\n" in cleaned or "\r" in cleaned:
        raise QuerySetError("A query set's name is one line: remove the line break.")
    return cleaned


def _kept(found: Iterable[tuple[int, SetQuery]], source: str) -> list[SetQuery]:
    """The queries in order, each text once; an id used for two different texts, or too many queries, refused."""
    texts: dict[str, SetQuery] = {}
    ids: dict[str, str] = {}
    for line, query in found:
        if len(query.text) > MAX_QUERY_CHARS:
            raise QuerySetError(
                f"{source} line {line} has a query of {len(query.text):,} characters; at most {MAX_QUERY_CHARS:,} "
                "are kept: shorten it."
            )
        if ids.setdefault(query.id, query.text) != query.text:
            raise QuerySetError(f"{source} line {line} uses the id {query.id!r} of an earlier, different query.")
        texts.setdefault(query.text, query)
    if not texts:
        raise QuerySetError(f"{source} holds no query: give at least one, one per line.")
    if len(texts) > MAX_QUERIES:
        raise QuerySetError(f"{source} holds {len(texts):,} queries; a set takes at most {MAX_QUERIES:,}: split it.")
    return list(texts.values())


def _lines(text: str) -> Iterable[tuple[int, str]]:
    # Not splitlines(): it also breaks at U+2028 and U+0085, which a query may hold.
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, normalised(line)


def typed_queries(text: str, source: str = "The typed queries") -> list[SetQuery]:
    """One query per line; blank lines skipped."""
    return _kept(((n, SetQuery(query_id(line), line)) for n, line in _lines(text)), source)


def _decoded(data: bytes | str, source: str) -> str:
    try:
        return data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise QuerySetError(f"{source} is not UTF-8 text: save it as UTF-8 and upload it again.") from exc


def _not_json(where: str, exc: ValueError) -> QuerySetError:
    return QuerySetError(f'{where} is not JSON ({exc}): each line is one {{"_id", "text"}}.')


def _jsonl_query(record: Any, where: str) -> SetQuery:
    text = record.get("text") if isinstance(record, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise QuerySetError(f'{where} has no "text": each line is one {{"_id", "text"}} object.')
    text = normalised(text)
    return SetQuery(record_id(record) or query_id(text), text)


def file_queries(data: bytes | str, source: str) -> list[SetQuery]:
    """The queries of an uploaded or named file: JSONL (BEIR's queries.jsonl) by its .jsonl or .json suffix, else
    plain text with one query per line. `source` is the file's name, as errors give it."""
    text = _decoded(data, source)
    if PurePath(source).suffix.lower() not in JSONL_SUFFIXES:
        return typed_queries(text, source)
    # Each line with its runs of whitespace made one space before it is parsed, as a typed line is (and as before).
    records = json_lines(map(normalised, text.split("\n")), source, _not_json)
    return _kept(((n, _jsonl_query(record, f"{source} line {n}")) for n, record in records), source)


def judged_queries(judgments: Sequence[Judgment], library: str) -> list[SetQuery]:
    """Every query the library holds a verdict for, in the order listed (by text), with its qrels id."""
    source = f"Library '{library}'"
    if not judgments:
        raise QuerySetError(f"{source} has no judgments yet: judge some hits on the Search page, or type queries.")
    return _kept(((0, SetQuery(j.query_id, j.query)) for j in judgments), source)
