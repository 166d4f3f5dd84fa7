"""Compare: the same query over two to four models side by side, and how much their rankings agree."""

from __future__ import annotations

import streamlit as st

from core.embed.embedder import Embedder
from core.errors import PotionError
from core.ingest.reindex import index_like
from core.search.agreement import agreement_matrix, document_ranking
from core.search.query import SearchResult, search
from core.service.jobs import JobRunner, JobStatus, library_job_key
from core.storage import Store
from core.types import SearchMode
from pages import keys, shared
from pages.controls import Ranking, component_scores, ranking_controls

REINDEX = "reindex"  # the kind of job this page starts, whose failure it shows
BM25 = "BM25"  # the baseline column's name in the agreement table


def job_panel(runner: JobRunner, library: str) -> bool:
    """The library's running job (whichever page started it), or the outcome of this page's last; True if busy."""
    job_key = library_job_key(library)  # the Library page's key too: one job per library, seen from both pages
    job = runner.get(job_key)
    if job is not None and job.running:
        shared.job_progress(library)
        return True
    if job is None or job.kind != REINDEX:
        return False
    if job.status == JobStatus.FAILED:
        st.error(shared.inert(f"{job.label} stopped: {job.error}"))
        st.button("Dismiss", key="dismiss-reindex", on_click=runner.forget, args=(job_key,))
    elif job.result.failures:
        missing = [o.document for o in job.result.failures]
        st.warning(
            f"{shared.inert(job.label)}: {len(missing)} document(s) could not be rebuilt exactly from the stored "
            "chunks and need their files: add them on the Library page with this model."
        )
        st.dataframe([{"document": o.document, "message": o.message} for o in job.result.failures], hide_index=True)
        st.button("Dismiss", key="dismiss-reindex", on_click=runner.forget, args=(job_key,))
    return False


def show_hits(result: SearchResult, ranking: Ranking) -> None:
    for hit in result.hits:
        with st.container(border=True):
            st.markdown(f"**#{hit.rank}** · {hit.score:.{ranking.digits}f} · chunk {hit.chunk}")
            if ranking.mode == SearchMode.HYBRID:
                st.caption(component_scores(hit.dense_score, hit.keyword_score))
            st.text(hit.document)
            st.text(" ".join(hit.text.split())[:220])


def offer_indexing(store: Store, runner: JobRunner, library: str, embedder: Embedder, busy: bool) -> None:
    """A model with no index of the library: one click indexes it from the stored chunks, in the background."""
    st.info(f"Not indexed for {shared.inert(library)} yet.")
    if not shared.may_write():
        shared.read_only_note("Indexing")
        return
    name = embedder.info.name
    if not st.button(f"Index {shared.inert(library)} with {shared.inert(name)}", key=f"index-{name}", disabled=busy):
        return
    settings, actor = shared.settings(), shared.actor()
    try:
        runner.start(
            library_job_key(library),
            f"Indexing {library} with {name} (Compare)",
            lambda p: index_like(library, embedder, store, progress=p, settings=settings, actor=actor),
            kind=REINDEX,
            join=False,  # a job started meanwhile (maybe on the Library page): say so, start nothing
        )
    except PotionError as exc:
        st.error(shared.inert(exc))
    else:
        st.rerun()


def model_column(
    store: Store, library: str, embedder: Embedder, query: str, top_k: int, ranking: Ranking
) -> list | None:
    """One model's hits for the query; its document ranking, or None when it has none to give."""
    if not query:
        return None
    try:
        result = search(query, library, embedder, store, top_k, mode=ranking.mode, params=ranking.params)
    except PotionError as exc:
        st.error(shared.inert(exc))
        return None
    st.caption(
        f"query {result.query_dim}d · docs {result.doc_dim}d · {result.encode_ms:.1f} + {result.search_ms:.1f} ms"
    )
    show_hits(result, ranking)
    return document_ranking(result.hits)


def baseline_column(store: Store, library: str, query: str, top_k: int) -> list | None:
    """BM25 over the chunk text: every index of the library with keyword search ranks alike, and none needs its
    model loaded for it."""
    st.subheader(BM25)
    keyword_index = next((m for m in store.catalog.collections() if m.library == library and m.has_keyword), None)
    if keyword_index is None:
        st.info(f"No index of {shared.inert(library)} has keyword search yet: rebuild one on the Library page.")
        return None
    st.caption(f"keyword baseline · {keyword_index.analyzer} analyzer · no model")
    if not query:
        return None
    try:
        result = search(query, library, keyword_index.model_name, store, top_k, mode=SearchMode.KEYWORD)
    except PotionError as exc:
        st.error(shared.inert(exc))
        return None
    st.caption(f"{result.search_ms:.1f} ms")
    show_hits(result, Ranking(SearchMode.KEYWORD, None))
    return document_ranking(result.hits)


def agreement(rankings: dict[str, list[str]], top_k: int) -> None:
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


store, library = shared.begin(":material/compare: Compare models")
runner = shared.jobs()
st.caption(
    "Scores come from different vector spaces and are not comparable across columns: compare the rankings. "
    "Agreement is measured on documents, since models may cut chunks differently."
)
busy = job_panel(runner, library)
indexed = store.catalog.models(library)
if not indexed:
    st.info(
        f"**{shared.inert(library)}** has no documents yet: add some on the Library page, then compare models here."
    )
    st.stop()
offline = [m.name for m in shared.model_listings(shared.settings()) if m.available_offline]
st.session_state.setdefault(keys.COMPARE_MODELS, (indexed + [m for m in offline if m not in indexed])[:2])
models = st.multiselect(
    "Models (2 to 4)", sorted(set(offline) | set(indexed)), key=keys.COMPARE_MODELS, max_selections=4
)
ranking = ranking_controls(keys.COMPARE_PREFIX, label="Mode (every model)")
baseline = st.checkbox(
    "Add BM25 baseline column", key="compare_bm25", help="Keyword search over the chunk text: it needs no model."
)
with st.form("compare"):
    query = st.text_input("Query", key="compare_query", placeholder="One query, every model").strip()
    top_k = st.slider("Top k", 1, 20, 5, key="compare_top_k")
    st.form_submit_button("Compare", type="primary")
if len(models) < 2:
    st.info("Pick at least two models to compare.")
    st.stop()
rankings: dict[str, list[str]] = {}
columns = st.columns(len(models) + baseline)
for column, model in zip(columns, models):
    with column:
        if (embedder := shared.try_embedder(model)) is None:
            continue
        info = embedder.info
        st.subheader(shared.inert(info.name))
        st.caption(f"{info.dim} dims · {info.params_label} parameters · {info.kind}")
        if store.catalog.find(library, embedder.info.name) is None:
            offer_indexing(store, runner, library, embedder, busy)
        elif (found := model_column(store, library, embedder, query, top_k, ranking)) is not None:
            rankings[embedder.info.name] = found
if baseline:
    with columns[-1]:
        if (found := baseline_column(store, library, query, top_k)) is not None:
            rankings[BM25] = found
if len(rankings) >= 2:
    agreement(rankings, top_k)
