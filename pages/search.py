"""Search: query a library with the current model; hits, scores, why they matched, both dims."""

from __future__ import annotations

import streamlit as st

from core.errors import PotionError
from core.explain import explain_matches, highlight_spans
from core.export import hits_to_csv, hits_to_json
from core.search import search
from pages import shared

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
if store.find(library, embedder.info.name) is None:
    st.info(f"**{library}** has no documents indexed with **{embedder.info.name}** yet: add some on the Library page.")
    st.page_link("pages/library.py", label="Go to Library", icon=":material/library_books:")
    st.stop()

documents = [d.name for d in store.documents(library, embedder.info.name)]
with st.form("search"):
    query = st.text_input("Query", key="search_query", placeholder="Ask something about your documents")
    cols = st.columns([1, 3])
    top_k = cols[0].slider("Top k", 1, 50, 5, key="search_top_k")
    only = cols[1].selectbox("Only in document", documents, index=None, key="search_doc", placeholder="All documents")
    submitted = st.form_submit_button("Search", type="primary")

# Hits and explanations are computed once per submitted query and kept: a rerun (a download click, a
# sidebar change that keeps the same query) shows them again without searching or explaining again.
asked = (query.strip(), library, embedder.info.name, embedder.info.fingerprint, top_k, only)
kept = st.session_state.get("search_answer")
if query.strip() and (submitted or kept is None or kept[0] != asked):
    try:
        found = search(query, library, embedder, store, top_k, only)
        kept = (asked, found, explain_matches(embedder, query, [h.text for h in found.hits]))
    except PotionError as exc:
        st.error(str(exc))
        st.stop()
    st.session_state["search_answer"] = kept

if query.strip() and kept is not None and kept[0] == asked:
    _, result, explanations = kept
    dims = st.columns(4)
    dims[0].metric("Query vector", f"{result.query_dim} dims")
    dims[1].metric("Document vectors", f"{result.doc_dim} dims")
    dims[2].metric("Encode", f"{result.encode_ms:.1f} ms")
    dims[3].metric("Search", f"{result.search_ms:.1f} ms")
    if result.unknown_query:
        st.warning(f"None of the words in the query are known to {result.model}, so nothing can match.")
    elif not result.hits:
        st.info("No hits.")
    for hit, explanation in zip(result.hits, explanations):
        with st.container(border=True):
            where = f"chunk {hit.chunk}" + (f" · page {hit.page}" if hit.page > 0 else "")
            st.markdown(f"**#{hit.rank}** · score **{hit.score:.3f}** · {where}")
            st.text(hit.document)  # names are shown as text, never as markdown
            spans = [s for s in highlight_spans(explanation, 12) if s[2] >= 0.3]  # only words that matter
            st.html(shared.highlighted_html(hit.text, spans))
            words = ", ".join(f"{w.word} (+{w.contribution:.3f})" for w in explanation.top_words[:6])
            if words:
                st.caption(f"Why it matched — words adding most to the score: {words}")
    if result.hits:
        cols = st.columns(2)
        cols[0].download_button("Download hits (CSV)", hits_to_csv([result]), "hits.csv", "text/csv")
        cols[1].download_button("Download hits (JSON)", hits_to_json([result]), "hits.json", "application/json")
