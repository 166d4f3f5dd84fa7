"""Exports of search results: CSV and JSON read back to the same values."""

from __future__ import annotations

import csv
import io
import json

from core.search.export import CSV_COLUMNS, hits_to_csv, hits_to_json
from core.search.query import Hit, SearchResult

AWKWARD = 'He said "stop",\nthen left;\r\nÆ ünïcode — ✓, and a trailing quote"'


def results() -> list[SearchResult]:
    first = SearchResult(
        query='what did he say, "exactly"?',
        model="minilm-static-64",
        query_dim=64,
        doc_dim=64,
        hits=[
            Hit(1, 0.8123456789, "notes, part 1.txt", 0, AWKWARD, 0, 66, page=3, title="Notes"),
            Hit(2, 0.1, "b.pdf", 4, "plain text", 100, 110),
        ],
        encode_ms=0.25,
        search_ms=1.5,
    )
    second = SearchResult("nothing", "minilm-static-256", 256, 256, hits=[], unknown_query=True)
    third = SearchResult("café", "minilm-static-256", 256, 256, hits=[Hit(1, -0.03, "c.md", 2, "", 5, 5)])
    return [first, second, third]


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def test_csv_has_one_row_per_hit_under_the_documented_columns():
    data = hits_to_csv(results())
    header = next(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert tuple(header) == CSV_COLUMNS == (
        "query", "model", "rank", "score", "document", "chunk", "start", "end", "page", "text",
    )  # fmt: skip
    rows = read_csv(data)
    assert [(r["query"], r["rank"]) for r in rows] == [
        ('what did he say, "exactly"?', "1"),
        ('what did he say, "exactly"?', "2"),
        ("café", "1"),
    ]


def test_csv_round_trips_every_value_including_newlines_and_quotes_in_text():
    rows = read_csv(hits_to_csv(results()))
    expected = [(r, h) for r in results() for h in r.hits]
    assert len(rows) == len(expected)
    for row, (result, hit) in zip(rows, expected):
        assert row["query"] == result.query and row["model"] == result.model
        assert row["text"] == hit.text
        assert float(row["score"]) == hit.score
        assert row["document"] == hit.document
        assert [int(row[c]) for c in ("rank", "chunk", "start", "end", "page")] == [
            hit.rank, hit.chunk, hit.start, hit.end, hit.page,
        ]  # fmt: skip


def test_csv_of_no_results_is_just_the_header():
    assert read_csv(hits_to_csv([])) == []
    assert hits_to_csv([]).decode("utf-8").strip() == ",".join(CSV_COLUMNS)


def test_json_is_the_list_of_result_dicts_in_utf8():
    data = hits_to_json(results())
    assert json.loads(data.decode("utf-8")) == [r.as_dict() for r in results()]
    assert "café".encode() in data and "✓".encode() in data  # written as UTF-8, not \\u escapes
    assert json.loads(hits_to_json([])) == []


def test_csv_cells_a_spreadsheet_would_run_are_neutralised_and_numbers_stay_numbers():
    from core.search.export import CSV_NOTE
    from core.search.query import SearchResult
    from core.types import Hit, SearchMode

    hostile = '=HYPERLINK("http://evil.example","click")'
    hit = Hit(1, 0.5, "+cmd|' /C calc'!A0.txt", 0, "@SUM(1+1)*cmd|' /C calc'!A0", 0, 10, dense_score=-0.25)
    result = SearchResult(hostile, "-model", 8, 8, [hit], mode=SearchMode.HYBRID)
    (row,) = read_csv(hits_to_csv([result], components=True))
    assert row["query"] == "'" + hostile and row["model"] == "'-model"
    assert row["document"] == "'" + hit.document and row["text"] == "'" + hit.text
    assert row["dense_score"] == "-0.25" and row["keyword_score"] == ""  # a negative score is still a number
    assert "formulas" in CSV_NOTE
