"""Query sets: a library's named sets of queries, run over two to four models or modes side by side, with every hit
not judged yet marked and judged right here, by button or key, into the library's judgments."""

from __future__ import annotations

import streamlit as st

from core.embed.embedder import Embedder
from core.errors import PotionError, QuerySetError
from core.evaluate.judgments import hybrid_default, judge
from core.evaluate.query_sets import JUDGMENTS, TYPED, file_queries, judged_queries, typed_queries
from core.evaluate.results import RunKey, run_key
from core.search.set_run import MAX_COLUMNS, MIN_COLUMNS, ColumnHit, QueryRow, SetRun, column_label
from core.service.jobs import JobRunner, JobStatus, query_set_job_key
from core.service.query_sets import create_query_set, delete_query_set, query_sets, run_query_set
from core.storage import Store
from core.types import Fusion, HybridParams, QuerySet, SearchMode
from pages import keys, shared
from pages.verdicts import SHORTCUTS, SKIP_SHORTCUT, VERDICTS, verdict_text

RUN = "query set"  # the kind of job this page starts
QUERIES_PER_PAGE = 10  # every hit has two buttons: a page of hundreds of queries would render thousands
SOURCES = {"typed": "Type queries", "file": "Upload a file", "judgments": "The library's judged queries"}


def notice() -> None:
    kept = st.session_state.pop(keys.QSETS_NOTICE, None)
    if kept is not None:
        ok, text = kept
        (st.success if ok else st.error)(shared.inert(text))


def make_panel(store: Store, library: str, first: bool) -> None:
    """A new set, typed, from a file or from the judged queries; refused in one sentence when the input is bad."""
    with st.expander("New query set", expanded=first):
        name = st.text_input("Name", key="qsets_new_name", placeholder="e.g. Support questions")
        source = st.radio("From", list(SOURCES), format_func=SOURCES.get, key="qsets_new_source", horizontal=True)
        typed = upload = None
        if source == "typed":
            typed = st.text_area("Queries, one per line", key="qsets_new_typed", height=160)
        elif source == "file":
            upload = st.file_uploader(
                "A text file (one query per line) or BEIR queries.jsonl",
                type=["txt", "jsonl", "json"],
                key="qsets_file",
            )
        else:
            st.caption("Every query the library holds a verdict for, as the Search and Judgments pages keep them.")
        if not st.button("Make set", key="qsets_make", type="primary"):
            return
        try:
            if source == "typed":
                queries, origin = typed_queries(typed or ""), TYPED
            elif source == "file":
                if upload is None:
                    raise QuerySetError("Choose a file to upload first.")
                queries, origin = file_queries(upload.getvalue(), upload.name), upload.name
            else:
                queries, origin = judged_queries(store.judgments.list(library), library), JUDGMENTS
            made = create_query_set(store, library, name, queries, origin, shared.actor())
        except PotionError as exc:
            st.error(shared.inert(exc))
            return
        st.session_state[keys.QSETS_NOTICE] = (True, f"Made '{made.name}': {len(made.queries)} queries.")
        st.session_state[keys.QSETS_CHOICE] = made.name
        st.rerun()


def delete_panel(store: Store, library: str, chosen: QuerySet) -> None:
    with st.popover("Delete this set", icon=":material/delete:"):
        st.caption(f"Removes '{shared.inert(chosen.name)}' and its {len(chosen.queries)} queries; judgments stay.")
        if not st.button("Delete", key="qsets_delete", type="primary"):
            return
        try:
            delete_query_set(store, library, chosen.name, shared.actor())
        except PotionError as exc:
            st.error(shared.inert(exc))
            return
        st.session_state[keys.QSETS_NOTICE] = (True, f"Deleted '{chosen.name}'.")
        st.session_state.pop(keys.QSETS_CHOICE, None)
        st.rerun()


def column_options(store: Store, library: str) -> dict[str, RunKey]:
    """Every model indexed in the library in each mode its index has; a weighted hybrid at the library's tuned
    default where it has one (other weights: `python -m core query-sets run --weight`)."""
    default = hybrid_default(store, library)
    options: list[RunKey] = []
    for meta in store.catalog.collections():
        if meta.library != library:
            continue
        modes = [SearchMode.DENSE, SearchMode.KEYWORD, SearchMode.HYBRID] if meta.has_keyword else [SearchMode.DENSE]
        options += [run_key(meta.model_name, mode) for mode in modes]
        if meta.has_keyword and default is not None:
            weighted = HybridParams(fusion=Fusion.WEIGHTED, weight=default.weight)
            options.append(run_key(meta.model_name, SearchMode.HYBRID, weighted))
    return {column_label(c): c for c in options}


def embedders_for(columns: list[RunKey]) -> dict[str, Embedder] | None:
    """The models the dense and hybrid columns search with, loaded (keyword columns need none); None if one fails."""
    loaded = {}
    for name in dict.fromkeys(c.model for c in columns if c.mode != SearchMode.KEYWORD):
        shared.offline_or_stop(name)
        if (embedder := shared.try_embedder(name)) is None:
            return None
        loaded[name] = embedder
    return loaded


def start(store: Store, runner: JobRunner, library: str, name: str, columns: list[RunKey], top_k: int) -> None:
    embedders = embedders_for(columns)
    if embedders is None:
        return
    key = query_set_job_key(library, name)
    try:
        runner.start(
            key,
            f"Running '{name}' over {len(columns)} columns",
            lambda progress: run_query_set(store, library, name, columns, embedders, top_k, progress),
            kind=RUN,
            join=False,
        )
    except PotionError as exc:
        st.error(shared.inert(exc))
        return
    st.session_state[keys.QSETS_JOB] = key
    for kept in (keys.QSETS_RUN, keys.QSETS_ERROR):  # a new run's outcome must not be read as the last one's
        st.session_state.pop(kept, None)
    st.rerun()


def job_panel(runner: JobRunner) -> bool:
    """The running job (done/total, rate, time left), or its outcome moved into the session; True while it runs."""
    key = st.session_state.get(keys.QSETS_JOB)
    job = runner.get(key) if key else None
    if job is not None and job.running:
        shared.key_progress(key)
        return True
    if job is not None and job.kind == RUN:
        failed = job.status == JobStatus.FAILED
        st.session_state[keys.QSETS_RUN] = None if failed else job.result
        st.session_state[keys.QSETS_ERROR] = job.error if failed else None
        runner.forget(key)
        st.session_state.pop(keys.QSETS_JOB, None)
    if error := st.session_state.get(keys.QSETS_ERROR):
        st.error(shared.inert(f"The run stopped: {error}"))
    return False


def on_judge(store: Store, library: str, query: str, hit: ColumnHit, model: str, verdict: int) -> None:
    """A verdict into the library's judgments, as the Search page records one (core.evaluate.judgments.judge)."""
    try:
        judge(store, library, query, hit.document, verdict, hit.chunk, model, shared.actor())
    except PotionError as exc:  # raised in a callback, it would show as a traceback: the page says it in one line
        st.session_state[keys.QSETS_NOTICE] = (False, str(exc))
        return
    shared.forget(keys.SEARCH_ANSWER)  # the Search page shows verdicts: ask it again


def on_skip(pair: tuple[str, str]) -> None:
    st.session_state.setdefault(keys.QSETS_SKIPPED, set()).add(pair)


def next_unjudged(found: SetRun) -> tuple[QueryRow, ColumnHit, RunKey] | None:
    """The first hit, in query then column then rank order, whose document holds no verdict and was not skipped."""
    skipped = st.session_state.get(keys.QSETS_SKIPPED, set())
    for row in found.rows:
        for column, hits in zip(found.columns, row.hits):
            for hit in hits:
                if not hit.judged and (row.query.text, hit.document) not in skipped:
                    return row, hit, column
    return None


def judging_panel(store: Store, library: str, found: SetRun) -> None:
    """One unjudged hit at a time with keyboard shortcuts (st.button's `shortcut`): 1 relevant, 0 not, S skip."""
    nxt = next_unjudged(found)
    if nxt is None:
        st.success("Every document shown holds a verdict for its query (or was skipped).")
        return
    row, hit, column = nxt
    with st.container(border=True):
        st.markdown(f"**Judge next** · query {shared.inert(row.query.id)}: “{shared.inert(row.query.text)}”")
        ranks = [
            f"{label} #{h.rank}"
            for label, hits in zip(found.labels, row.hits)
            for h in hits
            if h.document == hit.document
        ]
        st.caption(f"{shared.inert(hit.document)} · chunk {hit.chunk} · shown by " + shared.inert(", ".join(ranks)))
        st.text(" ".join(hit.text.split())[:600])
        marks = st.columns([1, 1, 1, 3])
        for place, (verdict, (label, icon)) in zip(marks, VERDICTS.items()):
            place.button(
                label,
                key=f"qsets-next-{verdict}",
                icon=icon,
                shortcut=SHORTCUTS[verdict],
                on_click=on_judge,
                args=(store, library, row.query.text, hit, column.model, verdict),
            )
        marks[2].button(
            "Skip",
            key="qsets-next-skip",
            shortcut=SKIP_SHORTCUT,
            on_click=on_skip,
            args=((row.query.text, hit.document),),
        )
        marks[3].caption(
            f"Keys: {SHORTCUTS[1]} relevant, {SHORTCUTS[0]} not relevant, {SKIP_SHORTCUT} skip (not while typing)."
        )


def hit_cell(store: Store, library: str, row: QueryRow, column: RunKey, hit: ColumnHit, where: str) -> None:
    mark = "" if hit.judged else " · :orange-badge[unjudged]"
    st.markdown(f"**#{hit.rank}** · {hit.score:.3f} · chunk {hit.chunk}{mark}")
    st.text(hit.document)
    st.caption(shared.inert(" ".join(hit.text.split())[:160]))
    if hit.judged:
        st.caption(f"Judged {verdict_text(hit.verdict)}.")
    if not shared.may_write():
        return
    marks = st.columns(2)
    for place, (verdict, (label, icon)) in zip(marks, VERDICTS.items()):
        place.button(
            "",
            key=f"qsets-{where}-{verdict}",
            icon=icon,
            help=label,
            type="primary" if hit.verdict == verdict else "secondary",
            on_click=on_judge,
            args=(store, library, row.query.text, hit, column.model, verdict),
        )


def query_table(store: Store, library: str, found: SetRun, index: int, row: QueryRow) -> None:
    unjudged = len(row.unjudged)
    st.markdown(f"**{shared.inert(row.query.text)}** · {shared.inert(row.query.id)} · {unjudged} unjudged")
    pairs = [f"{p.model_a} vs {p.model_b}: overlap {p.overlap:.2f}, RBO {p.rbo:.2f}" for p in row.agreement]
    st.caption(shared.inert(" · ".join(pairs)))
    for place, column, label, hits in zip(st.columns(len(found.columns)), found.columns, found.labels, row.hits):
        with place:
            st.caption(shared.inert(label))
            for hit in hits:
                with st.container(border=True):
                    hit_cell(store, library, row, column, hit, f"{index}-{label}-{hit.rank}")


def results(store: Store, library: str, found: SetRun) -> None:
    st.subheader("Results")
    st.caption(
        f"{len(found.rows)} queries × {len(found.columns)} columns, top {found.top_k}: **{found.unjudged}** documents "
        "shown still unjudged. Agreement is on documents: top-k overlap and rank-biased overlap (p = 0.9)."
    )
    st.table(
        [
            {"columns": shared.inert(f"{p.model_a} ↔ {p.model_b}"), "mean overlap": f"{p.overlap:.2f}"}
            | {"mean RBO": f"{p.rbo:.2f}"}
            for p in found.mean_agreement()
        ]
    )
    if shared.may_write():
        judging_panel(store, library, found)
    else:
        shared.read_only_note("Judging hits")
    only = st.checkbox("Only queries with unjudged hits", key="qsets_only_unjudged")
    rows = [(i, r) for i, r in enumerate(found.rows) if r.unjudged or not only]
    pages = max(1, -(-len(rows) // QUERIES_PER_PAGE))
    page = st.number_input("Page", 1, pages, 1, key="qsets_page") if pages > 1 else 1
    for i, row in rows[(page - 1) * QUERIES_PER_PAGE : page * QUERIES_PER_PAGE]:
        st.divider()
        query_table(store, library, found, i, row)


store, library = shared.begin(":material/checklist: Query sets")
runner = shared.jobs()
st.caption(
    "A set of queries run over two to four models or modes at once: each query's hits side by side, how far the "
    "columns agree, and which hits hold no verdict yet. Judge them here and the library's judgments grow into a "
    "benchmark (see Judgments)."
)
notice()
sets = query_sets(store, library)
if shared.may_write():
    make_panel(store, library, first=not sets)
else:
    shared.read_only_note("Making and deleting query sets")
if not sets:
    st.info(f"**{shared.inert(library)}** has no query set yet.")
    st.stop()
names = [s.name for s in sets]
if st.session_state.get(keys.QSETS_CHOICE) not in names:
    st.session_state[keys.QSETS_CHOICE] = names[0]
name = st.selectbox("Query set", names, key=keys.QSETS_CHOICE)
chosen = next(s for s in sets if s.name == name)
st.caption(
    f"{len(chosen.queries)} queries from {shared.inert(chosen.source)}, made {chosen.created_at} by "
    f"{shared.inert(chosen.created_by)}"
)
if shared.may_write():
    delete_panel(store, library, chosen)
options = column_options(store, library)
if len(options) < MIN_COLUMNS:
    st.info(f"**{shared.inert(library)}** needs documents indexed first: add some on the Library page.")
    st.stop()
busy = job_panel(runner)
with st.form("qsets-run"):
    picked = st.multiselect(
        f"Columns ({MIN_COLUMNS} to {MAX_COLUMNS}: a model in a mode)",
        list(options),
        default=list(options)[:MIN_COLUMNS],
        max_selections=MAX_COLUMNS,
        key="qsets_columns",
    )
    top_k = st.slider("Top k", 1, 20, 5, key="qsets_top_k")
    run = st.form_submit_button("Run", type="primary", disabled=busy)
if run:
    if len(picked) < MIN_COLUMNS:
        st.error(f"Pick {MIN_COLUMNS} to {MAX_COLUMNS} columns.")
    else:
        start(store, runner, library, name, [options[p] for p in picked], top_k)
found = st.session_state.get(keys.QSETS_RUN)
if found is not None and (found.library, found.set_name) == (library, name):
    # Verdicts as the library holds them now: judged here, on the Search page or by another session.
    results(store, library, found.with_verdicts(store.judgments.list(library)))
