"""Search: query a library with the current model in one of three modes; hits, scores, why they matched, both dims."""

from __future__ import annotations

import streamlit as st

from core.errors import PotionError
from core.evaluate.judgments import NOT_RELEVANT, RELEVANT, hybrid_default, judge, verdicts
from core.search.dense_explain import SPLIT_PIECES, explain_matches, highlight_spans, vocabulary_coverage
from core.search.export import CSV_NOTE, hits_to_csv, hits_to_json
from core.search.keyword_explain import explain_keywords, keyword_spans
from core.search.query import search
from core.storage.bm25 import BM25_B, BM25_K1
from core.types import Fusion, HybridParams, SearchMode
from pages import shared

MODES = {
    SearchMode.DENSE: "Dense (meaning)",
    SearchMode.KEYWORD: "Keyword (BM25)",
    SearchMode.HYBRID: "Hybrid (both)",
}
FUSIONS = {Fusion.RRF: "Reciprocal rank fusion", Fusion.WEIGHTED: "Weighted blend"}

shared.ensure_frame()

store = shared.shared_store()
library = shared.need_library()
model = shared.current_model()
st.title(":material/search: Search")
if not model:
    st.info("Pick a model in the sidebar first.")
    st.stop()
shared.offline_or_stop(model)
embedder = shared.try_embedder(model)
if embedder is None:
    st.stop()
meta = store.catalog.find(library, embedder.info.name)
if meta is None:
    st.info(
        f"**{shared.inert(library)}** has no documents indexed with **{shared.inert(embedder.info.name)}** yet: "
        "add some on the Library page."
    )
    st.page_link("pages/library.py", label="Go to Library", icon=":material/library_books:")
    st.stop()

documents = [d.name for d in store.index(library, embedder.info.name).documents()]
library_default = hybrid_default(store, library)
if st.session_state.get("search_defaults_for") != library:  # a library's recorded hybrid, once per switch to it
    st.session_state["search_defaults_for"] = library
    if library_default is not None:
        st.session_state["search_fusion"] = str(Fusion.WEIGHTED)
        st.session_state["search_weight"] = library_default.weight
st.session_state.setdefault("search_weight", 0.5)
# Outside the form: the fusion choice and the weight appear as soon as the mode asks for them.
mode = SearchMode(
    st.radio("Mode", [str(m) for m in MODES], format_func=lambda m: MODES[m], key="search_mode", horizontal=True)
)
fusion: Fusion | None = None
weight: float | None = None
if mode == SearchMode.HYBRID:
    controls = st.columns(2)
    fusion = Fusion(
        controls[0].radio(
            "Fusion", [str(f) for f in FUSIONS], format_func=lambda f: FUSIONS[f], key="search_fusion", horizontal=True
        )
    )
    if fusion == Fusion.WEIGHTED:
        weight = controls[1].slider(
            "Dense share", 0.0, 1.0, step=0.05, key="search_weight", help="1 ranks by meaning only, 0 by keywords only"
        )
        if library_default is not None:
            controls[1].caption(
                f"This library's default is {library_default.weight:.1f}, tuned on {library_default.queries} judged "
                f"queries with {shared.inert(library_default.model)} (nDCG@10 {library_default.ndcg:.3f})."
            )
params = HybridParams(fusion=fusion, weight=weight if weight is not None else 0.5) if fusion else None

with st.form("search"):
    query = st.text_input("Query", key="search_query", placeholder="Ask something about your documents")
    cols = st.columns([1, 3])
    top_k = cols[0].slider("Top k", 1, 50, 5, key="search_top_k")
    only = cols[1].selectbox("Only in document", documents, index=None, key="search_doc", placeholder="All documents")
    submitted = st.form_submit_button("Search", type="primary")

# Hits and explanations are computed once per submitted query and kept: a rerun (a download click, a
# sidebar change that keeps the same query) shows them again without searching or explaining again.
asked = (query.strip(), library, embedder.info.name, embedder.info.fingerprint, top_k, only, mode, fusion, weight)
kept = st.session_state.get("search_answer")
if query.strip() and (submitted or kept is None or kept[0] != asked):
    try:
        found = search(query, library, embedder, store, top_k, only, mode=mode, params=params)
        texts = [h.text for h in found.hits]
        dense_why = explain_matches(embedder, query, texts) if mode != SearchMode.KEYWORD else [None] * len(texts)
        keyword_why = [None] * len(texts)
        if mode != SearchMode.DENSE:
            stats = shared.keyword_stats(store, library, embedder.info.name, meta.analyzer)
            keyword_why = explain_keywords(query, texts, stats)
        coverage = (vocabulary_coverage(embedder, query), [vocabulary_coverage(embedder, t) for t in texts])
        kept = (asked, found, dense_why, keyword_why, coverage)
    except PotionError as exc:
        st.error(shared.inert(exc))
        st.stop()
    st.session_state["search_answer"] = kept


def _component(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _pieces(words: list) -> str:
    return ", ".join(f"{w.word} ({w.pieces})" if w.pieces > 1 else w.word for w in words) or "—"


if query.strip() and kept is not None and kept[0] == asked:
    _, result, dense_why, keyword_why, (query_coverage, chunk_coverage) = kept
    dims = st.columns(4)
    dims[0].metric("Query vector", f"{result.query_dim} dims")
    dims[1].metric("Document vectors", f"{result.doc_dim} dims")
    dims[2].metric("Encode", f"{result.encode_ms:.1f} ms")
    dims[3].metric("Search", f"{result.search_ms:.1f} ms")
    if result.unknown_query and mode == SearchMode.DENSE:
        st.warning(f"None of the words in the query are known to {shared.inert(result.model)}, so nothing can match.")
    elif result.unknown_query:
        st.info(
            f"None of the words in the query are known to {shared.inert(result.model)}: "
            "only the keyword ranking counts."
        )
    if not result.hits and not (result.unknown_query and mode == SearchMode.DENSE):
        st.info("No hits.")
    if result.hits and mode != SearchMode.DENSE:
        st.caption(
            "Keyword shares are computed from the chunk's text with the engine's BM25 formula "
            f"(k1={BM25_K1}, b={BM25_B}) and may differ slightly from the engine's score if tokenization differs."
        )
    digits = 4 if fusion == Fusion.RRF else 3  # RRF scores are small and close together
    # documents are judged, so a verdict shows on all their hits
    judged = verdicts(store.judgments.list(library), query)
    for hit, dense, keyword, coverage in zip(result.hits, dense_why, keyword_why, chunk_coverage):
        with st.container(border=True):
            where = f"chunk {hit.chunk}" + (f" · page {hit.page}" if hit.page > 0 else "")
            st.markdown(f"**#{hit.rank}** · score **{hit.score:.{digits}f}** · {where}")
            st.caption(f"cosine {_component(hit.dense_score)} · BM25 {_component(hit.keyword_score)}")
            st.text(hit.document)  # names are shown as text, never as markdown
            verdict = judged.get(hit.document)
            marks = st.columns([1, 1, 4])
            marks[0].button(
                "Relevant",
                key=f"judge-yes-{hit.rank}",
                icon=":material/thumb_up:",
                type="primary" if verdict == RELEVANT else "secondary",
                on_click=judge,
                args=(store, library, query, hit.document, RELEVANT, hit.chunk, embedder.info.name),
            )
            marks[1].button(
                "Not relevant",
                key=f"judge-no-{hit.rank}",
                icon=":material/thumb_down:",
                type="primary" if verdict == NOT_RELEVANT else "secondary",
                on_click=judge,
                args=(store, library, query, hit.document, NOT_RELEVANT, hit.chunk, embedder.info.name),
            )
            if verdict is not None:
                marks[2].caption(
                    f"You judged this document {'relevant' if verdict == RELEVANT else 'not relevant'} for this query "
                    "(kept in the library; see Judgments)."
                )
            if dense is not None:
                spans = [s for s in highlight_spans(dense, 12) if s[2] >= 0.3]  # only words that matter
            else:
                spans = keyword_spans(keyword)
            st.html(shared.highlighted_html(hit.text, spans))
            top = dense.top_words[:6] if dense else []
            words = ", ".join(f"{shared.inert(w.word)} (+{w.contribution:.3f})" for w in top)
            if words:
                st.caption(f"Why it matched — words adding most to the score: {words}")
            # Analysed terms are runs of letters and digits, so no markup can hide in them.
            terms = ", ".join(f"{t.term} {t.share:.0%}" for t in keyword.terms if t.score > 0) if keyword else ""
            if terms:
                st.caption(f"Why it matched — query terms' shares of the BM25 score: {terms}")
            with st.expander("Why it matched: term shares and vocabulary"):
                if keyword is not None:
                    st.caption(f"Each query term's share of the BM25 score ({keyword.score:.3f} computed here):")
                    st.dataframe(
                        [
                            {
                                "query term": t.term,
                                "query words": ", ".join(t.words),
                                "in chunk": t.tf,
                                "chunks with it": t.df,
                                "BM25 part": round(t.score, 3),
                                "share": f"{t.share:.0%}",
                            }
                            for t in keyword.terms
                        ],
                        hide_index=True,
                        key=f"bm25-{hit.rank}",
                    )
                st.caption(
                    "Vocabulary coverage — words the model does not know add nothing to a vector; "
                    "words cut into many pieces are read only as fragments:"
                )
                st.dataframe(
                    [
                        {
                            "text": side,
                            "words": c.words,
                            "unknown to the model": _pieces(c.unknown),
                            f"split into {SPLIT_PIECES}+ pieces": _pieces(c.split),
                        }
                        for side, c in (("query", query_coverage), ("chunk", coverage))
                    ],
                    hide_index=True,
                    key=f"coverage-{hit.rank}",
                )
    if result.hits:
        cols = st.columns(2)
        cols[0].download_button(
            "Download hits (CSV)",
            hits_to_csv([result], components=True),
            "hits.csv",
            "text/csv",
            help=CSV_NOTE,
        )
        cols[1].download_button("Download hits (JSON)", hits_to_json([result]), "hits.json", "application/json")
