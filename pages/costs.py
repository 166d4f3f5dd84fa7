"""Costs: each model indexed in the library, measured on it, in one table and a quality-against-cost chart."""

from __future__ import annotations

import streamlit as st

from core.embed.loading import load_embedder, origin_label, resolve_model
from core.errors import PotionError
from core.insight.costs import (
    SAMPLE_CHUNKS,
    SAMPLE_QUERIES,
    CostAxis,
    CostReport,
    CostState,
    cost_chart,
    cost_states,
    indexed,
)
from core.insight.index_quality import NOT_MEASURED, index_summary
from core.service.costs import measure_library_costs
from core.service.jobs import JobStatus, library_job_key
from core.service.libraries import VECTOR_INDEX, start_vector_index
from core.sizes import format_bytes, format_count
from core.storage import Store
from core.storage.vector_index import engine_kinds, parse
from pages import keys, shared
from pages.cost_chart import cost_bars

QUALITY_KEY = keys.COST_QUALITY  # {library: {model: nDCG@10}}, left by the Judgments page's evaluation (dense runs)
NOT_RECORDED = "not recorded"
CURRENT = "current"
STALE = "stale: {why}"
NOT_KEPT = "measured here, not kept"


def job_panel(job_key: str) -> None:
    """The measuring job's progress (the page stops there until it ends), or what it could not measure."""
    job = shared.jobs().get(job_key)
    if job is not None and job.running:
        shared.key_progress(job_key)  # reruns the page, showing the table, once the job ends
        st.stop()
    if job is not None and job.status == JobStatus.FAILED:
        st.error(shared.inert(f"Measuring stopped: {job.error}"))
    elif job is not None and isinstance(job.result, CostReport):
        if job.result.not_kept and job.result.measured:
            st.info(shared.inert(f"Measured, but not kept in the database: {job.result.not_kept}"))
        for skipped in job.result.skipped:
            st.warning(shared.inert(f"{skipped.model} was not measured: {skipped.reason}"))


def unkept(job_key: str) -> list:
    """Measurements the last job made for a reader: shown by this process, not in the database."""
    job = shared.jobs().get(job_key)
    report = job.result if job is not None and isinstance(job.result, CostReport) else None
    return [r for r in report.records if not r.kept] if report is not None else []


def start_measuring(store: Store, library: str, job_key: str, again: bool) -> None:
    actor = shared.actor()  # read here: the job thread has no session
    shared.jobs().start(
        job_key,
        f"Measuring costs of {library}",
        lambda progress: measure_library_costs(store, library, load_embedder, progress, actor, again=again),
        kind="costs",
    )
    st.rerun()


def measure(store: Store, library: str, job_key: str, collections: list) -> list[CostState]:
    """Each index's latest measurement, with a button that measures the missing and stale ones in the background,
    or all of them again."""
    states = cost_states(store, library, collections, unkept(job_key))
    missing = [s.model for s in states if s.record is None]
    stale = [s.model for s in states if s.stale]
    if missing:
        st.caption(f"Not measured yet: {shared.inert(', '.join(missing))}.")
    if stale:
        st.caption(
            f"Stale, measured on the index as it was before: {shared.inert(', '.join(stale))}. "
            "Their rows say what changed; the chart leaves them out."
        )
    st.caption(
        "Measuring reads the library and changes nothing in it; "
        + (
            "the results are kept beside it, so a restart shows them again."
            if shared.may_write()
            else "this session may only read, so the results are shown here but not kept in the database."
        )
    )
    todo = len(missing) + len(stale)
    if todo:
        label = f"Measure {todo} model{'s' if todo > 1 else ''}"
        if st.button(label, type="primary", key="costs_measure"):
            start_measuring(store, library, job_key, again=False)
    elif st.button("Measure again", key="costs_measure_again", help="Replaces each kept measurement"):
        start_measuring(store, library, job_key, again=True)
    return states


def source(model: str) -> str:
    """Where an indexed model comes from: bundled, made here, a local folder, the hub, or a transformer."""
    try:
        return origin_label(resolve_model(model, shared.settings()).kind)
    except PotionError:
        return ""


def state_label(state: CostState) -> str:
    if state.stale:
        return STALE.format(why=state.stale)
    return CURRENT if state.record.kept else NOT_KEPT


def table(library: str, states: list[CostState]) -> dict:
    """The table of every measured index, current or stale; returns the quality (nDCG@10 per model) it showed."""
    quality = (st.session_state.get(QUALITY_KEY) or {}).get(library, {})
    rows = [
        {
            "model": c.model,
            "measured (UTC)": shared.utc_text(s.record.measured_at),
            "state": state_label(s),
            "source": source(c.model),
            "kind": c.family,
            "dims": c.dim,
            "parameters": format_count(c.params),
            "weights": c.dtype,
            "model file": format_bytes(c.file_size_bytes),
            "bytes / vector": c.bytes_per_vector,
            "chunks": format_count(c.chunks, exact=True),
            "index vectors": format_bytes(c.index_bytes),
            "index vectors (bytes)": c.index_bytes,
            "encode rate (chunks/s)": round(c.encode_rate, 1),
            "query p50 (ms)": round(c.query_p50_ms, 2),
            "index time": f"{c.index_seconds:.1f} s" if c.index_seconds is not None else NOT_RECORDED,
            "index rate (chunks/s)": round(c.index_rate, 1) if c.index_rate is not None else None,
            "nDCG@10": f"{quality[c.model]:.3f}" if c.model in quality else "—",
        }
        for s in states
        if s.record is not None
        for c in [s.record.cost]
    ]
    st.dataframe(rows, hide_index=True, width="stretch", key="costs_table")
    st.caption(
        "Each measurement is kept with the model's fingerprint and the chunk count it was taken at; when either "
        "changes it is shown as stale until measured again. "
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


def chart(states: list[CostState], quality: dict) -> None:
    """The current measurements only: a stale one would draw the index as it was."""
    costs = [s.record.cost for s in states if s.current]
    if not costs:
        return
    axis = CostAxis(st.selectbox("Cost to chart", [str(a) for a in CostAxis], key="costs_axis"))
    cost, benefit = cost_bars(cost_chart(costs, axis, quality))
    left, right = st.columns(2)
    left.altair_chart(cost, width="stretch")
    right.altair_chart(benefit, width="stretch")
    st.caption("Every axis starts at zero, so bars compare as the numbers do.")


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
states = measure(store, library, job_key, collections)
if any(s.record is not None for s in states):
    chart(states, table(library, states))
vector_indexes(store, library, collections)
