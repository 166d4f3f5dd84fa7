"""Saved runs: every run of an evaluation kept with what made it, read back whole, compared query by query, and
exported as a TREC run file that trec_eval (pytrec_eval) and ranx read unchanged, scoring it as we did."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

from core import __version__
from core.errors import RunDiffError, RunFileError
from core.evaluate.datasets import read_qrels
from core.evaluate.judgments import evaluate_judgments, judge
from core.evaluate.metrics import ndcg_at_k
from core.evaluate.ranking import DEPTH
from core.evaluate.results import RunKey
from core.evaluate.run_diff import diff_against_first, diff_runs
from core.evaluate.run_files import read_runs_jsonl, run_tag, runs_jsonl, trec_id, trec_run
from core.evaluate.runs import WHOLE_DOCUMENTS, evaluate_collection
from core.evaluate.saved import RunSummary, SavedRun, build_runs, qrels_hash, run_from_dict
from core.evaluate.stats import Interval, paired_difference
from core.search.agreement import rank_biased_overlap, topk_overlap
from core.storage.memory import MemoryStore
from core.storage.vector_index import FLAT
from core.types import SearchMode
from tests.conftest import BUNDLED_SMALL, TOPICS, index_texts
from tests.test_cli_evaluate import write_scifact_slice, write_tiny_collection

DENSE_KEYWORD = [SearchMode.DENSE, SearchMode.KEYWORD]


@pytest.fixture
def tiny_report(tmp_path, tiny_embedder):
    folder = write_tiny_collection(tmp_path / "tiny")
    store = MemoryStore()
    report = evaluate_collection(folder, {"tiny": tiny_embedder}, DENSE_KEYWORD, store, WHOLE_DOCUMENTS, weights=[0.3])
    return folder, store, report


# --- what a run records ---------------------------------------------------------------------------


def test_every_run_of_an_evaluation_is_saved_with_what_made_it(tiny_report, tiny_embedder):
    folder, store, report = tiny_report
    runs = build_runs(report)
    assert [r.summary.key for r in runs] == [r.key for r in report.results]  # one per run, in order
    assert len({r.id for r in runs}) == 3 and all(len(r.id) == 32 for r in runs)
    meta = store.catalog.require("eval:tiny:whole", tiny_embedder.info.name)
    qrels = read_qrels(folder / "qrels.tsv")
    for run, result in zip(runs, report.results):
        s = run.summary
        assert (s.evaluated, s.library, s.chunking, s.queries) == ("tiny", "eval:tiny:whole", "whole", 4)
        assert (s.model, s.mode, s.fusion, s.weight) == ("tiny", str(result.mode), result.fusion, result.weight)
        assert s.fingerprint == meta.fingerprint and s.fingerprint  # the weights that made the index's vectors
        assert s.vector_index == FLAT.label and s.version == __version__
        assert s.qrels_hash == qrels_hash(qrels)
        assert run.qrels == qrels and set(run.queries) == set(qrels)
        assert run.metrics == result.metrics and run.per_query == result.per_query
        assert run.ranking == result.ranking and s.means["ndcg@10"] == result.metrics["ndcg@10"].mean
        assert s.created.endswith("+00:00")  # UTC
    weighted = runs[2].summary
    assert weighted.name == f"tiny hybrid w=0.3 · {weighted.created[:10]} {weighted.created[11:16]}"


def test_the_judged_queries_hash_changes_with_any_judgment_and_not_with_order():
    qrels = {"q1": {"d1": 1, "d2": 2}, "q2": {"d3": 1}}
    assert qrels_hash({"q2": {"d3": 1}, "q1": {"d2": 2, "d1": 1}}) == qrels_hash(qrels)
    for changed in ({**qrels, "q2": {"d3": 2}}, {**qrels, "q3": {"d1": 1}}, {"q1": qrels["q1"]}):
        assert qrels_hash(changed) != qrels_hash(qrels)


def test_a_given_name_names_a_lone_run_and_tells_several_apart(tiny_report):
    _, _, report = tiny_report
    several = build_runs(report, "  chunking   trial ")
    assert [r.name for r in several] == [
        "chunking trial · tiny dense",
        "chunking trial · tiny keyword",
        "chunking trial · tiny hybrid w=0.3",
    ]
    lone = type(report)(**{**report.__dict__, "results": report.results[:1]})
    assert [r.name for r in build_runs(lone, "baseline")] == ["baseline"]


def test_rankings_keep_each_querys_top_100_documents(tmp_path, tiny_embedder):
    """150 documents, all sharing words with the query: the ranking of each run stops at 100, best first."""
    folder = tmp_path / "deep"
    folder.mkdir()
    words = TOPICS["food"]
    corpus = [{"_id": f"d{i:03d}", "text": " ".join(words[: 1 + i % len(words)]) + f" kitchen {i}"} for i in range(150)]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "apple bread kitchen"}) + "\n")
    (folder / "qrels.tsv").write_text("q1\td007\t1\n")
    report = evaluate_collection(folder, {"tiny": tiny_embedder}, DENSE_KEYWORD, MemoryStore(), WHOLE_DOCUMENTS)
    for run in build_runs(report):
        docs = run.ranking["q1"]
        assert len(docs) == DEPTH == 100
        assert [score for _, score in docs] == sorted((score for _, score in docs), reverse=True)


def test_a_librarys_own_judgments_are_saved_as_library_runs(tmp_path):
    store = MemoryStore()
    index_texts(store, tmp_path, "lib", BUNDLED_SMALL, {"a.txt": "apple bread", "b.txt": "turing london"})
    judge(store, "lib", "bread", "a.txt", 1)
    judge(store, "lib", "bread", "b.txt", 0)
    from core.embed.loading import load_embedder

    report = evaluate_judgments(store, "lib", {BUNDLED_SMALL: load_embedder(BUNDLED_SMALL)}, DENSE_KEYWORD)
    runs = build_runs(report)
    assert {r.summary.evaluated for r in runs} == {"library:lib"} and {r.summary.library for r in runs} == {"lib"}
    (qid,) = runs[0].queries
    assert runs[0].queries[qid] == "bread" and runs[0].qrels == {qid: {"a.txt": 1}}  # relevant verdicts only


# --- JSON form ------------------------------------------------------------------------------------


def test_a_run_reads_back_equal_from_its_json(tiny_report):
    _, _, report = tiny_report
    runs = build_runs(report)
    for run in runs:
        assert run_from_dict(json.loads(json.dumps(run.as_dict())), "x") == run
    assert read_runs_jsonl(runs_jsonl(runs).encode("utf-8"), "runs.jsonl") == runs


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "runs.jsonl holds no runs"),
        (b"\xff\xfe", "runs.jsonl is not UTF-8 text"),
        (b'{"summary": {}}\n{not json\n', "runs.jsonl line 1 is not a run Potion Search saved (missing id"),
        (b"[1, 2]\n", "runs.jsonl line 1 is not a run Potion Search saved"),
    ],
)
def test_a_malformed_run_file_is_refused_in_one_sentence_naming_it(content, said):
    with pytest.raises(RunFileError) as caught:
        read_runs_jsonl(content, "runs.jsonl")
    message = str(caught.value)
    assert message.startswith(said) and "\n" not in message


def test_a_run_with_a_bad_id_or_a_field_of_the_wrong_kind_is_refused(tiny_report):
    _, _, report = tiny_report
    good = build_runs(report)[0].as_dict()
    bad_id = {**good, "summary": {**good["summary"], "id": "../../etc"}}
    bad_ranking = {**good, "ranking": {"q1": [["d1", "high"]]}}
    for bad in (bad_id, bad_ranking):
        with pytest.raises(RunFileError, match=r"^f\.jsonl line 1 is not a run"):
            read_runs_jsonl(json.dumps(bad), "f.jsonl")


# --- diff -----------------------------------------------------------------------------------------


def made_run(name: str, ndcg: dict[str, float], ranking: dict[str, list[str]] | None = None) -> SavedRun:
    """A run with the given per-query nDCG@10 (its recall@10 the same), for diffs worked out by hand."""
    summary = RunSummary(
        id=(name * 32)[:32].encode().hex()[:32],
        name=name,
        created="2026-12-05T21:40:00+00:00",
        version=__version__,
        evaluated="set",
        library="lib",
        qrels_hash=qrels_hash({q: {"d": 1} for q in ndcg}),
        queries=len(ndcg),
        model="m",
        fingerprint="f",
        mode="dense",
        fusion=None,
        weight=None,
        chunking="whole",
        vector_index=FLAT.label,
        means={"ndcg@10": sum(ndcg.values()) / len(ndcg)},
    )
    ranked = {q: [(doc, 1.0 - i / 100) for i, doc in enumerate(docs)] for q, docs in (ranking or {}).items()}
    return SavedRun(summary, {}, {"ndcg@10": ndcg, "recall@10": dict(ndcg)}, ranked, {}, {}, 0.0)


def test_a_diff_is_taken_on_the_queries_both_runs_judged_and_says_how_many():
    a = made_run("a", {"q1": 0.5, "q2": 0.2, "q3": 1.0, "q4": 0.0})
    b = made_run("b", {"q2": 0.9, "q3": 0.4, "q4": 0.0, "q5": 1.0})
    found = diff_runs(a, b)
    assert (found.shared, found.only_a, found.only_b, found.same_judgments) == (3, 1, 1, False)
    # q2 +0.7, q3 -0.6, q4 0: largest change first
    assert [(q.query_id, q.a, q.b) for q in found.per_query] == [("q2", 0.2, 0.9), ("q3", 1.0, 0.4), ("q4", 0.0, 0.0)]
    assert [q.diff for q in found.per_query] == pytest.approx([0.7, -0.6, 0.0])
    assert (found.wins, found.ties, found.losses) == (1, 1, 1)
    ndcg = found.metrics[0]
    assert ndcg.metric == "ndcg@10" and ndcg.a == pytest.approx(0.4) and ndcg.b == pytest.approx(1.3 / 3)
    assert ndcg.difference == paired_difference([0.2, 1.0, 0.0], [0.9, 0.4, 0.0])  # evaluate's rule, shared only
    assert [m.metric for m in found.metrics] == ["ndcg@10", "recall@10"]
    printed = found.as_dict()
    assert printed["queries"] == {"shared": 3, "only_a": 1, "only_b": 1}
    assert printed["per_query"][0] == {"query_id": "q2", "a": 0.2, "b": 0.9, "diff": 0.7}
    assert {"diff", "ci95", "p_value"} <= set(printed["metrics"][0])


def test_the_queries_gained_and_lost_most_are_each_side_in_order_of_their_change_without_ties():
    a = made_run("a", {"q1": 0.5, "q2": 0.2, "q3": 1.0, "q4": 0.0, "q5": 0.3, "q6": 0.6})
    b = made_run("b", {"q1": 0.6, "q2": 0.9, "q3": 0.4, "q4": 0.0, "q5": 0.2, "q6": 0.6})
    found = diff_runs(a, b)
    assert [q.query_id for q in found.gained(5)] == ["q2", "q1"]  # +0.7, +0.1
    assert [q.query_id for q in found.lost(5)] == ["q3", "q5"]  # -0.6, -0.1; q4 and q6 tie
    assert [q.query_id for q in found.gained(1)] == ["q2"] and [q.query_id for q in found.lost(1)] == ["q3"]


def test_a_diff_measures_how_far_each_querys_rankings_agree():
    same, moved = ["d1", "d2", "d3"], ["d9", "d8", "d1"]
    a = made_run("a", {"q1": 1.0, "q2": 1.0}, {"q1": same, "q2": same})
    b = made_run("b", {"q1": 1.0, "q2": 0.5}, {"q1": same, "q2": moved})
    found = diff_runs(a, b)
    by_query = {g.query_id: g for g in found.agreement}
    assert (by_query["q1"].overlap, by_query["q1"].rbo) == (1.0, 1.0)
    assert by_query["q2"].overlap == topk_overlap(same, moved, 10) == pytest.approx(1 / 3)
    assert by_query["q2"].rbo == rank_biased_overlap(same, moved, 0.9, 10) < 0.5
    assert found.mean_overlap == pytest.approx((1 + 1 / 3) / 2)
    assert found.as_dict()["agreement"]["overlap@10"] == pytest.approx((1 + 1 / 3) / 2, abs=1e-6)


def test_runs_sharing_no_query_are_not_compared_and_several_are_compared_with_the_first():
    a, b, c = made_run("a", {"q1": 1.0}), made_run("b", {"q2": 1.0}), made_run("c", {"q1": 0.0})
    with pytest.raises(RunDiffError, match="share no judged query"):
        diff_runs(a, b)
    with pytest.raises(RunDiffError, match="at least two"):
        diff_against_first([a])
    found = diff_against_first([a, c, made_run("d", {"q1": 0.5})])
    assert [(d.a.name, d.b.name, d.per_query[0].diff) for d in found] == [("a", "c", -1.0), ("a", "d", -0.5)]


def test_a_real_diff_is_each_querys_score_in_b_minus_a(tiny_report):
    _, _, report = tiny_report
    dense, keyword, _ = build_runs(report)
    found = diff_runs(dense, keyword)
    for change in found.per_query:
        assert (
            change.diff == keyword.per_query["ndcg@10"][change.query_id] - dense.per_query["ndcg@10"][change.query_id]
        )
    assert found.same_judgments and found.shared == 4


# --- TREC -----------------------------------------------------------------------------------------


def test_a_trec_run_file_has_one_line_per_ranked_document_with_ranks_from_one(tiny_report):
    _, _, report = tiny_report
    run = build_runs(report)[0]
    lines = [line.split(" ") for line in trec_run(run).splitlines()]
    assert len(lines) == sum(len(docs) for docs in run.ranking.values())
    tag = run_tag(run.name)
    assert tag == run.name.replace(" · ", "_").replace(" ", "_").replace(":", "_")
    for qid, docs in run.ranking.items():
        mine = [line for line in lines if line[0] == qid]
        assert [(line[1], line[2], int(line[3]), line[5]) for line in mine] == [
            ("Q0", doc, rank, tag) for rank, (doc, _) in enumerate(docs, start=1)
        ]


def test_ids_with_whitespace_are_percent_encoded_and_others_written_as_they_are():
    assert trec_id("MED-10") == "MED-10" and trec_id("a b\tc%") == "a%20b%09c%25"
    assert trec_id("x\u2028y") == "x%E2%80%A8y" and trec_id("") == "%00"
    assert run_tag("  my run: w=0.3 · 2026 ") == "my_run_w_0.3_2026"


def trec_readers_ndcg(path: Path, qrels: dict) -> dict[str, dict[str, float]]:
    """nDCG@10 per query as trec_eval (through pytrec_eval) and ranx compute it from the file on disk."""
    import pytrec_eval
    from ranx import Qrels, Run, evaluate

    with path.open() as handle:
        parsed = pytrec_eval.parse_run(handle)
    trec = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10"}).evaluate(parsed)
    judged = Qrels.from_dict(qrels)
    # Queries nothing was ranked for are absent from the file: ranx scores them 0, as we do.
    ranx_run = Run.from_file(str(path), kind="trec").make_comparable(judged)
    evaluate(judged, ranx_run, "ndcg@10")
    return {
        "trec_eval": {q: v["ndcg_cut_10"] for q, v in trec.items()},
        "ranx": {q: float(v) for q, v in ranx_run.scores["ndcg@10"].items()},
    }


def test_tied_scores_are_written_so_trec_eval_and_ranx_keep_our_order(tmp_path, tiny_embedder):
    """Two documents with the same text tie; we rank the one first by id first, trec_eval would put the other
    first. The relevant one is ours: written as scored, trec_eval would find it second and score 0.63, not 1."""
    folder = tmp_path / "ties"
    folder.mkdir()
    corpus = [{"_id": "a-copy", "text": "apple bread soup"}, {"_id": "b-copy", "text": "apple bread soup"}]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "apple bread"}) + "\n")
    (folder / "qrels.tsv").write_text("q1\ta-copy\t1\n")
    report = evaluate_collection(folder, {"tiny": tiny_embedder}, DENSE_KEYWORD, MemoryStore(), WHOLE_DOCUMENTS)
    for run in build_runs(report):
        (first, s1), (second, s2) = run.ranking["q1"]
        assert (first, second) == ("a-copy", "b-copy") and s1 == s2  # a real tie, broken by id
        assert run.per_query["ndcg@10"]["q1"] == 1.0
        path = tmp_path / f"{run.summary.mode}.txt"
        path.write_text(trec_run(run))
        written = [float(line.split()[4]) for line in path.read_text().splitlines()]
        assert written[1] < written[0] and math.isclose(written[0], s1, rel_tol=1e-6)
        assert math.isclose(written[1], s2, rel_tol=1e-6)  # one float32 step below: trec_eval compares float32
        for reader, scores in trec_readers_ndcg(path, run.qrels).items():
            assert scores == {"q1": pytest.approx(1.0)}, reader


def test_trec_eval_and_ranx_read_an_exported_real_run_unchanged_and_score_it_as_we_did(tmp_path):
    from core.embed.loading import load_embedder

    scifact_slice = write_scifact_slice(tmp_path)  # ~340 documents, 40 judged queries
    embedder = load_embedder(BUNDLED_SMALL)
    report = evaluate_collection(
        scifact_slice, {BUNDLED_SMALL: embedder}, DENSE_KEYWORD, MemoryStore(), WHOLE_DOCUMENTS
    )
    for run in build_runs(report, "scifact slice"):
        path = tmp_path / f"{run_tag(run.name)}.txt"
        path.write_text(trec_run(run))
        with path.open() as handle:
            import pytrec_eval

            parsed = pytrec_eval.parse_run(handle)
        assert {q: list(docs) for q, docs in parsed.items()} == {
            q: [doc for doc, _ in docs] for q, docs in run.ranking.items() if docs
        }
        ours = run.per_query["ndcg@10"]
        assert 0.2 < sum(ours.values()) / len(ours) < 1.0  # a real ranking: neither empty nor perfect
        for reader, theirs in trec_readers_ndcg(path, run.qrels).items():
            # A query nothing was ranked for is absent from the file; it scores 0 with us.
            assert {q: theirs.get(q, 0.0) for q in ours} == pytest.approx(ours, abs=1e-9), reader
        by_hand = {q: ndcg_at_k([d for d, _ in run.ranking[q]], run.qrels[q], 10) for q in ours}
        assert by_hand == pytest.approx(ours)


def test_an_exported_json_run_is_a_lossless_copy(tiny_report):
    _, _, report = tiny_report
    run = build_runs(report)[1]
    again = read_runs_jsonl(io.StringIO(runs_jsonl([run])).getvalue(), "copy.jsonl")
    assert again == [run] and again[0].metrics["ndcg@10"] == Interval(**run.as_dict()["metrics"]["ndcg@10"])
    assert RunKey("tiny", SearchMode.KEYWORD) == again[0].summary.key
