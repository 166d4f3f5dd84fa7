"""Search results as downloadable files: CSV with one row per hit, JSON as SearchResult.as_dict()."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from core.search import SearchResult

CSV_COLUMNS = ("query", "model", "rank", "score", "document", "chunk", "start", "end", "page", "text")


def hits_to_csv(results: Sequence[SearchResult]) -> bytes:
    """UTF-8 CSV, one row per hit (a query without hits gives no row); text keeps its newlines and quotes."""
    buffer = io.StringIO(newline="")
    # QUOTE_MINIMAL quotes every field holding a comma, quote or line break, so csv.reader gets the text back whole.
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for result in results:
        for hit in result.hits:
            writer.writerow(
                [
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
                ]
            )
    return buffer.getvalue().encode("utf-8")


def hits_to_json(results: Sequence[SearchResult]) -> bytes:
    """UTF-8 JSON: a list of SearchResult.as_dict(), non-ASCII text kept as written."""
    return json.dumps([r.as_dict() for r in results], ensure_ascii=False, indent=2).encode("utf-8")
