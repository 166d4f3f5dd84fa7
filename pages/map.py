"""Embedding map: a library's chunks in 2D (PCA) per model, the query and its hits marked, two models linked."""

from __future__ import annotations

import altair as alt
import streamlit as st

from core.errors import PotionError
from core.insight.projection import EmbeddingMap, embedding_map
from pages import keys, shared

store, library = shared.begin(":material/scatter_plot: Embedding map")
model = shared.current_model()
st.caption(
    "Each point is a chunk, placed by the two directions along which this model's chunk vectors vary most "
    "(PCA of the unit vectors). Points are coloured by document; the query is the black diamond, its hits are ringed. "
    "Click a point to find the same chunk in the other model's map."
)
indexed = store.catalog.models(library)
if not indexed:
    st.info(f"**{shared.inert(library)}** has no documents yet: add some on the Library page, then map them here.")
    st.stop()
first = model if model in indexed else indexed[0]
cols = st.columns(2)
left = cols[0].selectbox("Model", indexed, index=indexed.index(first), key="map_model")
right = cols[1].selectbox(
    "Beside it (optional)", [m for m in indexed if m != left], index=None, key="map_other", placeholder="No second map"
)
with st.form("map"):
    query = st.text_input("Query (optional)", key="map_query", placeholder="Place a query and its hits on the map")
    top_k = st.slider("Hits to mark", 1, 50, 10, key="map_top_k")
    st.form_submit_button("Draw", type="primary")


def build(name: str) -> EmbeddingMap | None:
    embedder = shared.try_embedder(name)
    if embedder is None:
        return None
    asked = (library, name, embedder.info.fingerprint, query.strip(), top_k, store.index(library, name).count())
    return shared.once(
        keys.MAP_ANSWER.format(model=name), asked, lambda: embedding_map(store, library, embedder, query, top_k)
    )


def chart(found: EmbeddingMap, picked: alt.Parameter, width: int) -> alt.Chart:
    values = [p.__dict__ | {"hit": p.hit_rank > 0} for p in found.points]
    points = alt.Chart(alt.Data(values=values)).mark_circle(size=40)
    many = len({p.document for p in found.points}) > 20
    encoded = points.encode(
        x=alt.X("x:Q", title=f"PC1 ({found.explained[0]:.0%} of variance)"),
        y=alt.Y("y:Q", title=f"PC2 ({found.explained[1]:.0%})"),
        color=alt.Color("document:N", legend=None if many else alt.Legend(title="Document", orient="bottom")),
        opacity=alt.condition(picked, alt.value(0.9), alt.value(0.15)),
        tooltip=[
            alt.Tooltip("document:N", title="Document"),
            alt.Tooltip("chunk:Q", title="Chunk"),
            alt.Tooltip("preview:N", title="Starts"),
            alt.Tooltip("hit_rank:Q", title="Hit rank (0: not a hit)"),
        ],
    ).add_params(picked)
    layers = [encoded]
    if any(p.hit_rank for p in found.points):
        rings = points.mark_circle(size=180, fill=None, stroke="black", strokeWidth=1.5).encode(x="x:Q", y="y:Q")
        layers.append(rings.transform_filter(alt.datum.hit))
    if found.query is not None:
        star = {"x": found.query[0], "y": found.query[1], "label": "query"}
        layers.append(
            alt.Chart(alt.Data(values=[star]))
            .mark_point(shape="diamond", size=300, filled=True, color="black")
            .encode(x="x:Q", y="y:Q", tooltip=alt.Tooltip("label:N", title=""))
        )
    return alt.layer(*layers, title=found.model).properties(width=width, height=420)


def note(found: EmbeddingMap, query: str, top_k: int) -> str:
    """What one map draws: all the chunks or a sample of documents, and how many of the hits."""
    said = f"**{shared.inert(found.model)}**: {len(found.points):,} chunks drawn"
    if found.sampled:
        said += (
            f" of {found.chunks_total:,}, a sample of whole documents (the same in every model's map); "
            "the library is too large to draw at once"
        )
    if query.strip():
        said += f" · {sum(1 for p in found.points if p.hit_rank)} of the top {top_k} hits are on the map"
    return said + "."


try:
    maps = [m for m in (build(left), build(right) if right else None) if m is not None]
except PotionError as exc:
    st.error(shared.inert(exc))
    st.stop()
if not maps:
    st.stop()
picked = alt.selection_point(fields=["key"], on="click", empty=True, name="chunk")
width = 780 if len(maps) == 1 else 380  # "container" widths collapse inside hconcat
st.altair_chart(alt.hconcat(*[chart(m, picked, width) for m in maps]), width="content")
for found in maps:
    st.caption(note(found, query, top_k))
