"""Make your own potion: a static model fitted to this library's text, made in the background, then compared at
once with the model it was made from and BM25."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import streamlit as st

from core.adapt.extra import extra_installed, require_extra
from core.adapt.library import adapt_library
from core.adapt.options import AdaptOptions, AdaptStage
from core.embed.loading import ListingKind
from core.errors import AdaptExtraMissingError, PotionError
from core.evaluate.judgments import judged_collection
from core.evaluate.report import EvaluationRun
from core.insight.costs import quality_from_report
from core.service.adapted import compare_made, verdict_table
from core.service.jobs import JobRunner, JobStatus, duration_text, library_job_key
from core.storage import Store
from pages import keys, shared
from pages.controls import evaluation_downloads

ADAPT_KEY = "adapt"  # one adaptation at a time in the app: fitting takes every core for minutes
ADAPT, COMPARE = "adapt", "compare-made"  # the kinds of job this page starts
STAGES = [str(s) for s in AdaptStage]
JUDGMENTS, FOLDER = "judgments", "folder"
JOB_KEY, RESULT_KEY, ERROR_KEY = keys.ADAPT_COMPARE_JOB, keys.ADAPT_COMPARE_RESULT, keys.ADAPT_COMPARE_ERROR


def adapt_panel(runner: JobRunner) -> bool:
    """The running adaptation with its stages, time left and a Cancel button, or the last one's outcome; True while
    one runs."""
    job = runner.get(ADAPT_KEY)
    if job is None:
        return False
    if job.running:
        shared.key_progress(ADAPT_KEY, STAGES)
        st.button(
            "Stopping…" if job.cancel_requested else "Cancel",
            key="adapt_cancel",
            on_click=runner.cancel,
            args=(ADAPT_KEY,),
            disabled=job.cancel_requested,
        )
        return True
    if job.status == JobStatus.FAILED:
        if job.cancel_requested:
            st.info(shared.inert(f"{job.error} No model was made."))
        else:
            st.error(shared.inert(f"Making the model stopped: {job.error}"))
    else:
        made = job.result
        if st.session_state.get(keys.ADAPT_MADE) != (job.id, made.name):
            st.session_state[keys.ADAPT_MADE] = (job.id, made.name)
            shared.model_listings.clear()
            st.rerun()  # the sidebar, drawn before this page, lists the new model from the next run on
        st.success(
            shared.inert(
                f"Made {made.name} ({made.dims} dims) from {made.chunks:,} chunks in {duration_text(made.seconds)}; "
                f"best epoch {made.best_epoch} of {made.epochs_run}. It is in the sidebar's model picker, made here."
            )
        )
    st.button("Dismiss", key="adapt_dismiss", on_click=runner.forget, args=(ADAPT_KEY,))
    return False


def make_form(store: Store, runner: JobRunner, library: str, indexed: list[str], busy: bool) -> None:
    st.subheader("Make a model")
    if not extra_installed():
        try:
            require_extra()
        except AdaptExtraMissingError as exc:
            st.info(str(exc))  # one sentence of our own, naming the install command
            return
    with st.form("adapt"):
        base = st.selectbox("Index to read", indexed, key="adapt_base", help="Its stored chunks are the text fitted.")
        name = st.text_input("Name", key="adapt_name", placeholder="e.g. papers-potion").strip()
        teacher = st.text_input(
            "Teacher",
            key="adapt_teacher",
            placeholder="all-MiniLM-L6-v2 (packaged, offline)",
            help="A sentence-transformers folder or hub id; empty: the packaged all-MiniLM-L6-v2.",
        ).strip()
        cols = st.columns(2)
        dims = cols[0].number_input("Dimensions", 8, 1024, AdaptOptions.dims, step=8, key="adapt_dims")
        epochs = cols[1].number_input("Epochs (at most)", 1, 1000, AdaptOptions.epochs, key="adapt_epochs")
        submitted = st.form_submit_button("Make the model", type="primary", disabled=busy)
    if not submitted:
        return
    if not name:
        st.error("Name the model first.")
        return
    options = AdaptOptions(
        teacher=teacher or None,
        dims=int(dims),
        epochs=int(epochs),
        cancelled=partial(runner.cancel_requested, ADAPT_KEY),
    )
    settings, actor = shared.settings(), shared.actor()

    def work(progress):
        # The store stays open: the app's other sessions use it while the model is fitted.
        return adapt_library(
            store, library, name, replace(options, progress=progress), base, settings=settings, actor=actor
        )

    try:
        runner.start(ADAPT_KEY, f"Making {name} from {library}", work, kind=ADAPT, join=False)
    except PotionError as exc:
        st.error(shared.inert(exc))
    else:
        st.rerun()


def compare_panel(runner: JobRunner, library: str) -> bool:
    """The running comparison, or the outcome of this session's last one moved into the session; True if busy."""
    started = st.session_state.get(JOB_KEY)
    job = runner.get(library_job_key(library))
    if job is not None and job.running:
        shared.job_progress(library)  # whoever started it: the library's one job
        return True
    if started is not None and job is not None and job.id == started[1]:
        failed = job.status == JobStatus.FAILED
        st.session_state[RESULT_KEY] = None if failed else (library, job.result)
        st.session_state[ERROR_KEY] = job.error if failed else None
        runner.forget(started[0])
        st.session_state.pop(JOB_KEY, None)
    if error := st.session_state.get(ERROR_KEY):
        st.error(shared.inert(f"Comparing stopped: {error}"))
    return False


def compare_form(store: Store, runner: JobRunner, library: str, indexed: list[str], busy: bool) -> None:
    st.subheader("Compare at once")
    made = [m.name for m in shared.model_listings(shared.settings()) if m.kind == ListingKind.ADAPTED]
    if not made:
        st.caption(
            "Once a model is made here, one click indexes this library with it and measures it against the model it "
            "was made from and BM25."
        )
        return
    if st.session_state.get(keys.ADAPT_COMPARE_MODEL) not in made:
        just_made = (st.session_state.get(keys.ADAPT_MADE) or ("", ""))[1]
        st.session_state[keys.ADAPT_COMPARE_MODEL] = just_made if just_made in made else made[0]
    model = st.selectbox("Model made here", made, key=keys.ADAPT_COMPARE_MODEL)
    bases = [m for m in indexed if m not in made]
    if not bases:
        st.info("This library has no index by a model not made here to compare with: index it with one first.")
        return
    base = st.selectbox("Compare with", bases, key="adapt_compare_base")
    judged = judged_collection(store.judgments.list(library))
    labels = {
        JUDGMENTS: f"This library's judgments ({len(judged.queries)} judged queries)",
        FOLDER: "A labelled collection folder",
    }
    source = st.radio("Judged on", list(labels), format_func=labels.get, key="adapt_compare_source", horizontal=True)
    folder = ""
    if source == FOLDER:
        folder = st.text_input(
            "Folder", key="adapt_compare_folder", placeholder="../shared/datasets/scifact", help="BEIR layout."
        ).strip()
    elif not judged.queries:
        st.info("No query of this library has a hit judged relevant yet: mark some on Search, or pick a folder.")
    ready = bool(folder) if source == FOLDER else bool(judged.queries)
    label = f"Compare {shared.inert(model)} with {shared.inert(base)} and BM25"
    if not st.button(label, type="primary", disabled=busy or not ready, key="adapt_compare"):
        return
    settings, actor = shared.settings(), shared.actor()
    collection = folder or None
    try:
        job = runner.start(
            library_job_key(library),  # it writes the made model's index into the library
            f"Comparing {model} with {base} and BM25",
            lambda progress: compare_made(store, library, model, base, collection, progress, settings, actor),
            kind=COMPARE,
            join=False,
        )
    except PotionError as exc:
        st.error(shared.inert(exc))
        return
    st.session_state[JOB_KEY] = (library_job_key(library), job.id)
    for kept in (RESULT_KEY, ERROR_KEY):  # a new run's outcome must not be read as the last one's
        st.session_state.pop(kept, None)
    st.rerun()


def verdict(library: str, found: EvaluationRun) -> None:
    report = found.report
    st.text(f"{report.dataset}: {report.queries:,} judged queries")  # a folder name: inert
    st.dataframe(verdict_table(report).records(), hide_index=True, width="stretch", key="adapt_verdict")
    st.caption(
        '"better" names the winner of the model made here (dense) and each run only where the 95% interval of '
        "their difference, paired over the same queries, leaves out zero. Each mean is over the judged queries "
        "[95% bootstrap interval]; p is from a paired sign-flip test. BM25 ranks by keywords alone."
    )
    for indexed in report.indexing[:1]:
        if indexed.library == library and indexed.failures:
            st.warning(
                f"{len(indexed.failures)} document(s) could not be rebuilt from the stored chunks for "
                f"{shared.inert(indexed.model)}: add their files again on the Library page."
            )
    if report.dataset.startswith(library):  # judged on this library: the Costs page can show the quality
        st.session_state.setdefault(keys.COST_QUALITY, {})[library] = quality_from_report(report)
    evaluation_downloads(found, key="adapt")


store, library = shared.begin(":material/experiment: Make your own potion")
runner = shared.jobs()
st.caption(
    "A static model fitted to this library's own text: a transformer (the teacher) embeds the library's chunks, "
    "and the static model's token vectors are fitted to match. The trade, plainly: embedding the library with the "
    "teacher costs about as much as fitting, and the teacher's own vectors rank better. What the potion gives "
    "is queries in microseconds with no transformer, cheap indexing of every later document, and a small model "
    "that runs anywhere."
)
adapting = adapt_panel(runner)
indexed = store.catalog.models(library)
if not indexed:
    st.info(f"**{shared.inert(library)}** has no documents yet: add some on the Library page, then make a model here.")
    st.stop()
if not shared.may_write():  # making a model writes it to disk; comparing one indexes the library with it
    shared.read_only_note("Making and comparing models")
    st.stop()
make_form(store, runner, library, indexed, adapting)
comparing = compare_panel(runner, library)
compare_form(store, runner, library, indexed, comparing)
kept = st.session_state.get(RESULT_KEY)
if kept is not None and kept[0] == library:
    verdict(library, kept[1])
