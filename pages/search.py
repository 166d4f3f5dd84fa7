"""Search: query a library with the current model in one of three modes; hits, scores, why they matched, both dims."""

from __future__ import annotations

import streamlit as st

from core.embed.embedder import Embedder
from core.errors import PotionError
from core.evaluate.judgments import RELEVANT, hybrid_default, judge
from core.search.answer import Answer, ExplainedHit, answer
from core.search.dense_explain import SPLIT_PIECES, Coverage
from core.search.export import CSV_NOTE, hits_to_csv, hits_to_json
from core.service.language import language_mismatch, library_language, model_multilingual
from core.storage import Store
from core.storage.bm25 import BM25_B, BM25_K1
from core.storage.loading import waiting_text
from core.types import SearchMode
from pages import keys, shared
from pages.controls import Ranking, component_scores, ranking_controls, seed_weighted
from pages.verdicts import VERDICTS


def model_or_stop(store: Store, library: str) -> Embedder:
    """The sidebar's model, loaded, with an index of the library; or the step that is missing, and a stop."""
    model = shared.current_model()
    if not model:
        st.info("Pick a model in the sidebar first.")
        st.stop()
    shared.offline_or_stop(model)
    embedder = shared.try_embedder(model)
    if embedder is None:
        st.stop()
    if store.catalog.find(library, embedder.info.name) is None:
        st.info(
            f"**{shared.inert(library)}** has no documents indexed with **{shared.inert(embedder.info.name)}** yet: "
            "add some on the Library page."
        )
        st.page_link(shared.LIBRARY_PAGE, label="Go to Library", icon=":material/library_books:")
        st.stop()
    return embedder


def controls(store: Store, library: str) -> Ranking:
    """The ranking controls, opened once per switch to a library at the hybrid default it records."""
    default = hybrid_default(store, library)
    if st.session_state.get(keys.SEARCH_DEFAULTS_FOR) != library:
        st.session_state[keys.SEARCH_DEFAULTS_FOR] = library
        if default is not None:
            seed_weighted(keys.SEARCH_PREFIX, default.weight)
    note = None
    if default is not None:
        note = (
            f"This library's default is {default.weight:.1f}, tuned on {default.queries} judged queries with "
            f"{shared.inert(default.model)} (nDCG@10 {default.ndcg:.3f})."
        )
    return ranking_controls(keys.SEARCH_PREFIX, weight_note=note)


def on_judge(asked: tuple, found: Answer, store: Store, library: str, hit: ExplainedHit, verdict: int) -> None:
    result = found.result
    try:
        judge(store, library, result.query, hit.hit.document, verdict, hit.hit.chunk, result.model, shared.actor())
    except PotionError as exc:  # raised in a callback, it would show as a traceback: the page says it in one line
        st.session_state[keys.SEARCH_VERDICT_FAILED] = str(exc)
        return
    shared.keep(keys.SEARCH_ANSWER, asked, found.judged(hit.hit.document, verdict))  # shown at once, not searched


def verdict_buttons(asked: tuple, found: Answer, store: Store, library: str, hit: ExplainedHit) -> None:
    if not shared.may_write():  # a reader sees the verdicts kept, and cannot add one
        if hit.verdict is not None:
            st.caption(f"Judged {'relevant' if hit.verdict == RELEVANT else 'not relevant'} for this query.")
        return
    marks = st.columns([1, 1, 4])
    for column, (verdict, (label, icon)) in zip(marks, VERDICTS.items()):
        column.button(
            label,
            key=f"judge-{'yes' if verdict == RELEVANT else 'no'}-{hit.hit.rank}",
            icon=icon,
            type="primary" if hit.verdict == verdict else "secondary",
            on_click=on_judge,
            args=(asked, found, store, library, hit, verdict),
        )
    if hit.verdict is not None:
        marks[2].caption(
            f"You judged this document {'relevant' if hit.verdict == RELEVANT else 'not relevant'} for this query "
            "(kept in the library; see Judgments)."
        )


def _pieces(words: list) -> str:
    return ", ".join(f"{w.word} ({w.pieces})" if w.pieces > 1 else w.word for w in words) or "—"


def why_it_matched(found: Answer, hit: ExplainedHit) -> None:
    dense, keyword = hit.dense, hit.keyword
    words = ", ".join(f"{shared.inert(w.word)} (+{w.contribution:.3f})" for w in (dense.top_words[:6] if dense else []))
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
                key=f"bm25-{hit.hit.rank}",
            )
        if found.query_coverage is not None and hit.coverage is not None:
            coverage_table(found.query_coverage, hit.coverage, hit.hit.rank)


def coverage_table(query: Coverage, chunk: Coverage, rank: int) -> None:
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
            for side, c in (("query", query), ("chunk", chunk))
        ],
        hide_index=True,
        key=f"coverage-{rank}",
    )


def hit_card(asked: tuple, found: Answer, store: Store, library: str, hit: ExplainedHit, digits: int) -> None:
    with st.container(border=True):
        h = hit.hit
        where = f"chunk {h.chunk}" + (f" · page {h.page}" if h.page > 0 else "")
        st.markdown(f"**#{h.rank}** · score **{h.score:.{digits}f}** · {where}")
        st.caption(component_scores(h.dense_score, h.keyword_score))
        st.text(h.document)  # names are shown as text, never as markdown
        verdict_buttons(asked, found, store, library, hit)
        st.html(shared.highlighted_html(h.text, hit.highlights()))
        why_it_matched(found, hit)


def summary(found: Answer, mode: SearchMode) -> None:
    result = found.result
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


def downloads(found: Answer) -> None:
    if not found.result.hits:
        return
    cols = st.columns(2)
    csv = hits_to_csv([found.result], components=True)
    cols[0].download_button("Download hits (CSV)", csv, "hits.csv", "text/csv", help=CSV_NOTE)
    cols[1].download_button("Download hits (JSON)", hits_to_json([found.result]), "hits.json", "application/json")


store, library = shared.begin(":material/search: Search", waits=False)
embedder = model_or_stop(store, library)
mismatch = language_mismatch(
    library_language(store, library).language, model_multilingual(embedder.info), embedder.info.name
)
if mismatch:
    st.warning(shared.inert(mismatch), icon=":material/translate:")
# While the engine loads, asking it anything would hang the page: the form stays, and a search waits its turn.
waiting = store.waits_for(library, embedder.info.name)
documents = [] if waiting else [d.name for d in store.index(library, embedder.info.name).documents()]
ranking = controls(store, library)
with st.form("search"):
    query = st.text_input("Query", key="search_query", placeholder="Ask something about your documents").strip()
    cols = st.columns([1, 3])
    top_k = cols[0].slider("Top k", 1, 50, 5, key="search_top_k")
    only = cols[1].selectbox(
        "Only in document",
        documents,
        index=None,
        key="search_doc",
        placeholder="Listed once the load ends" if waiting else "All documents",
        disabled=bool(waiting),
    )
    submitted = st.form_submit_button("Search", type="primary")
if waiting:
    st.caption(f"{shared.inert(waiting_text(waiting[0]))} A search submitted now runs when the load ends.")
if query:
    info = embedder.info
    asked = (query, library, info.name, info.fingerprint, top_k, only, ranking)
    if waiting:
        if submitted:
            st.session_state[keys.SEARCH_QUEUED] = asked
        if st.session_state.get(keys.SEARCH_QUEUED) == asked:
            st.info(f"Queued: “{shared.inert(query)}” runs when the load ends.")
        st.stop()
    queued = st.session_state.pop(keys.SEARCH_QUEUED, None) == asked
    try:
        found = shared.once(
            keys.SEARCH_ANSWER,
            asked,
            lambda: answer(
                query,
                library,
                info.name,
                store,
                embedder=embedder,
                top_k=top_k,
                document=only,
                mode=ranking.mode,
                params=ranking.params,
                keyword_stats=shared.keyword_stats(),
            ),
            fresh=submitted or queued,
        )
    except PotionError as exc:
        st.error(shared.inert(exc))
        st.stop()
    summary(found, ranking.mode)
    failed = st.session_state.pop(keys.SEARCH_VERDICT_FAILED, None)
    if failed:
        st.error(shared.inert(failed))
    for hit in found.hits:
        hit_card(asked, found, store, library, hit, ranking.digits)
    downloads(found)
