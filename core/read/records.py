"""JSON and JSONL collections: one document per record carrying a text field (BEIR corpus style); and the JSON
lines of any JSONL file, read one at a time (`json_lines`), as the evaluation's files are."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from core.errors import DocumentError
from core.read.formats import Extracted, clean_text, corrupt_error, decode_text_file, error_detail

TEXT_KEYS = ("text", "content", "body", "abstract")
ID_KEYS = ("id", "_id")
LIST_KEYS = ("data", "records", "documents")
_NOT_ALNUM = re.compile(r"[\W_]+")
_SAME_PREFIX = 4

# A collection yields one (display name, result) pair per record; one bad record is one failure.
Part = tuple[str, Extracted | DocumentError]


def read_json(data: bytes, name: str) -> list[Part]:
    """A list of records with a text field gives one part per record; other JSON one flat part."""
    try:
        value = json.loads(decode_text_file(data, name))
    except (ValueError, RecursionError) as exc:
        raise corrupt_error(name, "JSON", exc) from exc
    records = _record_list(value)
    if records is None:
        return [(name, Extracted(clean_text("\n".join(_flatten(value)))))]
    return [_record(name, record, str(index)) for index, record in enumerate(records)]


def read_jsonl(data: bytes, name: str) -> list[Part]:
    """One record per line (BEIR corpus.jsonl); a bad line is one failure named "file:line"."""
    return list(jsonl_parts(decode_text_file(data, name).split("\n"), name))


def jsonl_parts(lines: Iterable[str], name: str) -> Iterator[Part]:
    """The parts of a JSONL collection's lines (a list, or core.read.text_lines.TextLines streaming a file), read
    twice: first until a record with a text field says the lines are records (the first line, in a BEIR corpus),
    then for the parts, one at a time."""
    values = (_parse_line(line) for line in lines if line.strip())
    as_records = any(isinstance(value, dict) and _has_text_field(value) for value in values)
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield _jsonl_part(name, number, _parse_line(line), as_records)


def json_lines(
    lines: Iterable[str], source: str, refuse: Callable[[str, ValueError], Exception]
) -> Iterator[tuple[int, Any]]:
    """Each line's number (from 1, blank lines counted but skipped) and its JSON value. A line that is not JSON
    raises `refuse(where, error)`, `where` naming the file and the line ("corpus.jsonl line 3"): the caller's one
    sentence says what the line should be."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise refuse(f"{source} line {number}", exc) from exc
        yield number, value


def _parse_line(line: str) -> Any:
    """The line's JSON value, or the exception that parsing it raised."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as exc:
        return exc


def _jsonl_part(name: str, number: int, value: Any, as_records: bool) -> Part:
    if isinstance(value, Exception):
        message = (
            f"{name} line {number} is not valid JSON ({error_detail(value)}): "
            "fix or remove that line and upload the file again."
        )
        return f"{name}:{number}", DocumentError("corrupt", message)
    if as_records and isinstance(value, dict):
        return _record(name, value, str(number))
    source_id = (record_id(value) if isinstance(value, dict) else None) or str(number)
    flat = clean_text("\n".join(_flatten(value)))
    return f"{name}#{source_id}", Extracted(flat, source_id=source_id)


def _has_text_field(record: dict) -> bool:
    return any(key in record for key in TEXT_KEYS)


def _record_list(value: Any) -> list[dict] | None:
    if isinstance(value, dict):
        value = next((value[key] for key in LIST_KEYS if isinstance(value.get(key), list)), None)
    if not isinstance(value, list) or not value or not all(isinstance(item, dict) for item in value):
        return None
    return value if any(_has_text_field(item) for item in value) else None


def record_id(record: dict) -> str | None:
    """A record's own id (BEIR's "_id", or "id"), trimmed; None when it has none."""
    for key in ID_KEYS:
        if record.get(key) is not None and str(record[key]).strip():
            return str(record[key]).strip()
    return None


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):  # e.g. SciFact's original "abstract": [sentence, ...]
        return " ".join(str(item) for item in value if item is not None)
    return str(value)


def _record(name: str, record: dict, fallback_id: str) -> Part:
    """A record's text is its title then its body, as BEIR tools embed them; no title twice."""
    source_id = record_id(record) or fallback_id
    part_name = f"{name}#{source_id}"
    title = " ".join(_as_text(record.get("title")).split())
    fields = (clean_text(_as_text(record.get(key))) for key in TEXT_KEYS)
    body = next((field for field in fields if field.strip()), "")
    if not body.strip() and not title:
        message = f"{part_name} has no text: fill in its text field or leave the record out."
        return part_name, DocumentError("empty", message)
    if title and not _opens_with(body, title):
        body = f"{title}\n\n{body}".strip()
    return part_name, Extracted(body, title=title or None, source_id=source_id)


def _opens_with(body: str, title: str) -> bool:
    """True if the body already starts with the title, give or take case, punctuation and a typo."""
    from difflib import SequenceMatcher

    wanted = _NOT_ALNUM.sub("", title.casefold())
    start = _NOT_ALNUM.sub("", body[: len(title) * 2].casefold())[: len(wanted)]
    if start == wanted:
        return True
    # Cranfield's titles and texts differ by typos in two records ("oseen's" / "oseens's"), past their
    # first letters. A body that differs within them (most SciFact records) is ruled out before
    # SequenceMatcher, which made reading SciFact 4x slower.
    if len(wanted) < 20 or start[:_SAME_PREFIX] != wanted[:_SAME_PREFIX]:
        return False
    matcher = SequenceMatcher(None, wanted, start)
    return matcher.quick_ratio() >= 0.9 and matcher.ratio() >= 0.9


def _flatten(value: Any, path: str = "") -> Iterator[str]:
    """String values as "path: value" lines, with paths like "authors[0].name"."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{path}[{index}]")
    elif isinstance(value, str) and value.strip():
        yield f"{path}: {value}" if path else value
