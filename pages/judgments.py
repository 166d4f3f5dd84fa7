"""Judgments: the hits marked on the Search page, edited, exported as BEIR files, evaluated, and a hybrid tuned."""

from __future__ import annotations

import time

import altair as alt
import streamlit as st

from core.errors import PotionError
from core.evaluate.judgment_files import (
    judgments_jsonl,
    qrels_tsv,
    queries_jsonl,
    read_judgments_jsonl,
)
from core.evaluate.judgments import (
    MIN_RELIABLE_QUERIES,
    RELEVANT,
    HybridSweep,
    JudgedCollection,
    evaluate_judgments,
    hybrid_default,
    judged_collection,
    sweep_hybrid_weight,
)
from core.evaluate.metrics import measure_label
from core.evaluate.report import SPREAD_MEASURE, comparison_table, results_table
from core.insight.costs import quality_from_report
from core.service.judgments import adopt_hybrid_default, import_judgments, revise_judgments
from core.service.runs import keep_evaluation
from core.storage import Store
from core.types import SearchMode
from pages import keys, shared


def import_panel(store: Store, library: str) -> None:
    if not shared.may_write():
        shared.read_only_note("Importing, editing and deleting judgments")
        return
    with st.expander("Import judgments", expanded=not store.judgments.list(library)):
        st.caption(
            "A judgments.jsonl downloaded from this page, from any library or database: the verdicts join this "
            "library's; a verdict on the same query and document replaces the one here, and importing twice adds "
            "nothing."
        )
        upload = st.file_uploader("judgments.jsonl", type=["jsonl", "json"], key="judgments_import_file")
        if upload is None or not st.button("Import", key="judgments_import"):
            return
        try:
            judgments = read_judgments_jsonl(upload.getvalue(), upload.name)
            done = import_judgments(store, library, judgments, shared.actor())
        except PotionError as exc:
            st.error(shared.inert(exc))
        else:
            st.success(f"Imported: {done.added} added, {done.replaced} replaced, {done.unchanged} already here.")
            shared.forget(keys.SEARCH_ANSWER)  # the Search page shows verdicts: ask it again


def editor(store: Store, library: str, judgments: list) -> None:
    rows = [
        {"query": j.query, "document": j.document, "relevant": j.relevance >= RELEVANT, "delete": False}
        | {"judged": j.judged_at}
        for j in judgments
    ]
    if not shared.may_write():  # the verdicts as they are, with nothing to edit
        shown = [{k: v for k, v in r.items() if k != "delete"} for r in rows]
        st.dataframe(shown, hide_index=True, key="judgments_table")
        return
    edited = st.data_editor(
        rows,
        key="judgments_table",
        hide_index=True,
        disabled=["query", "document", "judged"],
        column_config={
            "relevant": st.column_config.CheckboxColumn("relevant"),
            "delete": st.column_config.CheckboxColumn(),
        },
    )
    if not st.button("Save changes", key="judgments_save"):
        return
    try:
        relevant, delete = [r["relevant"] for r in edited], [r["delete"] for r in edited]
        revise_judgments(store, library, judgments, relevant, delete, shared.actor())
    except PotionError as exc:
        st.error(shared.inert(exc))
    else:
        shared.forget(keys.SEARCH_ANSWER)  # the Search page shows verdicts: ask it again
        st.rerun()


def downloads(judgments: list) -> None:
    qrels = qrels_tsv(judgments)
    cols = st.columns(3)
    cols[0].download_button("Download qrels.tsv", qrels.text, "qrels.tsv", "text/tab-separated-values")
    cols[1].download_button("Download queries.jsonl", queries_jsonl(judgments), "queries.jsonl", "application/json")
    cols[2].download_button(
        "Download judgments.jsonl",
        judgments_jsonl(judgments),
        "judgments.jsonl",
        "application/json",
        help="Every verdict with its query, document, hit and time: import it into another library or database.",
    )
    if qrels.left_out:
        st.warning(
            f"qrels.tsv leaves out {len(qrels.left_out)} document(s) whose names hold a tab or a line break, which "
            "its columns cannot carry: "
            + ", ".join(shared.inert(repr(name)) for name in qrels.left_out[:5])
            + (f" and {len(qrels.left_out) - 5} more" if len(qrels.left_out) > 5 else "")
            + ". judgments.jsonl keeps them."
        )


def bar_progress(label: str):
    """A progress bar with done/total and rate for a synchronous run (these runs take seconds)."""
    bar, began = st.progress(0.0, text=label), time.perf_counter()

    def update(stage: str, done: int, total: int) -> None:
        rate = done / max(time.perf_counter() - began, 1e-9)
        bar.progress(done / total if total else 1.0, text=f"{shared.inert(stage)}: {done}/{total} · {rate:.1f}/s")

    return update


def evaluation(store: Store, library: str, collection: JudgedCollection) -> None:
    st.subheader("Evaluate on these judgments")
    indexed = store.catalog.models(library)
    if len(collection.queries) < MIN_RELIABLE_QUERIES:
        st.warning(
            f"Only {len(collection.queries)} judged queries have a relevant document: intervals will be wide and a "
            f"choice made on them is shaky. About {MIN_RELIABLE_QUERIES} or more make it reliable."
        )
    with st.form("judgments-evaluate"):
        models = st.multiselect("Models", indexed, default=indexed[:2], key="judgments_models")
        modes = st.multiselect(
            "Modes", [m.value for m in SearchMode], default=["dense", "keyword"], key="judgments_modes"
        )
        run = st.form_submit_button("Evaluate", type="primary")
    if run and models and modes:
        try:
            embedders = {m: shared.embedder(m, shared.settings()) for m in models}
            report = evaluate_judgments(
                store, library, embedders, [SearchMode(m) for m in modes], progress=bar_progress("Evaluating")
            )
            saved = keep_evaluation(store, report, actor=shared.actor())  # every evaluation is a saved run
        except PotionError as exc:
            st.error(shared.inert(exc))
        else:
            st.session_state[keys.JUDGMENTS_REPORT] = report
            st.session_state[keys.JUDGMENTS_SAVED] = saved
            # The Costs page plots quality against cost where an evaluation of the library exists.
            st.session_state.setdefault(keys.COST_QUALITY, {})[library] = quality_from_report(report)
    report = st.session_state.get(keys.JUDGMENTS_REPORT)
    if report is not None and report.dataset.startswith(library):
        evaluation_tables(report)
        shared.saved_note(st.session_state.get(keys.JUDGMENTS_SAVED))


def evaluation_tables(report) -> None:
    # The Evaluate page's and the CLI's tables; st.table renders markdown, so names go in inert.
    st.table([row | {"model": shared.inert(row["model"])} for row in results_table(report).records()])
    st.caption("Means over the judged queries with 95% bootstrap intervals over queries.")
    base = report.results[0]
    diffs = [
        row | {"model": shared.inert(row["model"])}
        for row in comparison_table(report).records()
        if row["measure"] == measure_label(SPREAD_MEASURE)
    ]
    if diffs:
        st.caption(f"Against {shared.inert(base.model)} {base.key.label()}: difference of means, paired.")
        st.table(diffs)


def tuning(store: Store, library: str) -> None:
    st.subheader("Tune the hybrid")
    with_bm25 = {m.model_name for m in store.catalog.collections() if m.library == library and m.has_keyword}
    keyword_ready = [m for m in store.catalog.models(library) if m in with_bm25]
    if not keyword_ready:
        st.info("No index of this library has keyword search, which the hybrid needs.")
        return
    with st.form("judgments-sweep"):
        model = st.selectbox("Model", keyword_ready, key="judgments_sweep_model")
        sweep_run = st.form_submit_button("Sweep the weight")
    if sweep_run:
        try:
            sweep = sweep_hybrid_weight(
                store, library, shared.embedder(model, shared.settings()), progress=bar_progress("Sweeping")
            )
        except PotionError as exc:
            st.error(shared.inert(exc))
        else:
            st.session_state[keys.JUDGMENTS_SWEEP] = (library, sweep)
    kept = st.session_state.get(keys.JUDGMENTS_SWEEP)
    if kept is not None and kept[0] == library:
        sweep_result(store, library, kept[1])


def sweep_result(store: Store, library: str, sweep: HybridSweep) -> None:
    points = [{"weight": p.weight, "mean": p.ndcg.mean, "low": p.ndcg.low, "high": p.ndcg.high} for p in sweep.points]
    base = alt.Chart(alt.Data(values=points)).encode(x=alt.X("weight:Q", title="dense share (0 = keyword only)"))
    chart = base.mark_line(point=True).encode(y=alt.Y("mean:Q", title="nDCG@10")) + base.mark_errorbar().encode(
        y="low:Q", y2="high:Q"
    )
    st.altair_chart(chart.properties(height=300), width="stretch")
    best = sweep.best
    st.success(
        f"Best weight for {shared.inert(sweep.model)}: **{best.weight:.1f}** (nDCG@10 {best.ndcg.mean:.3f} "
        f"[{best.ndcg.low:.3f}, {best.ndcg.high:.3f}]) on {sweep.queries} judged queries; set it as the dense share "
        "of a weighted hybrid on the Search page."
    )
    if shared.may_write():
        st.button(
            f"Make {best.weight:.1f} this library's hybrid default",
            key="judgments_adopt",
            on_click=adopt_hybrid_default,
            args=(store, library, sweep, shared.actor()),
            help="Search then opens weighted hybrid at this weight for the library; the choice is recorded with the "
            "number of judged queries it came from.",
        )
    current = hybrid_default(store, library)
    if current is not None:
        st.caption(
            f"Current default: {current.weight:.1f} ({shared.inert(current.model)}, {current.queries} judged queries, "
            f"{current.judgments} judgments, chosen {current.chosen_at})."
        )
    if not sweep.reliable:
        st.warning(
            f"{sweep.queries} judged queries are fewer than about {MIN_RELIABLE_QUERIES}: the best weight mostly fits "
            "these few queries. Judge more before relying on it."
        )


store, library = shared.begin(":material/fact_check: Judgments")
st.caption(
    "Mark hits relevant or not on the Search page; the verdicts are kept in this library (in the database) with "
    "the query. They judge whole documents, as benchmark qrels do, so the metrics here score each document by "
    "its best chunk."
)
import_panel(store, library)
judgments = store.judgments.list(library)
if not judgments:
    st.info(
        f"No judgments in **{shared.inert(library)}** yet: search on the Search page and mark hits relevant or not."
    )
    st.page_link(shared.SEARCH_PAGE, label="Go to Search", icon=":material/search:")
    st.stop()
collection = judged_collection(judgments)
st.markdown(
    f"**{len(judgments)}** judgments over **{collection.judged_queries}** queries, "
    f"**{len(collection.queries)}** of them with a relevant document."
)
editor(store, library, judgments)
downloads(judgments)
evaluation(store, library, collection)
tuning(store, library)
