"""Filter expressions: the one place where values meet the engine's expression grammar."""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import FilterValueError


def quote(value: str) -> str:
    """A double-quoted string literal for a Milvus filter, escaping exactly what the grammar needs.

    Backslash and double quote are escaped. Nothing else is: `json.dumps` writes non-ASCII as \\u
    escapes, which Milvus Lite 3.x rejects and 2.5.1 matches against the escape text itself. A line
    break has no spelling that every engine reads back (2.5.1 keeps `\\n` as two characters), so it is
    refused here; stores filter on hex keys (`doc_key`) and never need one."""
    if "\n" in value or "\r" in value:
        raise FilterValueError(f"{value!r} has a line break, which no Milvus filter literal holds on every engine.")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def field_in(field: str, values: Sequence[str]) -> str:
    """`field in ["a", "b"]`, or `field == "a"` for one value."""
    if len(values) == 1:
        return f"{field} == {quote(values[0])}"
    return f"{field} in [{', '.join(quote(v) for v in values)}]"
