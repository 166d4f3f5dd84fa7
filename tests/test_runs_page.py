"""The Runs page, driven with AppTest over runs made once per module from the tiny collection (the tiny model, an
in-memory store): the history and its filter, two runs compared with the numbers core.service.runs.diff gives, a
changed query's two rankings with their grades, the TREC export, and delete for an editor but not for a reader."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from streamlit.delta_generator import DeltaGenerator

from core.embed.loading import load_embedder
from core.evaluate.metrics import score_ranking
from core.evaluate.run_diff import diff_runs
from core.evaluate.run_tables import changed_table, diff_metrics_table, run_choice_labels
from core.evaluate.runs import WHOLE_DOCUMENTS, evaluate_collection
from core.evaluate.saved import SavedRun, build_runs, qrels_hash
from core.evaluate.side_by_side import grade_text
from core.service.audit import AuditAction
from core.service.runs import ExportFormat, diff, export_run, import_runs, list_runs
from core.storage.memory import MemoryStore
from core.types import SearchMode
from pages import keys
from tests.apptest_helpers import new_app, no_exception, open_page
from tests.test_cli_evaluate import write_tiny_collection

PAGE = "pages/runs.py"
FIRST, SECOND = "2026-12-05T21:40:00+00:00", "2026-12-06T09:15:00+00:00"


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict[str, SavedRun]:
    """Five runs: dense and keyword on the tiny collection (one evaluation); dense again a day later on it judged
    without q1 (other judgments); the keyword run as if made on a library's own judgments (for the filter); and the
    dense run with two rankings moved by hand, so a diff against it has a win and a loss."""
    from tests.conftest import _tiny_static_model

    folder = tmp_path_factory.mktemp("runs")
    model = folder / "tiny-model"
    _tiny_static_model().save_pretrained(model)
    with pytest.MonkeyPatch.context() as env:  # the autouse isolation is per test: this runs before any
        env.setenv("POTION_DATA_DIR", str(folder))
        env.setenv("HF_HUB_OFFLINE", "1")
        report = evaluate_collection(
            write_tiny_collection(folder / "tiny"),
            {"tiny": load_embedder(str(model))},
            [SearchMode.DENSE, SearchMode.KEYWORD],
            MemoryStore(),
            WHOLE_DOCUMENTS,
            resamples=200,
        )
    dense, keyword = build_runs(report, created=FIRST)
    (later,) = build_runs(replace(report, results=report.results[:1]), "judged again", created=SECOND)
    fewer = {q: judged for q, judged in later.qrels.items() if q != "q1"}
    later = replace(
        later,
        summary=replace(later.summary, qrels_hash=qrels_hash(fewer), queries=len(fewer)),
        per_query={m: {q: s for q, s in scores.items() if q != "q1"} for m, scores in later.per_query.items()},
        qrels=fewer,
        queries={q: t for q, t in later.queries.items() if q != "q1"},
    )
    library = replace(
        keyword,
        summary=replace(keyword.summary, id="c" * 32, name="Papers keyword", evaluated="library:Papers", library="P"),
    )
    return {"dense": dense, "keyword": keyword, "later": later, "library": library, "moved": moved(dense)}


def moved(run: SavedRun) -> SavedRun:
    """The run with q1's relevant document sent to the bottom and q4's brought to the top, scored as evaluate scores:
    against it, one query worse, one better, two equal."""
    ranking = dict(run.ranking)
    ranking["q1"] = ranking["q1"][::-1]
    ranking["q4"] = sorted(ranking["q4"], key=lambda hit: -run.qrels["q4"].get(hit[0], 0))
    ranking = {q: [(doc, 1.0 - rank / 10) for rank, (doc, _) in enumerate(docs)] for q, docs in ranking.items()}
    per_query = score_ranking(ranking, run.qrels)
    means = {m: sum(scores.values()) / len(scores) for m, scores in per_query.items()}
    summary = replace(run.summary, id="d" * 32, name="moved by hand", means=means)
    return replace(run, summary=summary, ranking=ranking, per_query=per_query)


@pytest.fixture
def saved(app_store, made) -> dict[str, SavedRun]:
    import_runs(app_store, list(made.values()))
    return made


def opened():
    at = new_app().run()
    open_page(at, PAGE)
    return at


HISTORY = ["id", "created", "dataset", "run", "nDCG@10", "queries", "name"]
METRICS = ["measure", "A", "B", "diff", "95% CI", "p-value"]
CHANGED = ["query_id", "query", "A", "B", "diff", "overlap@10", "RBO"]
SIDE = ["rank", "document", "score", "judged"]  # then "rank in" the other run
FACTS = ["", "value"]


def frame(at, columns: list[str]) -> list[dict]:
    """The rows of the one dataframe with these columns (a dataframe without selections has no key to find it by)."""
    (found,) = [d.value for d in at.main.dataframe if list(d.value.columns) == columns]
    return found.to_dict("records")


def chart_points(chart) -> list[dict]:
    """The scatter's points as Streamlit sent them: a layered chart keeps each layer's values in its spec."""
    layers = json.loads(chart.proto.spec)["layer"]
    (points,) = [layer["data"]["values"] for layer in layers if "query_id" in layer["data"]["values"][0]]
    return points


def pick(at, *runs: SavedRun) -> None:
    at.main.multiselect(key=keys.RUNS_PICKED).set_value([r.id for r in runs]).run()
    no_exception(at)


def test_an_empty_history_says_how_runs_are_made(app_store):
    at = opened()
    (info,) = [i.value for i in at.main.info]
    assert "Evaluate" in info and "Judgments" in info and "python -m core evaluate" in info
    assert not at.main.multiselect


def test_the_history_lists_every_run_newest_first_and_filters_by_what_was_evaluated(saved, app_store):
    at = opened()
    rows = frame(at, HISTORY)
    assert [r["id"] for r in rows] == [s.id[:12] for s in list_runs(app_store)]
    assert rows[0]["name"] == "judged again" and len(rows) == len(saved)  # the day-later run first
    choices = at.main.selectbox(key=keys.RUNS_FILTER)
    assert choices.options == ["Every collection and library", "tiny", "Papers (the library's judgments)"]
    choices.set_value("library:Papers").run()
    no_exception(at)
    assert [r["name"] for r in frame(at, HISTORY)] == ["Papers keyword"]
    assert at.main.multiselect(key=keys.RUNS_PICKED).options == [
        run_choice_labels([saved["library"].summary])[saved["library"].id]
    ]


def test_picked_runs_are_still_picked_after_a_visit_to_another_page(saved, app_store):
    a, b = saved["dense"], saved["moved"]
    at = opened()
    at.main.selectbox(key=keys.RUNS_FILTER).set_value("tiny").run()
    pick(at, a, b)
    open_page(at, "pages/evaluate.py")  # where an analyst goes to evaluate again
    open_page(at, PAGE)
    assert at.main.selectbox(key=keys.RUNS_FILTER).value == "tiny"
    assert at.main.multiselect(key=keys.RUNS_PICKED).value == [a.id, b.id]
    assert any(m.value == "**Compared on 4 shared queries (the same judgments).**" for m in at.main.markdown)


def test_three_runs_picked_compare_each_later_one_with_the_first(saved, app_store):
    a, b, c = saved["dense"], saved["moved"], saved["keyword"]
    at = opened()
    pick(at, a, b, c)
    first, second = diff(app_store, [a.id, b.id, c.id])
    assert (second.a.id, second.b.id) == (a.id, c.id)
    outcomes = [m.value for m in at.main.metric if m.label in ("B better", "Tied", "B worse")]
    assert outcomes == [str(n) for d in (first, second) for n in (d.wins, d.ties, d.losses)]
    assert frame_all(at, METRICS) == [diff_metrics_table(first).records(), diff_metrics_table(second).records()]


def frame_all(at, columns: list[str]) -> list[list[dict]]:
    return [d.value.to_dict("records") for d in at.main.dataframe if list(d.value.columns) == columns]


def test_two_runs_picked_show_the_diff_core_computes(saved, app_store):
    a, b = saved["dense"], saved["moved"]
    at = opened()
    pick(at, a, b)
    (expected,) = diff(app_store, [a.id, b.id])
    assert (expected.wins, expected.ties, expected.losses) == (1, 2, 1)  # q4 better, q1 worse
    assert any(m.value == "**Compared on 4 shared queries (the same judgments).**" for m in at.main.markdown)
    assert frame(at, METRICS) == diff_metrics_table(expected).records()
    metrics = {m.label: m.value for m in at.main.metric}
    assert (metrics["B better"], metrics["Tied"], metrics["B worse"]) == tuple(
        str(n) for n in (expected.wins, expected.ties, expected.losses)
    )
    assert expected.wins + expected.ties + expected.losses == 4
    assert (
        metrics["Mean overlap@10"] == f"{expected.mean_overlap:.2f}"
        and metrics["Mean RBO"] == f"{expected.mean_rbo:.2f}"
    )
    assert frame(at, CHANGED) == changed_table(expected, a.queries).records()
    (chart,) = at.get("vega_lite_chart")
    points = chart_points(chart)
    assert sorted((p["query_id"], p["a"], p["b"]) for p in points) == sorted(
        (q.query_id, q.a, q.b) for q in expected.per_query
    )
    assert len(json.loads(chart.proto.spec)["layer"]) == 2  # the diagonal under the points (tests/test_run_compare.py)

    pick(at, a, saved["later"])  # judged without q1: compared on the three queries both have
    assert any(
        m.value == "**Compared on 3 shared queries (1 only in A, 0 only in B; the runs' judgments differ).**"
        for m in at.main.markdown
    )


def test_opening_a_changed_query_shows_both_rankings_with_their_grades(saved):
    a, b = saved["dense"], saved["moved"]
    at = opened()
    pick(at, a, b)
    opener = at.main.selectbox(key=f"runs_open_{a.id}_{b.id}")
    assert opener.value == diff_runs(a, b).per_query[0].query_id  # the query that changed most opens first
    opener.set_value("q1").run()
    no_exception(at)
    assert any(t.value == a.queries["q1"] for t in at.main.text)
    for run, other, name in ((a, b, "B"), (b, a, "A")):
        shown = frame(at, [*SIDE, f"rank in {name}"])
        assert [r["document"] for r in shown] == [doc for doc, _ in run.ranking["q1"][:10]]
        assert [r["judged"] for r in shown] == [
            grade_text(run.qrels["q1"].get(doc)) for doc, _ in run.ranking["q1"][:10]
        ]
        others = [doc for doc, _ in other.ranking["q1"]]
        assert [r[f"rank in {name}"] for r in shown] == [
            str(others.index(r["document"]) + 1) if r["document"] in others else "—" for r in shown
        ]
    judged = [r["judged"] for r in frame(at, [*SIDE, "rank in B"])]
    assert "relevant (1)" in judged and "unjudged" in judged  # q1 judges d1 alone


def test_a_runs_exports_are_its_trec_run_file_and_its_json(saved, app_store, monkeypatch):
    given: dict[str, str] = {}
    real = DeltaGenerator.download_button

    def recorded(self, label, data, *args, **kwargs):
        given[label] = data
        return real(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", recorded)
    at = opened()
    run = saved["keyword"]
    at.main.selectbox(key=keys.RUNS_DETAIL).set_value(run.id).run()
    no_exception(at)
    facts = {r[""]: r["value"] for r in frame(at, FACTS)}
    assert facts["id"] == run.id and facts["name"] == run.name
    assert given["TREC run file"] == export_run(app_store, run.id, ExportFormat.TREC)
    assert given["TREC run file"].splitlines()[0].split()[1:4:2] == ["Q0", "1"]
    assert given["Whole run (JSON)"] == export_run(app_store, run.id, ExportFormat.JSON)


def test_an_editor_deletes_a_run_and_a_reader_sees_no_delete_and_why(saved, app_store, monkeypatch):
    run = saved["later"]
    at = opened()
    at.main.selectbox(key=keys.RUNS_DETAIL).set_value(run.id).run()
    pick(at, run, saved["dense"])
    at.main.button(key="runs_delete").click().run()
    no_exception(at)
    assert run.id not in {s.id for s in list_runs(app_store)}
    assert any(s.value == "Deleted run 'judged again'." for s in at.main.success)
    assert at.main.multiselect(key=keys.RUNS_PICKED).value == [saved["dense"].id]  # dropped from the picked runs
    assert at.main.selectbox(key=keys.RUNS_DETAIL).value != run.id
    (entry,) = [e for e in app_store.audit.list() if e.action == AuditAction.DELETE_RUN]
    assert run.id in entry.what

    monkeypatch.setenv("POTION_READ_ONLY", "1")  # the frame reads the settings on every run
    reader = opened()
    assert "runs_delete" not in [b.key for b in reader.main.button]
    notes = [c.value for c in reader.main.caption if "POTION_READ_ONLY" in c.value]
    assert len(notes) == 1 and notes[0].startswith(":material/lock: Deleting runs: off")
    assert {d.label for d in reader.main.get("download_button")} == {"TREC run file", "Whole run (JSON)"}


def test_an_engine_failing_to_list_the_runs_is_one_line_not_a_traceback(saved, app_store, monkeypatch):
    from core.errors import StoreError

    def failing(*args, **kwargs):
        raise StoreError("The database engine stopped while listing the saved runs: open the page again.")

    monkeypatch.setattr("core.service.runs.list_runs", failing)
    at = opened()
    assert [e.value for e in at.main.error] == [
        "The database engine stopped while listing the saved runs: open the page again."
    ]
    assert not at.main.multiselect
