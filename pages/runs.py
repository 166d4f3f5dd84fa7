"""Runs: every evaluation kept as a run, newest first, filtered by what it was evaluated on; two or more picked and
compared with the first (A, the baseline) query by query; one run's facts, its TREC and JSON exports, and deleting
it for an editor."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.errors import PotionError
from core.evaluate.metrics import measure_label
from core.evaluate.run_diff import Outcome, RunComparison, RunDiff
from core.evaluate.run_files import run_tag
from core.evaluate.run_tables import (
    CHANGED_SHOWN,
    agreement_text,
    changed_table,
    diff_metrics_table,
    evaluated_choices,
    evaluated_label,
    metrics_table,
    outcomes_text,
    query_line,
    ranking_table,
    run_choice_labels,
    run_facts,
    run_headline,
    runs_table,
    shared_text,
    unshown_table,
)
from core.evaluate.saved import HEADLINE, RunSummary, SavedRun
from core.evaluate.side_by_side import SHOWN, side_by_side
from core.service.runs import ExportFormat, compare, delete_run, exported, get_run, list_runs
from core.storage import Store
from pages import keys, shared
from pages.run_chart import per_query_scatter

EVERY = ""  # the history filter's "every run"


@dataclass(frozen=True)
class Shown:
    """The run whose details are shown, with its two exports, read once per run picked (shared.once)."""

    run: SavedRun
    trec: str
    jsonl: str


def shown_run(run: SavedRun) -> Shown:
    """The run with its two exports, made from the run read once (as `runs export` writes them)."""
    return Shown(run, exported(run, ExportFormat.TREC), exported(run, ExportFormat.JSON))


def notice() -> None:
    kept = st.session_state.pop(keys.RUNS_NOTICE, None)
    if kept is not None:
        ok, text = kept
        (st.success if ok else st.error)(shared.inert(text))


def history(runs: list[RunSummary]) -> list[RunSummary]:
    """The filter and the table of runs, newest first; the runs it shows."""
    choices = [EVERY, *evaluated_choices(runs)]
    if st.session_state.get(keys.RUNS_FILTER) not in choices:  # its collection's last run was deleted
        st.session_state[keys.RUNS_FILTER] = EVERY
    chosen = st.selectbox(
        "Evaluated on",
        choices,
        format_func=lambda e: evaluated_label(e) if e else "Every collection and library",
        key=keys.RUNS_FILTER,
        persist_state="session",  # an analyst goes to Evaluate and back: the filter and picks are still there
    )
    shown = [s for s in runs if chosen == EVERY or s.evaluated == chosen]
    st.dataframe(runs_table(shown).records(), hide_index=True, width="stretch", key="runs_history")
    return shown


def picker(runs: list[RunSummary], shown: list[RunSummary]) -> list[str]:
    """The runs to compare, by id: those the history shows, and any picked before the filter changed."""
    labels = run_choice_labels(runs)
    picked = [run_id for run_id in st.session_state.get(keys.RUNS_PICKED, []) if run_id in labels]  # none deleted
    st.session_state[keys.RUNS_PICKED] = picked
    options = [s.id for s in shown] + [run_id for run_id in picked if run_id not in {s.id for s in shown}]
    return st.multiselect(
        "Runs to compare: the first picked is A, the baseline; each other is B against it",
        options,
        format_func=labels.get,
        key=keys.RUNS_PICKED,
        placeholder="Pick two or more runs",
        persist_state="session",
    )


def comparison(store: Store, picked: list[str]) -> None:
    try:
        compared = shared.once(keys.RUNS_COMPARED, tuple(picked), lambda: compare(store, picked))
    except PotionError as exc:
        st.error(shared.inert(exc))
        return
    for index, found in enumerate(compared.diffs, start=1):
        st.divider()
        against(compared, index, found)


def against(compared: RunComparison, index: int, found: RunDiff) -> None:
    """One run B against A: the shared queries, the metric differences, the outcomes, the scatter, what changed."""
    st.subheader("B against A" if len(compared.diffs) == 1 else f"B{index} against A")
    st.text(f"A: {found.a.name}\nB{'' if len(compared.diffs) == 1 else index}: {found.b.name}")  # names, as text
    st.markdown(f"**{shared_text(found)}.**")
    st.caption(
        "B minus A on the shared queries, with its 95% paired-bootstrap interval and a paired sign-flip p-value (not "
        "corrected for multiple comparisons)."
    )
    st.dataframe(diff_metrics_table(found).records(), hide_index=True, width="stretch", key=f"runs_metrics_{index}")
    cols = st.columns(5)
    cols[0].metric(Outcome.BETTER, found.wins)
    cols[1].metric(Outcome.TIED, found.ties)
    cols[2].metric(Outcome.WORSE, found.losses)
    cols[3].metric("Mean overlap@10", f"{found.mean_overlap:.2f}")
    cols[4].metric("Mean RBO", f"{found.mean_rbo:.2f}")
    st.caption(
        f"{outcomes_text(found)}; {agreement_text(found)}: how far the two runs' top 10 documents are the same ones, "
        "RBO weighting the top ranks most (p = 0.9)."
    )
    st.altair_chart(per_query_scatter(found, compared.queries), width="content")
    st.caption("Each point is a query: above the diagonal B scores it higher than A, below it lower.")
    st.markdown("**The queries that changed most**")
    st.dataframe(
        changed_table(found, compared.queries).records(), hide_index=True, width="stretch", key=f"runs_changed_{index}"
    )
    open_query(compared, index, found)


def open_query(compared: RunComparison, index: int, found: RunDiff) -> None:
    """One of the queries that changed most, both runs' top documents side by side with their judged grades."""
    texts, diffs = compared.queries, {q.query_id: q.diff for q in found.per_query}
    qid = st.selectbox(
        "Open a query: both rankings side by side",
        [q.query_id for q in found.per_query[:CHANGED_SHOWN]],
        format_func=lambda q: f"{q} ({diffs[q]:+.4f}) {query_line(texts.get(q, ''))}",
        key=f"runs_open_{found.a.id}_{found.b.id}",  # per pair: another pair has other queries
    )
    if qid is None:
        return
    side = side_by_side(compared.runs[0], compared.runs[index], qid)
    st.text(side.query)  # the query's words, never markup
    st.caption(
        f"Each run's top {SHOWN} documents, each marked with the grade that run's judgments give it (unjudged: "
        f"none), and where the other run ranks it (—: not in its top {SHOWN})."
    )
    for place, name, docs, score, other in zip(
        st.columns(2), ("A", "B"), (side.a, side.b), (side.score_a, side.score_b), ("B", "A"), strict=True
    ):
        with place:
            st.markdown(f"**{name}** · {measure_label(HEADLINE)} {score:.4f}")
            st.dataframe(
                ranking_table(docs, other).records(), hide_index=True, width="stretch", key=f"runs_side_{index}_{name}"
            )
    if side.unshown:
        st.caption(f"Judged relevant, but in neither top {SHOWN}:")
        st.dataframe(unshown_table(side).records(), hide_index=True, key=f"runs_unshown_{index}")


def details(store: Store, shown: list[RunSummary], picked: list[str]) -> None:
    """One run: what made it, its metrics, its exports, and (for an editor) deleting it."""
    st.divider()
    st.subheader("One run")
    ids, labels = [s.id for s in shown], run_choice_labels(shown)
    if st.session_state.get(keys.RUNS_DETAIL) not in ids:  # deleted, or filtered out: start from A or the newest
        st.session_state[keys.RUNS_DETAIL] = picked[0] if picked and picked[0] in ids else ids[0]
    run_id = st.selectbox("Run", ids, format_func=labels.get, key=keys.RUNS_DETAIL, persist_state="session")
    try:
        kept = shared.once(keys.RUNS_EXPORTS, run_id, lambda: shown_run(get_run(store, run_id)))
    except PotionError as exc:
        st.error(shared.inert(exc))
        return
    run = kept.run
    st.text(run_headline(run.summary))  # names, as text
    st.dataframe(
        [{"": label, "value": value} for label, value in run_facts(run)],
        hide_index=True,
        width="stretch",
        key="runs_facts",
    )
    st.dataframe(metrics_table(run.metrics).records(), hide_index=True, key="runs_run_metrics")
    stem = f"{run_tag(run.name)}-{run.id[:8]}"
    cols = st.columns(2)
    cols[0].download_button(
        "TREC run file",
        kept.trec,
        f"{stem}.txt",
        "text/plain",
        key="runs_trec",
        help="`qid Q0 docid rank score tag` lines, as `runs export --format trec`: trec_eval and ranx read it "
        "unchanged.",
    )
    cols[1].download_button(
        "Whole run (JSON)",
        kept.jsonl,
        f"{stem}.jsonl",
        "application/json",
        key="runs_json",
        help="Everything the run holds, one JSON line: `python -m core runs import FILE` reads it into another "
        "database.",
    )
    if not shared.may_write():
        shared.read_only_note("Deleting runs")
        return
    delete_panel(store, run)


def delete_panel(store: Store, run: SavedRun) -> None:
    with st.popover("Delete this run", icon=":material/delete:"):
        st.caption(
            "Removes the run shown above from the database, recorded in the audit log; export it first to keep a copy."
        )
        if not st.button("Delete", key="runs_delete", type="primary"):
            return
        try:
            delete_run(store, run.id, shared.actor())
        except PotionError as exc:
            st.error(shared.inert(exc))
            return
        # The picker and the run shown drop it on the rerun (a widget's value cannot change once it is drawn).
        st.session_state[keys.RUNS_NOTICE] = (True, f"Deleted run '{run.name}'.")
        st.rerun()


store, _ = shared.begin(":material/difference: Runs", needs_library=False)
st.caption(
    "Every evaluation is kept as a run: what was evaluated and how, its metrics, and every query's score and top "
    "documents. Pick two or more to see which queries got better and which worse, and why. `python -m core runs` "
    "lists, compares, exports and deletes the same runs."
)
notice()
try:
    runs = list_runs(store)
except PotionError as exc:  # the engine restarting, say: one line, and the rest of the app still works
    st.error(shared.inert(exc))
    st.stop()
if not runs:
    st.info(
        "No saved runs yet: every evaluation is saved as one. Evaluate a labelled collection on the **Evaluate** page, "
        "a library's own verdicts on the **Judgments** page, or run `python -m core evaluate`."
    )
    st.stop()
shown = history(runs)
picked = picker(runs, shown)
if len(picked) < 2:
    st.caption("Pick two or more runs to compare them query by query." if not picked else "Pick one more run.")
else:
    comparison(store, picked)
details(store, shown, picked)
