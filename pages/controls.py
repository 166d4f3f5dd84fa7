"""The ranking controls (mode, fusion, dense share) as Search and Compare show them: written once, keyed per page."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.types import Fusion, HybridParams, SearchMode

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
    st.session_state[f"{prefix}_fusion"] = str(Fusion.WEIGHTED)
    st.session_state[f"{prefix}_weight"] = weight


def ranking_controls(prefix: str, label: str = "Mode", weight_note: str | None = None) -> Ranking:
    """Mode radio, then (hybrid) the fusion radio and (weighted) the dense share slider, keyed `{prefix}_mode`,
    `{prefix}_fusion` and `{prefix}_weight`. Outside any form: the fusion and the weight appear as soon as the
    mode asks for them."""
    mode = SearchMode(
        st.radio(label, [str(m) for m in MODES], format_func=lambda m: MODES[m], key=f"{prefix}_mode", horizontal=True)
    )
    if mode != SearchMode.HYBRID:
        return Ranking(mode, None)
    st.session_state.setdefault(f"{prefix}_weight", DEFAULT_WEIGHT)
    left, right = st.columns(2)
    fusion = Fusion(
        left.radio(
            "Fusion",
            [str(f) for f in FUSIONS],
            format_func=lambda f: FUSIONS[f],
            key=f"{prefix}_fusion",
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
            key=f"{prefix}_weight",
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
