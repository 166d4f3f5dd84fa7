"""Compare: the same query over two to four models side by side, and how much their rankings agree."""

from __future__ import annotations

import streamlit as st

from core.errors import PotionError
from core.ingest.reindex import index_like
from core.search.agreement import agreement_matrix, document_ranking
from core.search.query import search
from core.service.jobs import JobStatus, library_job_key
from core.types import Fusion, HybridParams, SearchMode
from pages import shared

REINDEX = "reindex"  # the kind of job this page starts, whose failure it shows
BM25 = "BM25"  # the baseline column's name in the agreement table
MODES = {SearchMode.DENSE: "Dense", SearchMode.KEYWORD: "Keyword (BM25)", SearchMode.HYBRID: "Hybrid"}
FUSIONS = {Fusion.RRF: "Reciprocal rank fusion", Fusion.WEIGHTED: "Weighted blend"}

shared.ensure_frame()

store = shared.shared_store()
library = shared.need_library()
runner = shared.jobs()
st.title(":material/compare: Compare models")
st.caption(
    "Scores come from different vector spaces and are not comparable across columns: compare the rankings. "
    "Agreement is measured on documents, since models may cut chunks differently."
)

job_key = library_job_key(library)  # the Library page's key too: one job per library, seen from both pages
job = runner.get(job_key)
busy = job is not None and job.running
if busy:
    shared.job_progress(library)  # whichever page started it
elif job is not None and job.kind == REINDEX and job.status == JobStatus.FAILED:
    st.error(shared.inert(f"{job.label} stopped: {job.error}"))
    st.button("Dismiss", key="dismiss-reindex", on_click=runner.forget, args=(job_key,))
elif job is not None and job.kind == REINDEX and job.status == JobStatus.DONE and job.result.failures:
    missing = [o.document for o in job.result.failures]
    st.warning(
        f"{shared.inert(job.label)}: {len(missing)} document(s) could not be rebuilt exactly from the stored chunks "
        "and need their files: add them on the Library page with this model."
    )
    st.dataframe([{"document": o.document, "message": o.message} for o in job.result.failures], hide_index=True)
    st.button("Dismiss", key="dismiss-reindex", on_click=runner.forget, args=(job_key,))

indexed = store.catalog.models(library)
if not indexed:
    st.info(
        f"**{shared.inert(library)}** has no documents yet: add some on the Library page, then compare models here."
    )
    st.stop()
offline = [m.name for m in shared.model_listings() if m.available_offline]
options = sorted(set(offline) | set(indexed))
st.session_state.setdefault("compare_models", (indexed + [m for m in offline if m not in indexed])[:2])
models = st.multiselect("Models (2 to 4)", options, key="compare_models", max_selections=4)
# Outside the form, so the fusion choice and the weight appear as soon as the mode asks for them.
mode = SearchMode(
    st.radio(
        "Mode (every model)",
        [str(m) for m in MODES],
        format_func=lambda m: MODES[m],
        key="compare_mode",
        horizontal=True,
    )
)
params: HybridParams | None = None
if mode == SearchMode.HYBRID:
    controls = st.columns(2)
    fusion = Fusion(
        controls[0].radio(
            "Fusion", [str(f) for f in FUSIONS], format_func=lambda f: FUSIONS[f], key="compare_fusion", horizontal=True
        )
    )
    weight = 0.5
    if fusion == Fusion.WEIGHTED:
        weight = controls[1].slider("Dense share", 0.0, 1.0, 0.5, 0.05, key="compare_weight")
    params = HybridParams(fusion=fusion, weight=weight)
baseline = st.checkbox(
    "Add BM25 baseline column", key="compare_bm25", help="Keyword search over the chunk text: it needs no model."
)
with st.form("compare"):
    query = st.text_input("Query", key="compare_query", placeholder="One query, every model")
    top_k = st.slider("Top k", 1, 20, 5, key="compare_top_k")
    st.form_submit_button("Compare", type="primary")

if len(models) < 2:
    st.info("Pick at least two models to compare.")
    st.stop()

digits = 4 if params is not None and params.fusion == Fusion.RRF else 3  # RRF scores are small and close together


def show_hits(hits: list) -> None:
    for hit in hits:
        with st.container(border=True):
            st.markdown(f"**#{hit.rank}** · {hit.score:.{digits}f} · chunk {hit.chunk}")
            if mode == SearchMode.HYBRID:
                cosine = "—" if hit.dense_score is None else f"{hit.dense_score:.3f}"
                bm25 = "—" if hit.keyword_score is None else f"{hit.keyword_score:.3f}"
                st.caption(f"cosine {cosine} · BM25 {bm25}")
            st.text(hit.document)
            st.text(" ".join(hit.text.split())[:220])


rankings: dict[str, list[str]] = {}
columns = st.columns(len(models) + baseline)
for column, model in zip(columns, models):
    with column:
        embedder = shared.try_embedder(model)
        if embedder is None:
            continue
        info = embedder.info
        st.subheader(shared.inert(info.name))
        st.caption(f"{info.dim} dims · {info.params_label} parameters · {info.kind}")
        if store.catalog.find(library, info.name) is None:
            st.info(f"Not indexed for {shared.inert(library)} yet.")
            label = f"Index {shared.inert(library)} with {shared.inert(info.name)}"
            if st.button(label, key=f"index-{model}", disabled=busy):
                try:
                    runner.start(
                        job_key,
                        f"Indexing {library} with {info.name} (Compare)",
                        lambda p, e=embedder: index_like(library, e, store, progress=p),
                        kind=REINDEX,
                        join=False,  # a job started meanwhile (maybe on the Library page): say so, start nothing
                    )
                except PotionError as exc:
                    st.error(shared.inert(exc))
                else:
                    st.rerun()
            continue
        if not query.strip():
            continue
        try:
            result = search(query, library, embedder, store, top_k, mode=mode, params=params)
        except PotionError as exc:
            st.error(shared.inert(exc))
            continue
        rankings[info.name] = document_ranking(result.hits)
        st.caption(
            f"query {result.query_dim}d · docs {result.doc_dim}d · {result.encode_ms:.1f} + {result.search_ms:.1f} ms"
        )
        show_hits(result.hits)

if baseline:
    with columns[-1]:
        st.subheader(BM25)
        # BM25 reads the chunk text, not the vectors: every model's index of the library ranks alike, so any will do.
        with_bm25 = [m for m in store.catalog.collections() if m.library == library and m.has_keyword]
        # One whose model loads without the hub, since search() checks the index against its model.
        keyword_index = next((m for m in with_bm25 if m.model_name in offline), next(iter(with_bm25), None))
        if keyword_index is None:
            st.info(f"No index of {shared.inert(library)} has keyword search yet: rebuild one on the Library page.")
        else:
            st.caption(f"keyword baseline · {keyword_index.analyzer} analyzer · no model")
            embedder = shared.try_embedder(keyword_index.model_name) if query.strip() else None
            if embedder is not None:
                try:
                    result = search(query, library, embedder, store, top_k, mode=SearchMode.KEYWORD)
                except PotionError as exc:
                    st.error(shared.inert(exc))
                else:
                    rankings[BM25] = document_ranking(result.hits)
                    st.caption(f"{result.search_ms:.1f} ms")
                    show_hits(result.hits)

if len(rankings) >= 2:
    st.subheader("Agreement")
    st.caption(
        f"Top-{top_k} overlap: share of documents both models return. Rank-biased overlap (p = 0.9): "
        "agreement weighted towards the top ranks. 1 means identical rankings, 0 nothing in common."
    )
    st.table(
        [
            {
                "models": shared.inert(f"{p.model_a} ↔ {p.model_b}"),  # st.table renders markdown
                f"top-{top_k} overlap": f"{p.overlap:.2f}",
                "rank-biased overlap": f"{p.rbo:.2f}",
            }
            for p in agreement_matrix(rankings, top_k)
        ]
    )
