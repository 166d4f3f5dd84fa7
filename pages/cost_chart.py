"""The Costs page's chart as Vega-Lite (Altair) specs: pure layout over core.insight.costs.CostChart, here in pages/
because core never draws, and built by functions so tests read the spec without a browser.

One horizontal bar chart per measure (the chosen cost, then quality or encode rate), each model a bar. Bars start
at zero, so a 3% difference looks like 3%; the model names are the y axis labels, inside the chart, never cut at an
edge."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt

from core.insight.costs import CostChart

LABEL_FONT_PX = 12  # set on the axis, so the label limit below is computed for the size drawn
BAR_STEP_PX = 32  # height per model


def label_limit(names: Sequence[str]) -> int:
    """Pixels that hold the longest name whole: one em per character, the widest any letter is drawn."""
    return max(len(name) for name in names) * LABEL_FONT_PX


def bars(values: Sequence[tuple[str, float]], title: str, number_format: str) -> alt.Chart:
    """One measure, a bar per model from zero, in the order given."""
    rows = [{"model": model, "value": value} for model, value in values]
    models = [model for model, _ in values]
    return (
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            y=alt.Y(
                "model:N",
                title=None,
                sort=models,
                axis=alt.Axis(labelLimit=label_limit(models), labelFontSize=LABEL_FONT_PX),
            ),
            x=alt.X(
                "value:Q",
                title=title,
                scale=alt.Scale(zero=True),
                axis=alt.Axis(format=number_format, labelFontSize=LABEL_FONT_PX),
            ),
            tooltip=[
                alt.Tooltip("model:N", title="Model"),
                alt.Tooltip("value:Q", title=title, format=number_format),
            ],
        )
        .properties(height=alt.Step(BAR_STEP_PX))
    )


def cost_bars(plotted: CostChart) -> tuple[alt.Chart, alt.Chart]:
    """The chosen cost and the quality (or encode rate) of each model, as two bar charts side by side."""
    cost = bars([(p.model, p.x) for p in plotted.points], plotted.x_title, ",.2~f")
    benefit = bars([(p.model, p.y) for p in plotted.points], plotted.y_title, ",.3~f")
    return cost, benefit
