"""Compare: the same query over two to four models side by side, and how much their rankings agree."""

from __future__ import annotations

import streamlit as st

from core.agreement import agreement_matrix, document_ranking
from core.errors import PotionError
from core.jobs import JobStatus, library_job_key
from core.reindex import index_like
from core.search import search
from pages import shared

REINDEX = "reindex"  # the kind of job this page starts, whose failure it shows

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
    st.error(f"{job.label} stopped: {job.error}")
    st.button("Dismiss", key="dismiss-reindex", on_click=runner.forget, args=(job_key,))
elif job is not None and job.kind == REINDEX and job.status == JobStatus.DONE and job.result.failures:
    missing = [o.document for o in job.result.failures]
    st.warning(
        f"{job.label}: {len(missing)} document(s) could not be rebuilt exactly from the stored chunks and need "
        "their files: add them on the Library page with this model."
    )
    st.dataframe([{"document": o.document, "message": o.message} for o in job.result.failures], hide_index=True)
    st.button("Dismiss", key="dismiss-reindex", on_click=runner.forget, args=(job_key,))

indexed = sorted(c.meta.model_name for lib in store.libraries() if lib.name == library for c in lib.collections)
if not indexed:
    st.info(f"**{library}** has no documents yet: add some on the Library page, then compare models here.")
    st.stop()
offline = [m.name for m in shared.model_listings() if m.available_offline]
options = sorted(set(offline) | set(indexed))
st.session_state.setdefault("compare_models", (indexed + [m for m in offline if m not in indexed])[:2])
models = st.multiselect("Models (2 to 4)", options, key="compare_models", max_selections=4)
with st.form("compare"):
    query = st.text_input("Query", key="compare_query", placeholder="One query, every model")
    top_k = st.slider("Top k", 1, 20, 5, key="compare_top_k")
    st.form_submit_button("Compare", type="primary")

if len(models) < 2:
    st.info("Pick at least two models to compare.")
    st.stop()

rankings: dict[str, list[str]] = {}
columns = st.columns(len(models))
for column, model in zip(columns, models):
    with column:
        embedder = shared.try_embedder(model)
        if embedder is None:
            continue
        info = embedder.info
        st.subheader(info.name)
        st.caption(f"{info.dim} dims · {info.params_label} parameters · {info.kind}")
        if store.find(library, info.name) is None:
            st.info(f"Not indexed for {library} yet.")
            if st.button(f"Index {library} with {info.name}", key=f"index-{model}", disabled=busy):
                try:
                    runner.start(
                        job_key,
                        f"Indexing {library} with {info.name} (Compare)",
                        lambda p, e=embedder: index_like(library, e, store, progress=p),
                        kind=REINDEX,
                        join=False,  # a job started meanwhile (maybe on the Library page): say so, start nothing
                    )
                except PotionError as exc:
                    st.error(str(exc))
                else:
                    st.rerun()
            continue
        if not query.strip():
            continue
        try:
            result = search(query, library, embedder, store, top_k)
        except PotionError as exc:
            st.error(str(exc))
            continue
        rankings[info.name] = document_ranking(result.hits)
        st.caption(
            f"query {result.query_dim}d · docs {result.doc_dim}d · {result.encode_ms:.1f} + {result.search_ms:.1f} ms"
        )
        for hit in result.hits:
            with st.container(border=True):
                st.markdown(f"**#{hit.rank}** · {hit.score:.3f} · chunk {hit.chunk}")
                st.text(hit.document)
                st.text(" ".join(hit.text.split())[:220])

if len(rankings) >= 2:
    st.subheader("Agreement")
    st.caption(
        f"Top-{top_k} overlap: share of documents both models return. Rank-biased overlap (p = 0.9): "
        "agreement weighted towards the top ranks. 1 means identical rankings, 0 nothing in common."
    )
    st.table(
        [
            {
                "models": f"{p.model_a} ↔ {p.model_b}",
                f"top-{top_k} overlap": f"{p.overlap:.2f}",
                "rank-biased overlap": f"{p.rbo:.2f}",
            }
            for p in agreement_matrix(rankings, top_k)
        ]
    )
