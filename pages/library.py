"""Library: upload and index documents, see what is indexed, delete documents or the whole library."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import streamlit as st

from core.errors import PotionError
from core.ingest.chunking import ChunkSettings, ChunkUnit
from core.ingest.pipeline import ingest_with_models, library_chunking
from core.read.documents import SUPPORTED_EXTENSIONS
from core.service.jobs import JobRunner, JobState, JobStatus, library_job_key
from core.service.language import SET_LANGUAGE, library_language, start_set_language
from core.service.libraries import REBUILD, delete_document, drop_library, start_rebuild
from core.sizes import format_bytes
from core.storage import Store
from core.storage.analyzers import LANGUAGES, NONE
from core.types import DocumentStatus
from pages import keys, shared

INGEST = "ingest"  # the kinds of job this page starts, whose outcome it shows (Compare shows its own)


def ingest_outcome(state: JobState) -> None:
    rows = [
        {
            "model": r.model,
            "document": o.document,
            "status": "already present" if o.status == DocumentStatus.UNCHANGED else str(o.status),
            "chunks": o.chunks,
            "message": o.message,
        }
        for r in state.result
        for o in r.outcomes
    ]
    added = sum(r.chunks_added for r in state.result)
    counts = {s: sum(1 for row in rows if row["status"] == s) for s in ("indexed", "already present", "failed")}
    summary = (
        f"Indexed in {state.elapsed():.1f} s: {counts['indexed']} indexed, "
        f"{counts['already present']} already present, {counts['failed']} failed; {added:,} chunks added."
    )
    (st.warning if counts["failed"] else st.success)(summary)
    failures = [
        {"document": shared.inert(row["document"]), "message": shared.inert(row["message"])}
        for row in rows
        if row["status"] == "failed"
    ]
    if failures:
        st.table(failures)  # few rows, and each message must be readable in full
    st.dataframe(rows, hide_index=True, width="stretch")


def outcome_panel(runner: JobRunner, job_key: str) -> None:
    state = runner.get(job_key)
    if state is None or state.running or state.kind not in (INGEST, REBUILD, SET_LANGUAGE):
        return
    what = {INGEST: "Indexing", REBUILD: "Rebuilding", SET_LANGUAGE: "Changing the language"}[state.kind]
    if state.status == JobStatus.FAILED:
        st.error(shared.inert(f"{what} stopped: {state.error}"))
    elif state.kind == INGEST:
        ingest_outcome(state)
    elif state.kind == SET_LANGUAGE:
        change = state.result
        analyzers = ", ".join(f"{m.model_name}: {m.analyzer or 'none'}" for m in change.indexes) or "no index yet"
        st.success(
            shared.inert(
                f"{change.library} is in {change.after.label} now ({change.chunks:,} chunks analysed anew in "
                f"{state.elapsed():.1f} s; keyword analyzer {analyzers})."
            )
        )
    else:
        meta = state.result
        st.success(
            shared.inert(
                f"Rebuilt {meta.model_name} in {state.elapsed():.1f} s: keyword search with the "
                f"{meta.analyzer or 'no'} analyzer, schema {meta.schema_version}."
            )
        )
    st.button("Dismiss", on_click=runner.forget, args=(job_key,))


def start(runner: JobRunner, job_key: str, label: str, work: Callable, kind: str = INGEST) -> bool:
    """Start the job, or say why not (a job started meanwhile, maybe from Compare): never drop the files silently."""
    try:
        runner.start(job_key, label, work, kind=kind, join=False)
    except PotionError as exc:
        st.error(shared.inert(exc))
        return False
    return True


def indexes(store: Store, runner: JobRunner, library: str, collections: list, busy: bool) -> None:
    st.subheader("Indexes")
    st.dataframe(
        [
            {
                "model": c.meta.model_name,
                "dims": c.meta.dim,
                "documents": c.documents,
                "chunks": c.chunks,
                "vectors": format_bytes(c.vector_bytes),
                "chunking": "{size} {unit}, overlap {overlap}".format(**c.meta.chunking),
                "keyword search": c.meta.analyzer or "none",
            }
            for c in collections
        ],
        hide_index=True,
        width="stretch",
    )
    if not shared.may_write():
        return  # a rebuild replaces the index: nothing to offer a reader
    for c in (c for c in collections if not c.meta.has_keyword):
        model = c.meta.model_name
        st.caption(f"{shared.inert(model)} was indexed before keyword search existed; rebuilding copies its chunks.")
        label = f"Rebuild {shared.inert(model)} with keyword search"
        if st.button(label, key=f"rebuild-{model}", disabled=busy):
            try:
                # In the background, with progress, like indexing.
                start_rebuild(store, runner, library, model, shared.actor())
            except PotionError as exc:
                st.error(shared.inert(exc))
            else:
                st.rerun()


def language(store: Store, runner: JobRunner, library: str, busy: bool) -> None:
    """The library's language and its keyword analyzer; writers may change it (a job analysing every index anew)."""
    current = library_language(store, library)
    analyzers = ", ".join(sorted(set(filter(None, current.analyzers.values())))) or "none yet"
    st.caption(shared.inert(f"Language: {current.label} · keyword analyzer: {analyzers}"))
    if not shared.may_write():
        return
    choices = [*LANGUAGES, NONE]
    with st.expander("Language of the documents"):
        st.caption(
            "Keyword search stems words and drops stop words in this language, so 'transformar' finds "
            "'transformam' in Portuguese. Changing it analyses the stored text of every index anew."
        )
        index = choices.index(current.language) if current.language in choices else None
        chosen = st.selectbox("Language", choices, index=index, format_func=lambda lang: lang.label, disabled=busy)
        if st.button("Change language", disabled=busy or chosen is None or chosen == current.language):
            try:
                start_set_language(store, runner, library, chosen, shared.actor())
            except PotionError as exc:
                st.error(shared.inert(exc))
            else:
                st.rerun()


def empty_library(runner: JobRunner, store: Store, library: str, job_key: str, busy: bool) -> None:
    if not shared.may_write():
        st.info("This library is empty.")
        return
    samples = shared.settings().samples_dir
    model = shared.current_model()
    can_load_samples = samples.is_dir() and bool(model)
    st.info(
        "This library is empty: upload documents below"
        + (", or load the sample set to start a demo in seconds." if can_load_samples else ".")
    )
    clicked = can_load_samples and st.button("Load sample documents", type="primary", disabled=busy)
    work = partial(
        ingest_with_models, [samples], library, [model], store, None, settings=shared.settings(), actor=shared.actor()
    )  # called with the progress
    if clicked and start(runner, job_key, f"Loading samples with {model}", work):
        st.rerun()


def add_documents(store: Store, runner: JobRunner, library: str, job_key: str, collections: list, busy: bool) -> None:
    st.subheader("Add documents")
    if not shared.may_write():
        shared.read_only_note("Uploading and indexing")
        return
    settings = shared.settings()
    uploads = st.file_uploader(
        "Files",
        type=[ext.lstrip(".") for ext in SUPPORTED_EXTENSIONS],
        accept_multiple_files=True,
        disabled=busy,
        key=f"uploads-{st.session_state.get(keys.UPLOAD_ROUND, 0)}",  # a new key empties the box after indexing
        help="Zip archives are read recursively; JSON/JSONL records with a text field become one document each.",
    )
    st.caption(
        f"Up to {st.get_option('server.maxUploadSize')} MB per file in the browser (.streamlit/config.toml) and "
        f"{settings.max_upload_mb:g} MB per upload (POTION_MAX_UPLOAD_MB); files over "
        f"{settings.max_file_mb:g} MB are refused (POTION_MAX_FILE_MB)."
    )
    offline = [m.name for m in shared.model_listings(shared.settings()) if m.available_offline]
    current = shared.current_model()
    choices = sorted(set(offline) | {c.meta.model_name for c in collections} | ({current} if current else set()))
    models = st.multiselect("Index with models", choices, default=[current] if current else [], disabled=busy)
    recorded = bool(collections)  # the library's chunking is fixed by its first index
    with st.expander("Chunking", expanded=False):
        base = library_chunking(store, library, settings=settings)
        if recorded:
            st.caption("This library's chunking is fixed by its first index; new models use the same settings.")
        cols = st.columns(3)
        size = cols[0].number_input("Size", 16, 4096, base.size, disabled=busy or recorded)
        overlap = cols[1].number_input("Overlap", 0, 2048, base.overlap, disabled=busy or recorded)
        units = [u.value for u in ChunkUnit]
        unit = cols[2].selectbox("Unit", units, index=units.index(base.unit.value), disabled=busy or recorded)
    if not st.button(f"Index {len(uploads or [])} file(s)", type="primary", disabled=busy or not uploads or not models):
        return
    try:
        chunking = None if recorded else ChunkSettings(size=int(size), overlap=int(overlap), unit=unit)
    except PotionError as exc:
        st.error(shared.inert(exc))
        return
    sources = [(f.name, f.getvalue()) for f in uploads]
    work = partial(
        ingest_with_models, sources, library, models, store, chunking, settings=settings, actor=shared.actor()
    )  # called with the progress
    if start(runner, job_key, f"Indexing {len(sources)} file(s) with {', '.join(models)}", work):
        st.session_state[keys.UPLOAD_ROUND] = st.session_state.get(keys.UPLOAD_ROUND, 0) + 1
        st.rerun()


def documents(store: Store, runner: JobRunner, library: str, collections: list, busy: bool) -> None:
    st.subheader("Documents")
    names = [c.meta.model_name for c in collections]
    shown = st.selectbox("Documents indexed with", names) if len(names) > 1 else names[0]
    docs = store.index(library, shown).documents()
    st.dataframe(
        [{"document": d.name, "type": d.doc_type, "chunks": d.chunks, "title": d.title} for d in docs],
        hide_index=True,
        width="stretch",
    )
    if not shared.may_write():
        return
    cols = st.columns([3, 1])
    doomed = cols[0].selectbox("Delete a document", [d.name for d in docs], index=None, disabled=busy)
    if cols[1].button("Delete", disabled=busy or doomed is None):
        try:
            # Every index; refused while a job writes to the library.
            delete_document(store, runner, library, doomed, actor=shared.actor())
        except PotionError as exc:
            st.error(shared.inert(exc))
        else:
            st.toast(shared.inert(f"Deleted {doomed} from every index of {library}."))
            st.rerun()


def drop(store: Store, runner: JobRunner, library: str, has_documents: bool, busy: bool) -> None:
    if not shared.may_write():
        shared.read_only_note("Deleting documents and dropping the library")
        return
    with st.expander("Drop this library"):
        st.caption(
            "Removes the library and every index of it" + (", with all its documents." if has_documents else ".")
        )
        typed = st.text_input("Type the library name to confirm", key="drop-confirm")
        if st.button("Drop library", type="secondary", disabled=busy or typed != library):
            try:
                drop_library(store, runner, library, shared.actor())  # refused while a job writes to the library
            except PotionError as exc:
                st.error(shared.inert(exc))
            else:
                st.session_state.pop(keys.LIBRARY_CHOICE, None)
                st.rerun()


store, library = shared.begin(None)
runner = shared.jobs()
job_key = library_job_key(library)  # the same key as Compare's jobs: one job per library, seen from both pages
busy = runner.busy(job_key) is not None
st.title(f":material/library_books: {shared.inert(library)}")
collections = store.library_stats(library)
if busy:
    shared.job_progress(library)
else:
    outcome_panel(runner, job_key)
language(store, runner, library, busy)
if collections:
    indexes(store, runner, library, collections, busy)
else:
    empty_library(runner, store, library, job_key, busy)
add_documents(store, runner, library, job_key, collections, busy)
if collections:
    documents(store, runner, library, collections, busy)
drop(store, runner, library, bool(collections), busy)
