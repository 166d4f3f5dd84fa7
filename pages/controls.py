"""Widgets more than one page shows, written once and keyed per page: the ranking controls (mode, fusion, dense
share) of Search and Compare, and the downloads of an evaluation (Evaluate, Make your own potion)."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.evaluate.report import EvaluationRun, per_query_table, report_json, results_csv_table, table_csv
from core.search.export import CSV_NOTE
from core.types import Fusion, HybridParams, SearchMode
from pages import keys

MODES = {
    SearchMode.DENSE: "Dense (meaning)",
    SearchMode.KEYWORD: "Keyword (BM25)",
    SearchMode.HYBRID: "Hybrid (both)",
}
FUSIONS = {Fusion.RRF: "Reciprocal rank fusion", Fusion.WEIGHTED: "Weighted blend"}
DEFAULT_WEIGHT = 0.5


@dataclass(frozen=True)
class Ranking:
    mode: SearchMode
    params: HybridParams | None  # a hybrid's fusion and weight; None for dense and keyword

    @property
    def digits(self) -> int:
        """Decimals that tell scores apart: RRF scores are small and close together."""
        return 4 if self.params is not None and self.params.fusion == Fusion.RRF else 3


def seed_weighted(prefix: str, weight: float) -> None:
    """Open the controls at a weighted hybrid with this dense share (a library's tuned default)."""
    st.session_state[keys.RANKING_FUSION.format(prefix=prefix)] = str(Fusion.WEIGHTED)
    st.session_state[keys.RANKING_WEIGHT.format(prefix=prefix)] = weight


def ranking_controls(prefix: str, label: str = "Mode", weight_note: str | None = None) -> Ranking:
    """Mode radio, then (hybrid) the fusion radio and (weighted) the dense share slider, keyed per page
    (keys.RANKING_MODE, RANKING_FUSION, RANKING_WEIGHT). Outside any form: the fusion and the weight appear as soon
    as the mode asks for them."""
    mode_key, fusion_key, weight_key = (k.format(prefix=prefix) for k in keys.RANKING)
    mode = SearchMode(
        st.radio(label, [str(m) for m in MODES], format_func=lambda m: MODES[m], key=mode_key, horizontal=True)
    )
    if mode != SearchMode.HYBRID:
        return Ranking(mode, None)
    st.session_state.setdefault(weight_key, DEFAULT_WEIGHT)
    left, right = st.columns(2)
    fusion = Fusion(
        left.radio(
            "Fusion",
            [str(f) for f in FUSIONS],
            format_func=lambda f: FUSIONS[f],
            key=fusion_key,
            horizontal=True,
        )
    )
    weight = DEFAULT_WEIGHT
    if fusion == Fusion.WEIGHTED:
        weight = right.slider(
            "Dense share",
            0.0,
            1.0,
            step=0.05,
            key=weight_key,
            help="1 ranks by meaning only, 0 by keywords only",
        )
        if weight_note:
            right.caption(weight_note)
    return Ranking(mode, HybridParams(fusion=fusion, weight=weight))


def component_scores(dense: float | None, keyword: float | None) -> str:
    """A hit's two component scores, a dash for the one it lacks."""
    return " · ".join(
        f"{name} {'—' if v is None else f'{v:.3f}'}" for name, v in (("cosine", dense), ("BM25", keyword))
    )


def evaluation_downloads(found: EvaluationRun, key: str = "eval") -> None:
    """The report as the CLI's JSON, the results and the per-query scores as CSV."""
    report = found.report
    cols = st.columns(3)
    cols[0].download_button(
        "Report (JSON)",
        report_json(report),
        f"evaluation-{report.dataset}.json",
        "application/json",
        help="The same JSON as `python -m core evaluate --json`.",
        key=f"{key}_report_json",
    )
    cols[1].download_button(
        "Results (CSV)",
        table_csv(results_csv_table(report)),
        f"results-{report.dataset}.csv",
        "text/csv",
        help=CSV_NOTE,
        key=f"{key}_results_csv",
    )
    cols[2].download_button(
        "Per-query scores (CSV)",
        table_csv(per_query_table(found)),
        f"per-query-{report.dataset}.csv",
        "text/csv",
        help=CSV_NOTE,
        key=f"{key}_per_query_csv",
    )
