"""Search results as downloadable files: CSV with one row per hit, JSON as SearchResult.as_dict()."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from core.search.query import SearchResult

# A spreadsheet runs a cell starting with one of these as a formula; tab and CR are read the same way by some.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_NOTE = (
    "UTF-8 CSV. Text cells starting with = + - @ (or a tab) get a leading single quote, "
    "so a spreadsheet shows them as text instead of running them as formulas."
)
CSV_COLUMNS = ("query", "model", "rank", "score", "document", "chunk", "start", "end", "page", "text")
# Appended with components=True; an empty cell is a component the hit does not have (null in JSON).
COMPONENT_COLUMNS = ("mode", "dense_score", "keyword_score")


def hits_to_csv(results: Sequence[SearchResult], components: bool = False) -> bytes:
    """UTF-8 CSV, one row per hit (a query without hits gives no row); text keeps its newlines and quotes, and
    a text cell a spreadsheet would run as a formula is neutralised (CSV_NOTE).

    With `components`, each row also carries the search mode and the hit's dense (cosine) and keyword (BM25) scores."""
    buffer = io.StringIO(newline="")
    # QUOTE_MINIMAL quotes every field holding a comma, quote or line break, so csv.reader gets the text back whole.
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS + (COMPONENT_COLUMNS if components else ()))
    for result in results:
        for hit in result.hits:
            extra = [str(result.mode), _cell(hit.dense_score), _cell(hit.keyword_score)] if components else []
            writer.writerow(
                neutralise(cell)
                for cell in [
                    result.query,
                    result.model,
                    hit.rank,
                    hit.score,  # str(float) is the shortest text that reads back as the same float
                    hit.document,
                    hit.chunk,
                    hit.start,
                    hit.end,
                    hit.page,
                    hit.text,
                    *extra,
                ]
            )
    return buffer.getvalue().encode("utf-8")


def neutralise(cell: object) -> object:
    """A text cell a spreadsheet would run as a formula gets a leading single quote; numbers stay numbers."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def _cell(value: float | None) -> float | str:
    return "" if value is None else value  # a number, so a negative score is never taken for a formula


def hits_to_json(results: Sequence[SearchResult]) -> bytes:
    """UTF-8 JSON: a list of SearchResult.as_dict(), non-ASCII text kept as written."""
    return json.dumps([r.as_dict() for r in results], ensure_ascii=False, indent=2).encode("utf-8")
