"""`python -m core evaluate` saves its runs and `python -m core runs list|show|diff|export|import|delete` reads them
back, end to end on a tiny BEIR folder and a Lite database each command opens afresh."""

from __future__ import annotations

import json

import pytest

from core.cli import EXIT_ERROR, EXIT_OK, main
from tests.test_cli_evaluate import write_tiny_collection


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def json_of(capsys, *args: str):
    code, out, err = run_cli(capsys, *args, "--json")
    assert code == EXIT_OK, err
    return json.loads(out)


@pytest.fixture
def two_evaluations(tmp_path, tiny_model_dir, capsys):
    """The tiny collection evaluated twice: dense and keyword named "first", then a weighted hybrid unnamed."""
    folder = write_tiny_collection(tmp_path / "tiny")
    model = str(tiny_model_dir)
    base = ["evaluate", str(folder), "--model", model, "--no-chunking", "--quiet"]
    first = json_of(capsys, *base, "--mode", "dense,keyword", "--run-name", "first")
    second = json_of(capsys, *base, "--weight", "0.3")
    return folder, model, first, second


def test_every_evaluation_saves_its_runs_named_as_asked_or_by_settings_and_time(two_evaluations, capsys):
    _, model, first, second = two_evaluations
    assert [run["name"] for run in first["runs"]] == [f"first · {model} dense", f"first · {model} keyword"]
    (weighted,) = second["runs"]
    assert weighted["name"].startswith(f"{model} hybrid w=0.3 · 20")
    listed = json_of(capsys, "runs", "list")["runs"]
    assert [run["id"] for run in listed] == [weighted["id"]] + [r["id"] for r in first["runs"]]  # newest first
    by_id = {run["id"]: run for run in listed}
    for saved, result in zip(first["runs"] + second["runs"], first["results"] + second["results"]):
        run = by_id[saved["id"]]
        assert {"id", "name", "dataset", "model", "mode", "fusion", "weight", "ndcg@10"} <= set(run)
        assert (run["dataset"], run["model"], run["mode"]) == ("tiny", model, result["mode"])
        assert (run["fusion"], run["weight"]) == (result["fusion"], result["weight"])
        assert run["ndcg@10"] == pytest.approx(result["metrics"]["ndcg@10"]["mean"], abs=1e-6)
    assert json_of(capsys, "runs", "list", "--dataset", "other")["runs"] == []
    code, out, _ = run_cli(capsys, "runs", "list")
    assert code == EXIT_OK and weighted["id"][:12] in out and "nDCG@10" in out


def test_show_gives_what_made_a_run_and_its_metrics(two_evaluations, capsys):
    _, model, first, _ = two_evaluations
    run_id = first["runs"][1]["id"]
    shown = json_of(capsys, "runs", "show", run_id[:8])  # a unique start of the id is enough
    assert shown["summary"]["id"] == run_id and shown["summary"]["mode"] == "keyword"
    assert shown["summary"]["fingerprint"] and shown["summary"]["vector_index"] == "FLAT (exact)"
    assert shown["metrics"]["ndcg@10"]["mean"] == pytest.approx(first["results"][1]["metrics"]["ndcg@10"]["mean"])
    assert set(shown["per_query"]["ndcg@10"]) == {"q1", "q2", "q3", "q4"}
    code, out, _ = run_cli(capsys, "runs", "show", run_id)
    assert code == EXIT_OK and f"{model} (fingerprint " in out and "MAP@100" in out


def test_diff_gives_metric_differences_and_each_querys_ndcg_in_both_runs(two_evaluations, capsys):
    _, _, first, second = two_evaluations
    a, b = first["runs"][0]["id"], second["runs"][0]["id"]
    found = json_of(capsys, "runs", "diff", a, b)
    assert found["queries"] == {"shared": 4, "only_a": 0, "only_b": 0} and found["same_judgments"] is True
    shown_a = json_of(capsys, "runs", "show", a)["per_query"]["ndcg@10"]
    shown_b = json_of(capsys, "runs", "show", b)["per_query"]["ndcg@10"]
    assert sorted(q["query_id"] for q in found["per_query"]) == ["q1", "q2", "q3", "q4"]
    for q in found["per_query"]:
        assert (q["a"], q["b"]) == pytest.approx((shown_a[q["query_id"]], shown_b[q["query_id"]]), abs=1e-6)
        assert q["diff"] == pytest.approx(q["b"] - q["a"], abs=1e-6)
    diffs = [abs(q["diff"]) for q in found["per_query"]]
    assert diffs == sorted(diffs, reverse=True)
    ndcg = found["metrics"][0]
    assert ndcg["metric"] == "ndcg@10" and {"diff", "ci95", "p_value"} <= set(ndcg)
    assert ndcg["diff"] == pytest.approx(sum(q["diff"] for q in found["per_query"]) / 4, abs=1e-5)
    assert found["wins"] + found["ties"] + found["losses"] == 4
    code, out, _ = run_cli(capsys, "runs", "diff", a, b)
    assert code == EXIT_OK and "p-value" in out and "RBO" in out
    gained_part, _, lost_part = out.partition("the queries B gained most on")[2].partition("the queries B lost most on")
    gained = {q["query_id"] for q in found["per_query"] if q["diff"] > 0}
    lost = {q["query_id"] for q in found["per_query"] if q["diff"] < 0}
    listed = lambda part: {line.split()[0] for line in part.splitlines()[2:] if line.strip()}  # noqa: E731
    assert listed(gained_part) == gained and listed(lost_part) == lost  # four queries: all of each side
    several = json_of(capsys, "runs", "diff", a, b, first["runs"][1]["id"])
    assert [d["b"]["id"] for d in several["diffs"]] == [b, first["runs"][1]["id"]]


def test_a_trec_export_is_read_by_trec_eval_as_the_run_scored(two_evaluations, capsys, tmp_path):
    import pytrec_eval

    folder, _, first, _ = two_evaluations
    run_id = first["runs"][0]["id"]
    code, out, _ = run_cli(capsys, "runs", "export", run_id, "--format", "trec")
    assert code == EXIT_OK and out.splitlines()[0].split()[1] == "Q0"
    (tmp_path / "run.txt").write_text(out)
    qrels = {}
    for line in (folder / "qrels.tsv").read_text().splitlines():
        qid, _, doc, grade = line.split()
        if int(grade) > 0:
            qrels.setdefault(qid, {})[doc] = int(grade)
    with (tmp_path / "run.txt").open() as handle:
        theirs = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10"}).evaluate(pytrec_eval.parse_run(handle))
    ours = json_of(capsys, "runs", "show", run_id)["per_query"]["ndcg@10"]
    assert {q: theirs[q]["ndcg_cut_10"] for q in ours} == pytest.approx(ours)


def test_runs_move_to_another_database_and_back_and_are_deleted_with_an_audit_entry(
    two_evaluations, capsys, tmp_path, monkeypatch
):
    _, _, first, _ = two_evaluations
    run_id = first["runs"][0]["id"]
    code, exported, _ = run_cli(capsys, "runs", "export", run_id, "--format", "json")
    assert code == EXIT_OK
    (tmp_path / "run.jsonl").write_text(exported)
    shown = json_of(capsys, "runs", "show", run_id)
    monkeypatch.setenv("POTION_DB_PATH", str(tmp_path / "other.db"))
    assert json_of(capsys, "runs", "import", str(tmp_path / "run.jsonl")) == {"added": 1, "replaced": 0}
    assert json_of(capsys, "runs", "import", str(tmp_path / "run.jsonl")) == {"added": 0, "replaced": 1}
    assert json_of(capsys, "runs", "show", run_id) == shown  # the whole run, in the other database
    assert json_of(capsys, "runs", "delete", run_id[:10]) == {"id": run_id, "name": shown["summary"]["name"]}
    assert json_of(capsys, "runs", "list")["runs"] == []
    actions = [e["action"] for e in json_of(capsys, "audit")["entries"]]
    assert actions == ["delete run", "import runs", "import runs"]


def test_an_unknown_id_and_a_malformed_file_are_one_line_each(two_evaluations, capsys, tmp_path):
    code, out, err = run_cli(capsys, "runs", "show", "feedface")
    assert (code, out) == (EXIT_ERROR, "")
    assert err == "error: There is no saved run with id 'feedface': list them with `python -m core runs list`.\n"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"summary": {"id": "x"}}\n')
    code, _, err = run_cli(capsys, "runs", "import", str(bad))
    assert code == EXIT_ERROR and err.startswith(f"error: {bad} line 1 is not a run") and err.count("\n") == 1
    code, _, err = run_cli(capsys, "runs", "diff", "feedface")
    assert code == EXIT_ERROR and err.count("\n") == 1


def test_a_reader_evaluates_but_saves_nothing_and_is_told_so(two_evaluations, capsys, monkeypatch):
    folder, model, first, _ = two_evaluations
    before = json_of(capsys, "runs", "list")["runs"]
    monkeypatch.setenv("POTION_READ_ONLY", "1")
    code, out, err = run_cli(capsys, "evaluate", str(folder), "--model", model, "--no-chunking", "--quiet", "--json")
    assert code == EXIT_OK and json.loads(out)["runs"] == []
    assert json.loads(out)["results"][0]["metrics"] == first["results"][0]["metrics"]  # the numbers still come
    (line,) = [line for line in err.splitlines() if "saved" in line]  # (a slow load may add a line of its own)
    assert (
        line.startswith("Not saved as a run: Cannot save the runs of this evaluation of tiny")
        and "POTION_READ_ONLY" in line
    )
    assert json_of(capsys, "runs", "list")["runs"] == before
    code, _, err = run_cli(capsys, "runs", "delete", before[0]["id"])
    assert code == EXIT_ERROR and "POTION_READ_ONLY" in err
