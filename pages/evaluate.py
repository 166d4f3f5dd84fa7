"""Evaluate: models and modes measured on a labelled collection, with intervals, paired tests and the queries
where they disagree most."""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import streamlit as st

from core.errors import PotionError
from core.evaluate.report import (
    MEASURE_LABELS,
    SPREAD_MEASURE,
    EvaluationRun,
    collection_name,
    comparison_table,
    disagreement_table,
    disagreements,
    label_of,
    metric_points,
    query_differences,
    relevance_of,
    results_table,
    run_evaluation,
    run_label,
    save_collection,
)
from core.evaluate.results import RunKey
from core.evaluate.runs import WHOLE_DOCUMENTS, evaluation_library, run_keys
from core.evaluate.tuning import WEIGHTS
from core.ingest.chunking import ChunkSettings
from core.ingest.pipeline import default_chunking
from core.search.query import search_many
from core.service.jobs import JobRunner, JobStatus, library_job_key
from core.service.runs import SaveOutcome, keep_evaluation
from core.storage import Store
from core.types import SearchMode
from pages import keys, shared
from pages.controls import evaluation_downloads

EVALUATE = "evaluate"  # the kind of job this page starts, whose outcome it shows
JOB_KEY, RESULT_KEY, ERROR_KEY = keys.EVALUATE_JOB, keys.EVALUATE_RESULT, keys.EVALUATE_ERROR
SAVED_KEY = keys.EVALUATE_SAVED
UPLOAD, FOLDER = "Upload three files", "A folder on this machine"
HITS_SHOWN = 5


@dataclass(frozen=True)
class Request:
    """What the inputs ask for: a collection (uploaded or a folder), models, modes, chunking and the baseline."""

    ready: bool
    source: str
    uploads: tuple  # corpus, queries, qrels (UploadedFile), when uploaded
    dataset: str
    folder: str
    models: list[str]
    modes: list[SearchMode]
    weights: list[float]  # a weighted hybrid run per model at each dense share
    chunking: ChunkSettings
    baseline: RunKey | None


def job_panel(runner: JobRunner) -> bool:
    """The running job, or the outcome of the last one moved into the session; True while one runs."""
    running_library = st.session_state.get(JOB_KEY)
    job = runner.get(library_job_key(running_library)) if running_library else None
    if job is not None and job.running:
        shared.job_progress(running_library)
        return True
    if job is not None and job.kind == EVALUATE:
        # The outcome moves into the session, so every later rerun still shows it, not just the first.
        failed = job.status == JobStatus.FAILED
        st.session_state[RESULT_KEY], st.session_state[SAVED_KEY] = (None, None) if failed else job.result
        st.session_state[ERROR_KEY] = job.error if failed else None
        runner.forget(library_job_key(running_library))
        st.session_state.pop(JOB_KEY, None)
    if error := st.session_state.get(ERROR_KEY):
        st.error(shared.inert(f"Evaluation stopped: {error}"))
    return False


def inputs(busy: bool) -> Request:
    # Each input is kept for the session (persist_state): an analyst looks at the Runs page and comes back to change
    # one setting, not to pick everything again.
    # A reader evaluates collections on this machine that are indexed already: an upload would be saved and indexed.
    sources = [UPLOAD, FOLDER] if shared.may_write() else [FOLDER]
    source = st.radio("Collection", sources, key="eval_source", persist_state="session", horizontal=True, disabled=busy)
    if not shared.may_write():
        shared.read_only_note("Uploading a collection, and indexing one not indexed yet")
    uploads, dataset, folder = (), "", ""
    if source == UPLOAD:
        cols = st.columns(3)
        uploads = (
            cols[0].file_uploader("corpus.jsonl", type=["jsonl"], key="eval_corpus", disabled=busy),
            cols[1].file_uploader("queries.jsonl", type=["jsonl"], key="eval_queries", disabled=busy),
            cols[2].file_uploader(
                "qrels (BEIR .tsv or TREC)", type=["tsv", "txt", "qrels"], key="eval_qrels", disabled=busy
            ),
        )
        dataset = st.text_input(
            "Dataset name",
            "uploaded",
            key="eval_name",
            persist_state="session",
            disabled=busy,
            help="Names the eval library; the same name reuses it.",
        )
        ready = all(uploads) and bool(dataset.strip())
    else:
        folder = st.text_input(
            "Folder",
            key="eval_folder",
            persist_state="session",
            disabled=busy,
            placeholder="../shared/datasets/scifact",
        ).strip()
        ready = bool(folder)
    current = shared.current_model()
    offline = shared.offline_models()
    st.session_state.setdefault(keys.EVAL_MODELS, [current] if current in offline else offline[:1])
    models = st.multiselect(
        "Models",
        offline,
        key=keys.EVAL_MODELS,
        persist_state="session",
        disabled=busy,
        help="Models available offline.",
    )
    modes = [
        SearchMode(m)
        for m in st.multiselect(
            "Modes",
            [str(m) for m in SearchMode],
            default=[str(SearchMode.DENSE)],
            key="eval_modes",
            persist_state="session",
            disabled=busy,
        )
    ]
    weights = st.multiselect(
        "Weighted hybrid (dense share)",
        WEIGHTS,
        format_func=lambda w: f"{w:g}",
        key="eval_weights",
        persist_state="session",
        disabled=busy,
        help="Adds a hybrid run per model blending the two scores at each dense share (1: meaning only, 0: keywords "
        "only), as `evaluate --weight`. Hybrid in Modes fuses by reciprocal rank instead.",
    )
    default = default_chunking(shared.settings())
    chunk_choices = {
        "default": f"Default ({default.size} {default.unit.value}, overlap {default.overlap})",
        "whole": "One chunk per document",
    }
    chunk_choice = st.radio(
        "Chunking",
        list(chunk_choices),
        format_func=chunk_choices.get,
        key="eval_chunking",
        persist_state="session",
        horizontal=True,
        disabled=busy,
    )
    asked = [key for model in models for key in run_keys(model, modes, weights)] if modes or weights else []
    runs = {run_label(key.model, key.label()): key for key in asked}
    picked = st.selectbox(
        "Baseline",
        list(runs),
        index=0 if runs else None,
        key="eval_baseline|" + "|".join(runs),  # a new set of rows starts again from the first
        disabled=busy,
        help="The run every other one is compared with (default: the first).",
    )
    return Request(
        ready=ready and bool(runs),
        source=source,
        uploads=uploads,
        dataset=dataset,
        folder=folder,
        models=models,
        modes=modes,
        weights=weights,
        chunking=WHOLE_DOCUMENTS if chunk_choice == "whole" else default,
        baseline=runs.get(picked) if picked else None,
    )


def start(store: Store, runner: JobRunner, asked: Request) -> None:
    try:
        if asked.source == UPLOAD:
            corpus, queries, qrels = (f.getvalue() for f in asked.uploads)
            data_dir = shared.settings().data_dir
            folder = save_collection(data_dir, asked.dataset, corpus, queries, qrels, shared.actor())
        else:
            folder = asked.folder
        library = evaluation_library(collection_name(folder), asked.chunking)
        settings, actor = shared.settings(), shared.actor()

        def evaluate_and_keep(progress) -> tuple[EvaluationRun, SaveOutcome]:
            found = run_evaluation(
                folder,
                asked.models,
                asked.modes,
                store,
                asked.chunking,
                asked.baseline,
                progress,
                settings,
                actor,
                weights=asked.weights,
            )
            return found, keep_evaluation(store, found.report, actor=actor)  # every evaluation is a saved run

        runner.start(
            library_job_key(library),  # it writes to the eval library: one job per library, as everywhere
            f"Evaluating {', '.join(asked.models)} on {collection_name(folder)}",
            evaluate_and_keep,
            kind=EVALUATE,
            join=False,
        )
    except PotionError as exc:
        st.error(shared.inert(exc))
    else:
        st.session_state[JOB_KEY] = library
        for kept in (RESULT_KEY, ERROR_KEY, SAVED_KEY):  # a new run's outcome must not be read as the last one's
            st.session_state.pop(kept, None)
        st.rerun()


def results(found: EvaluationRun, saved: SaveOutcome | None) -> None:
    report = found.report
    st.subheader("Results")
    st.text(f"{report.dataset}: {report.queries:,} judged queries, chunking {report.chunking}")  # a folder name: inert
    shared.saved_note(saved)
    st.caption(
        "Each cell is the mean over queries [95% bootstrap interval]; seconds is search and ranking, not indexing."
    )
    st.dataframe(results_table(report).records(), hide_index=True, width="stretch", key="eval_results")
    points = [p.__dict__ for p in metric_points(report)]
    base = alt.Chart(alt.Data(values=points)).encode(y=alt.Y("run:N", title=None))
    means = alt.layer(
        base.mark_rule().encode(x=alt.X("low:Q", title="mean with 95% interval"), x2="high:Q"),
        base.mark_point(filled=True, size=60).encode(
            x="mean:Q",
            color=alt.Color("run:N", legend=None),
            tooltip=["run:N", "measure:N", alt.Tooltip("mean:Q", format=".4f"), "low:Q", "high:Q"],
        ),
    ).facet(column=alt.Column("measure:N", title=None, sort=list(MEASURE_LABELS.values())))
    st.altair_chart(means, width="content")


def comparisons(found: EvaluationRun) -> None:
    report = found.report
    table = comparison_table(report)
    if not table.rows:
        return
    base_run = report.comparisons[0].baseline
    st.subheader(f"Against {shared.inert(run_label(base_run.model, base_run.label()))}")
    st.caption("diff is the run minus the baseline; p from a paired sign-flip test over queries.")
    st.dataframe(table.records(), hide_index=True, width="stretch", key="eval_comparisons")
    diffs = [d.__dict__ for d in query_differences(found)]
    bars = (
        alt.Chart(alt.Data(values=diffs))
        .mark_bar()
        .encode(
            x=alt.X("order:O", title="queries, largest gain first", axis=None),
            y=alt.Y("diff:Q", title=f"{MEASURE_LABELS[SPREAD_MEASURE]} difference"),
            color=alt.condition(alt.datum.diff >= 0, alt.value("#4c78a8"), alt.value("#e45756")),
            tooltip=["query_id:N", "query:N", alt.Tooltip("diff:Q", format="+.4f")],
        )
        .properties(height=160, width=700)
        .facet(row=alt.Row("run:N", title=None))
    )
    st.altair_chart(bars, width="content")


def run_hits(store: Store, result, query: str, qid: str, judged: dict) -> None:
    """One run's top chunks for the query, searched again in its eval library."""
    st.markdown(f"**{shared.inert(label_of(result))}**")
    embedder = shared.try_embedder(result.model)
    if embedder is None:
        return
    try:
        (hits,) = search_many(
            [query], result.library, embedder, store, HITS_SHOWN, mode=result.mode, params=result.params_for(qid)
        )
    except PotionError as exc:
        st.error(shared.inert(exc))
        return
    st.caption(f"{MEASURE_LABELS[SPREAD_MEASURE]} {result.per_query[SPREAD_MEASURE][qid]:.4f}")
    st.dataframe(
        [
            {
                "rank": h.rank,
                "document": h.document,
                "relevance": relevance_of(h.document, judged),
                "score": round(h.score, 4),
                "text": h.text,
            }
            for h in hits.hits
        ],
        hide_index=True,
        key=f"eval_hits_{label_of(result)}",
    )


def disagreement(store: Store, found: EvaluationRun) -> None:
    st.subheader("Where the runs disagree most")
    st.caption(f"Queries by the spread of {MEASURE_LABELS[SPREAD_MEASURE]} across runs (highest minus lowest).")
    ranked = disagreements(found)
    st.dataframe(disagreement_table(ranked[:50]).records(), hide_index=True, width="stretch", key="eval_disagreements")
    texts = {d.query_id: d.query for d in ranked}
    picked = st.selectbox(
        "Show the hits of query",
        [d.query_id for d in ranked],
        format_func=lambda qid: f"{qid} — {texts[qid][:80]}",
        key="eval_query",
    )
    if picked is None:
        return
    st.text(texts[picked])  # the query as inert text
    st.caption(
        f"Each run's top {HITS_SHOWN} chunks for this query, searched again in its eval library; relevance is the "
        "judged grade of the chunk's document (0: not judged relevant)."
    )
    for column, result in zip(st.columns(len(found.report.results)), found.report.results):
        with column:
            run_hits(store, result, texts[picked], picked, found.qrels.get(picked, {}))


def exports(found: EvaluationRun) -> None:
    st.subheader("Export")
    evaluation_downloads(found)


store, _ = shared.begin(":material/labs: Evaluate", needs_library=False)
runner = shared.jobs()
st.caption(
    "Measure retrieval on a labelled collection (BEIR layout: corpus.jsonl, queries.jsonl and qrels.tsv, or TREC "
    "qrels `qid 0 docid rel`). Each model indexes the corpus into a library of its own, `eval:<dataset>:<chunking>`, "
    "reused by later runs. **Documents are scored by their best chunk.** Intervals are **95% bootstrap over "
    "queries** (1,000 resamples); comparisons give the paired-bootstrap interval of the difference and a paired "
    "sign-flip p-value (not corrected for multiple comparisons)."
)
busy = job_panel(runner)
asked = inputs(busy)
if st.button("Evaluate", type="primary", disabled=busy or not asked.ready):
    start(store, runner, asked)
found: EvaluationRun | None = st.session_state.get(RESULT_KEY)
if found is not None:
    results(found, st.session_state.get(SAVED_KEY))
    comparisons(found)
    disagreement(store, found)
    exports(found)
