"""Library: upload and index documents, see what is indexed, delete documents or the whole library."""

from __future__ import annotations

import time

import streamlit as st

from core.errors import PotionError
from core.ingest.chunking import ChunkSettings, ChunkUnit
from core.ingest.pipeline import ingest_with_models, library_chunking
from core.read.documents import SUPPORTED_EXTENSIONS
from core.service.jobs import JobStatus, library_job_key
from core.service.libraries import delete_document, drop_library, rebuild_index
from core.sizes import format_bytes
from core.types import DocumentStatus
from pages import shared

INGEST = "ingest"  # the kind of job this page starts, whose outcome it shows

shared.ensure_frame()

store = shared.shared_store()
library = shared.need_library()
runner = shared.jobs()
job_key = library_job_key(library)  # the same key as Compare's jobs: one job per library, seen from both pages
busy = runner.busy(job_key) is not None

st.title(f":material/library_books: {shared.inert(library)}")
collections = store.library_stats(library)


def outcome_panel() -> None:
    state = runner.get(job_key)
    if state is None or state.running or state.kind != INGEST:
        return  # Compare shows the outcome of its own jobs
    if state.status == JobStatus.FAILED:
        st.error(shared.inert(f"Indexing stopped: {state.error}"))
    else:
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
        counts = {
            status: sum(1 for row in rows if row["status"] == status)
            for status in ("indexed", "already present", "failed")
        }
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
    st.button("Dismiss", on_click=runner.forget, args=(job_key,))


def start_indexing(sources: list, models: list[str], chunking: ChunkSettings | None, label: str) -> bool:
    """Start the job, or say why not (a job started meanwhile, maybe from Compare): never drop the files silently."""
    try:
        runner.start(
            job_key,
            label,
            lambda progress: ingest_with_models(sources, library, models, store, chunking, progress, shared.settings()),
            kind=INGEST,
            join=False,
        )
    except PotionError as exc:
        st.error(shared.inert(exc))
        return False
    return True


if busy:
    shared.job_progress(library)
else:
    outcome_panel()

# --- stats -----------------------------------------------------------------------------------
if collections:
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
    for c in collections:
        if c.meta.has_keyword:
            continue
        st.caption(
            f"{shared.inert(c.meta.model_name)} was indexed before keyword search existed; "
            "rebuilding copies its chunks."
        )
        label = f"Rebuild {shared.inert(c.meta.model_name)} with keyword search"
        if st.button(label, key=f"rebuild-{c.meta.model_name}", disabled=busy):
            bar = st.progress(0.0, text="Rebuilding from the stored chunks…")
            began = time.perf_counter()

            def rebuilt(stage: str, done: int, total: int, bar=bar, began=began) -> None:
                rate = done / max(time.perf_counter() - began, 1e-6)
                text = f"Rebuilding: {done:,}/{total:,} chunks · {rate:,.0f}/s"
                bar.progress(done / total if total else 1.0, text=text)

            try:
                rebuild_index(store, runner, library, c.meta.model_name, rebuilt)
            except PotionError as exc:
                st.error(shared.inert(exc))
            else:
                st.rerun()
else:
    samples = shared.settings().samples_dir
    model = shared.current_model()
    can_load_samples = samples.is_dir() and bool(model)
    st.info(
        "This library is empty: upload documents below"
        + (", or load the sample set to start a demo in seconds." if can_load_samples else ".")
    )
    clicked = can_load_samples and st.button("Load sample documents", type="primary", disabled=busy)
    if clicked and start_indexing([samples], [model], None, f"Loading samples with {model}"):
        st.rerun()

# --- upload and index ------------------------------------------------------------------------
st.subheader("Add documents")
limit_mb = st.get_option("server.maxUploadSize")
uploads = st.file_uploader(
    "Files",
    type=[ext.lstrip(".") for ext in SUPPORTED_EXTENSIONS],
    accept_multiple_files=True,
    disabled=busy,
    key=f"uploads-{st.session_state.get('upload_round', 0)}",  # a new key empties the box after indexing
    help="Zip archives are read recursively; JSON/JSONL records with a text field become one document each.",
)
st.caption(
    f"Up to {limit_mb} MB per file in the browser (.streamlit/config.toml) and "
    f"{shared.settings().max_upload_mb:g} MB per upload (POTION_MAX_UPLOAD_MB); files over "
    f"{shared.settings().max_file_mb:g} MB are refused (POTION_MAX_FILE_MB)."
)
offline = [m.name for m in shared.model_listings() if m.available_offline]
current = shared.current_model()
choices = sorted(set(offline) | {c.meta.model_name for c in collections} | ({current} if current else set()))
models = st.multiselect("Index with models", choices, default=[current] if current else [], disabled=busy)

recorded = bool(collections)  # the library's chunking is fixed by its first index
with st.expander("Chunking", expanded=False):
    base = library_chunking(store, library)
    if recorded:
        st.caption("This library's chunking is fixed by its first index; new models use the same settings.")
    cols = st.columns(3)
    size = cols[0].number_input("Size", 16, 4096, base.size, disabled=busy or recorded)
    overlap = cols[1].number_input("Overlap", 0, 2048, base.overlap, disabled=busy or recorded)
    unit = cols[2].selectbox(
        "Unit",
        [u.value for u in ChunkUnit],
        index=[u.value for u in ChunkUnit].index(base.unit.value),
        disabled=busy or recorded,
    )

if st.button(f"Index {len(uploads or [])} file(s)", type="primary", disabled=busy or not uploads or not models):
    try:
        chunking = None if recorded else ChunkSettings(size=int(size), overlap=int(overlap), unit=unit)
    except PotionError as exc:
        st.error(shared.inert(exc))
    else:
        sources = [(f.name, f.getvalue()) for f in uploads]
        if start_indexing(sources, models, chunking, f"Indexing {len(sources)} file(s) with {', '.join(models)}"):
            st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1
            st.rerun()

# --- documents -------------------------------------------------------------------------------
if collections:
    st.subheader("Documents")
    names = [c.meta.model_name for c in collections]
    shown = st.selectbox("Documents indexed with", names) if len(names) > 1 else names[0]
    docs = store.index(library, shown).documents()
    st.dataframe(
        [{"document": d.name, "type": d.doc_type, "chunks": d.chunks, "title": d.title} for d in docs],
        hide_index=True,
        width="stretch",
    )
    cols = st.columns([3, 1])
    doomed = cols[0].selectbox("Delete a document", [d.name for d in docs], index=None, disabled=busy)
    if cols[1].button("Delete", disabled=busy or doomed is None):
        try:
            delete_document(store, runner, library, doomed)  # refused while a job writes to the library
        except PotionError as exc:
            st.error(shared.inert(exc))
        else:
            st.toast(shared.inert(f"Deleted {doomed} from every index of {library}."))
            st.rerun()

# --- drop ------------------------------------------------------------------------------------
with st.expander("Drop this library"):
    st.caption("Removes the library and every index of it" + (", with all its documents." if collections else "."))
    typed = st.text_input("Type the library name to confirm", key="drop-confirm")
    if st.button("Drop library", type="secondary", disabled=busy or typed != library):
        try:
            drop_library(store, runner, library)  # refused while a job writes to the library
        except PotionError as exc:
            st.error(shared.inert(exc))
        else:
            st.session_state.pop("library_choice", None)
            st.rerun()
