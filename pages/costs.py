"""Costs: each model indexed in the library, measured on it, in one table and a quality-against-cost chart."""

from __future__ import annotations

import altair as alt
import streamlit as st

from core.embed.loading import load_embedder, origin_label, resolve_model
from core.errors import PotionError
from core.insight.costs import (
    SAMPLE_CHUNKS,
    SAMPLE_QUERIES,
    CostAxis,
    CostCache,
    CostReport,
    cached_costs,
    cost_chart,
    indexed,
    measure_costs,
)
from core.insight.index_quality import NOT_MEASURED, index_summary
from core.service.jobs import JobStatus, library_job_key
from core.service.libraries import VECTOR_INDEX, start_vector_index
from core.sizes import format_bytes
from core.storage import Store
from core.storage.vector_index import engine_kinds, parse
from pages import keys, shared

QUALITY_KEY = keys.COST_QUALITY  # {library: {model: nDCG@10}}, left by the Judgments page's evaluation (dense runs)
NOT_RECORDED = "not recorded"


@st.cache_resource
def cost_cache() -> CostCache:
    return CostCache()


def job_panel(job_key: str) -> None:
    """The measuring job's progress (the page stops there until it ends), or what it could not measure."""
    job = shared.jobs().get(job_key)
    if job is not None and job.running:
        shared.key_progress(job_key)  # reruns the page, showing the table, once the job ends
        st.stop()
    if job is not None and job.status == JobStatus.FAILED:
        st.error(shared.inert(f"Measuring stopped: {job.error}"))
    elif job is not None and isinstance(job.result, CostReport):
        for skipped in job.result.skipped:
            st.warning(shared.inert(f"{skipped.model} was not measured: {skipped.reason}"))


def measure(store: Store, library: str, job_key: str, collections: list) -> list:
    """The costs kept for each index, with a button that measures the missing ones in the background."""
    cache = cost_cache()
    kept = cached_costs(cache, library, collections)
    missing = [c.meta.model_name for c, cost in zip(collections, kept, strict=True) if cost is None]
    if missing:
        st.caption(
            f"Not measured yet: {shared.inert(', '.join(missing))}. Measuring reads the library and changes nothing."
        )
        label = f"Measure {len(missing)} model{'s' if len(missing) > 1 else ''}"
        if st.button(label, type="primary", key="costs_measure"):
            shared.jobs().start(
                job_key,
                f"Measuring costs of {library}",
                lambda progress: measure_costs(store, library, cache, load_embedder, progress),
                kind="costs",
            )
            st.rerun()
    return [c for c in kept if c is not None]


def source(model: str) -> str:
    """Where an indexed model comes from: bundled, made here, a local folder, the hub, or a transformer."""
    try:
        return origin_label(resolve_model(model, shared.settings()).kind)
    except PotionError:
        return ""


def table(library: str, costs: list) -> dict:
    """The costs table; returns the quality (nDCG@10 per model) it showed."""
    quality = (st.session_state.get(QUALITY_KEY) or {}).get(library, {})
    rows = [
        {
            "model": c.model,
            "source": source(c.model),
            "kind": c.family,
            "dims": c.dim,
            "parameters": c.params,
            "weights": c.dtype,
            "model file": format_bytes(c.file_size_bytes),
            "bytes / vector": c.bytes_per_vector,
            "chunks": c.chunks,
            "index vectors": format_bytes(c.index_bytes),
            "index vectors (bytes)": c.index_bytes,
            "encode rate (chunks/s)": round(c.encode_rate, 1),
            "query p50 (ms)": round(c.query_p50_ms, 2),
            "index time": f"{c.index_seconds:.1f} s" if c.index_seconds is not None else NOT_RECORDED,
            "index rate (chunks/s)": round(c.index_rate, 1) if c.index_rate is not None else None,
            "nDCG@10": f"{quality[c.model]:.3f}" if c.model in quality else "—",
        }
        for c in costs
    ]
    st.dataframe(rows, hide_index=True, width="stretch", key="costs_table")
    st.caption(
        "Encode rate: sampled chunks encoded / seconds spent encoding them. Query p50: the median of encode + search "
        "time per query. Index time: chunking, embedding and writing, as recorded when the chunks were indexed "
        "(summed over uploads; not recorded for indexes made by an older version or copied by a rebuild). "
        "A variant (NAME@128d, NAME@int8) is a model of its own: pick it in the sidebar and index the library with it. "
        "Kind: static models embed a text as a mean of token vectors; a transformer (the adapt teacher) runs a "
        "forward pass per text, so its encode rate and query latency are its real cost. "
        + (
            "nDCG@10 comes from the evaluation given to this page."
            if quality
            else "nDCG@10 needs an evaluation with relevance judgments; none is stored for this library, so it shows —."
        )
    )
    return quality


def vector_indexes(store: Store, library: str, collections: list) -> None:
    """Each index's dense index with its recall@10 against exact ranking; an editor can change it (a job)."""
    st.subheader("Vector index")
    job_key = library_job_key(library)
    job = shared.jobs().get(job_key)
    if job is not None and job.kind == VECTOR_INDEX:
        if job.running:
            shared.key_progress(job_key)
            st.stop()
        if job.status == JobStatus.FAILED:
            st.error(shared.inert(f"The vector index was not changed: {job.error}"))
    summaries = [index_summary(store, library, c.meta) for c in collections]
    st.dataframe(
        [
            {
                "model": s.model,
                "vector index": s.index.label,
                "recall@10 vs exact": f"{s.quality.recall_at_10:.3f}" if s.quality else NOT_MEASURED,
                "search p50 (ms)": round(s.quality.p50_ms, 2) if s.quality else None,
                "numpy exact p50 (ms)": round(s.quality.exact_p50_ms, 2) if s.quality else None,
                "queries": s.quality.queries if s.quality else None,
            }
            for s in summaries
        ],
        hide_index=True,
        width="stretch",
        key="costs_vector_index",
    )
    st.caption(
        "FLAT ranks exactly and is what evaluation uses; an approximate index answers faster on large libraries "
        "at the recall shown, measured on this library's own vectors (stored chunks as queries, each left out of "
        "its own ranking). Evaluation refuses an approximate index."
    )
    if not shared.may_write():
        return
    kinds = engine_kinds(store.profile.engine, store.profile.version)
    with st.form("vector_index_form"):
        model = st.selectbox("Model", [s.model for s in summaries], key="vector_index_model")
        kind = st.selectbox("Index", [k.lower() for k in kinds], key="vector_index_kind")
        params = st.text_input("Parameters (optional)", placeholder="nlist=1024,nprobe=32", key="vector_index_params")
        submitted = st.form_submit_button("Index and measure recall")
    if submitted:
        try:
            choice = parse(f"{kind}:{params}" if params.strip() else kind)
            start_vector_index(store, shared.jobs(), library, model, choice, shared.actor())
        except PotionError as exc:
            st.error(shared.inert(exc))
        else:
            st.rerun()


def chart(costs: list, quality: dict) -> None:
    axis = CostAxis(st.selectbox("Cost on the x axis", [str(a) for a in CostAxis], key="costs_axis"))
    plotted = cost_chart(costs, axis, quality)
    values = [{"model": p.model, "x": p.x, "y": p.y} for p in plotted.points]
    base = alt.Chart(alt.Data(values=values)).encode(
        x=alt.X("x:Q", title=plotted.x_title, scale=alt.Scale(zero=False)),
        y=alt.Y("y:Q", title=plotted.y_title, scale=alt.Scale(zero=False)),
        tooltip=[
            alt.Tooltip("model:N", title="Model"),
            alt.Tooltip("x:Q", title=plotted.x_title, format=",.2f"),
            alt.Tooltip("y:Q", title=plotted.y_title, format=",.3f"),
        ],
    )
    labelled = base.mark_circle(size=120) + base.mark_text(align="left", dx=8, dy=-8).encode(text="model:N")
    st.altair_chart(labelled.properties(height=380), width="stretch")


store, library = shared.begin(":material/payments: Costs")
# Its own key, not the library's write key: measuring only reads, so it neither waits for nor blocks indexing.
job_key = f"costs|{library}"
st.caption(
    f"Each model indexed in **{shared.inert(library)}**, measured on this library: encode rate over up to "
    f"{SAMPLE_CHUNKS:,} of its chunks, query latency (encode + dense search) over {SAMPLE_QUERIES} queries made "
    "of the first sentences of random chunks. Vectors are stored as float32, so a vector takes dims × 4 bytes."
)
collections = indexed(store, library)
if not collections:
    st.info(
        f"**{shared.inert(library)}** has no documents yet: add some on the Library page, "
        "then measure each model's costs here."
    )
    st.stop()
job_panel(job_key)
costs = measure(store, library, job_key, collections)
if costs:
    chart(costs, table(library, costs))
vector_indexes(store, library, collections)
