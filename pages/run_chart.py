"""The Runs page's scatter as a Vega-Lite (Altair) spec: pure layout over a core.evaluate.run_diff.RunDiff, here in
pages/ because core never draws, and built by a function so tests read the spec without a browser.

Each point is a query, run A's nDCG@10 across and run B's up, both axes 0 to 1 whatever the scores, with the
diagonal drawn: a point above it is a query B improved, below it one B made worse."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import altair as alt

from core.evaluate.metrics import measure_label
from core.evaluate.run_diff import Outcome, RunDiff
from core.evaluate.run_tables import query_line
from core.evaluate.saved import HEADLINE

SIDE_PX = 380  # a square plot, so the diagonal is at 45 degrees
COLOURS = {Outcome.BETTER: "#4c78a8", Outcome.TIED: "#9d9d9d", Outcome.WORSE: "#e45756"}
SIZES = [70, 600]  # a point's area in px², from one query to the most that share a point


def per_query_scatter(diff: RunDiff, queries: Mapping[str, str]) -> alt.LayerChart:
    """Per-query nDCG@10 of A (x) against B (y), coloured by which run did better, over the 0-1 diagonal."""
    # Queries with the same two scores (often many at 1, 1) fall on one point: it is drawn larger and says how many.
    here = Counter((round(q.a, 6), round(q.b, 6)) for q in diff.per_query)
    rows = [
        {
            "query_id": q.query_id,
            "query": query_line(queries.get(q.query_id, "")),
            "a": q.a,
            "b": q.b,
            "diff": q.diff,
            "outcome": str(q.outcome),
            "here": here[round(q.a, 6), round(q.b, 6)],
        }
        for q in diff.per_query
    ]
    unit = alt.Scale(domain=[0, 1], nice=False, clamp=True)
    measure = measure_label(HEADLINE)
    diagonal = (
        alt.Chart(alt.Data(values=[{"a": 0.0, "b": 0.0}, {"a": 1.0, "b": 1.0}]))
        .mark_line(color="#888888", strokeDash=[4, 4])
        .encode(x=alt.X("a:Q", scale=unit), y=alt.Y("b:Q", scale=unit))
    )
    points = (
        alt.Chart(alt.Data(values=rows))
        .mark_circle(opacity=0.7)
        .encode(
            x=alt.X("a:Q", scale=unit, title=f"A (baseline) {measure}"),
            y=alt.Y("b:Q", scale=unit, title=f"B {measure}"),
            color=alt.Color(
                "outcome:N",
                title=None,
                scale=alt.Scale(domain=[str(o) for o in COLOURS], range=list(COLOURS.values())),
                legend=alt.Legend(orient="bottom"),
            ),
            size=alt.Size("here:Q", scale=alt.Scale(domain=[1, max(2, *here.values())], range=SIZES), legend=None),
            tooltip=[
                alt.Tooltip("here:Q", title="queries at this point"),
                alt.Tooltip("query_id:N", title="query"),
                alt.Tooltip("query:N", title="text"),
                alt.Tooltip("a:Q", title="A", format=".4f"),
                alt.Tooltip("b:Q", title="B", format=".4f"),
                alt.Tooltip("diff:Q", title="B − A", format="+.4f"),
            ],
        )
    )
    return alt.layer(diagonal, points).properties(width=SIDE_PX, height=SIDE_PX)
