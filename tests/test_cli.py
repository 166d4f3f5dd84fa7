"""The command line, as a user runs it: `python -m core ...` in a subprocess with JSON on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, main
from tests.conftest import BUNDLED_SMALL, SEED_DOCS

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i, text in enumerate(SEED_DOCS):
        (folder / f"doc{i}.md").write_text(text, encoding="utf-8")
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 this is not a real docx")
    return folder


def test_ingest_search_libraries_and_delete_as_json(corpus):
    ingest = run_cli("ingest", str(corpus), "--library", "demo", "--model", BUNDLED_SMALL, "--json")
    assert ingest.returncode == EXIT_PARTIAL, ingest.stderr
    summary = json.loads(ingest.stdout)  # stdout is exactly one JSON object
    assert summary["files_ok"] == 3 and summary["chunks_added"] == 3 and summary["chunks_total"] == 3
    assert [f["file"] for f in summary["files_failed"]] == ["broken.docx"]
    assert "broken.docx" in summary["files_failed"][0]["error"]
    size = sum(file.stat().st_size for file in corpus.iterdir())
    assert "ingest:" in ingest.stderr and f"{size}/{size}" in ingest.stderr  # progress in bytes of the files, on stderr

    found = run_cli("search", "Where was Alan Turing born?", "--library", "demo", "--model", BUNDLED_SMALL, "--json")
    assert found.returncode == EXIT_OK, found.stderr
    result = json.loads(found.stdout)
    assert result["query_dim"] == result["doc_dim"] == 64
    assert result["hits"][0]["document"] in {"doc1.md", "doc2.md"}
    assert {"score", "document", "chunk", "text"} <= set(result["hits"][0])

    libraries = json.loads(run_cli("libraries", "--json").stdout)
    assert libraries == [
        {
            "name": "demo",
            # English documents: no language recorded, the engine's default analyzer, which says which it is.
            "language": {"english": "en", "standard": "none"}[libraries[0]["models"][0]["analyzer"]],
            "language_name": {"english": "english", "standard": "none"}[libraries[0]["models"][0]["analyzer"]],
            "models": [
                {
                    "model": BUNDLED_SMALL,
                    "source": libraries[0]["models"][0]["source"],
                    "dim": 64,
                    "documents": 3,
                    "chunks": 3,
                    "chunking": libraries[0]["models"][0]["chunking"],
                    "analyzer": libraries[0]["models"][0]["analyzer"],
                    "variant": "",  # the model as published
                    "vector_index": {"kind": "FLAT", "build": {}, "search": {}, "exact": True},  # the default
                    "index_quality": None,  # never measured
                }
            ],
        }
    ]
    assert libraries[0]["models"][0]["analyzer"] in {"english", "standard"}
    assert run_cli("delete-library", "demo").returncode == EXIT_OK
    assert json.loads(run_cli("libraries", "--json").stdout) == []


def test_search_modes_keyword_and_hybrid_report_their_components(corpus, capsys):
    assert main(["ingest", str(corpus), "--library", "k", "--model", BUNDLED_SMALL, "--quiet"]) == EXIT_PARTIAL
    capsys.readouterr()
    base = ["--library", "k", "--model", BUNDLED_SMALL, "--json"]
    assert main(["search", "Maida Vale", "--mode", "keyword", *base]) == EXIT_OK
    keyword = json.loads(capsys.readouterr().out)
    assert keyword["mode"] == "keyword" and keyword["hits"][0]["document"] == "doc2.md"
    assert keyword["hits"][0]["keyword_score"] > 0 and keyword["hits"][0]["dense_score"] is None
    assert main(["search", "Where was Turing born", "--mode", "hybrid", *base]) == EXIT_OK
    hybrid = json.loads(capsys.readouterr().out)
    top = hybrid["hits"][0]
    assert hybrid["mode"] == "hybrid" and top["dense_score"] is not None and top["keyword_score"] is not None
    assert main(["search", "Where was Turing born", "--mode", "hybrid", "--weight", "1", *base]) == EXIT_OK
    weighted = json.loads(capsys.readouterr().out)
    assert main(["search", "Where was Turing born", *base]) == EXIT_OK
    dense = json.loads(capsys.readouterr().out)
    assert [h["chunk_id"] for h in weighted["hits"]] == [h["chunk_id"] for h in dense["hits"]]  # weight 1: dense only
    with pytest.raises(SystemExit):
        main(["search", "x", "--mode", "hybrid", "--weight", "1.5", *base])


def test_a_library_created_on_the_command_line_exists_at_once():
    assert run_cli("create-library", "Leere Bibliothek").returncode == EXIT_OK
    listed = json.loads(run_cli("libraries", "--json").stdout)
    assert listed == [{"name": "Leere Bibliothek", "language": "", "language_name": "", "models": []}]  # detected later


def test_models_json_lists_catalog_bundled_and_offline_availability():
    out = run_cli("models", "--json")
    assert out.returncode == EXIT_OK
    models = {m["name"]: m for m in json.loads(out.stdout)}
    assert models[BUNDLED_SMALL]["bundled"] and models[BUNDLED_SMALL]["available_offline"]
    assert models[BUNDLED_SMALL]["dim"] == 64
    assert models["potion-base-8M"]["source"] == "minishlab/potion-base-8M"
    assert not models["potion-base-8M"]["bundled"] and not models["potion-base-8M"]["available_offline"]
    assert all({"name", "source", "dim", "bundled", "available_offline"} <= set(m) for m in models.values())


def test_milvus_uri_selects_the_database(corpus, tmp_path):
    other = tmp_path / "elsewhere.db"
    env = {"MILVUS_URI": str(other)}
    out = run_cli(
        "ingest", str(corpus / "doc0.md"), "--library", "x", "--model", BUNDLED_SMALL, "--json", env_extra=env
    )
    assert out.returncode == EXIT_OK, out.stderr
    assert other.exists()
    assert [lib["name"] for lib in json.loads(run_cli("libraries", "--json", env_extra=env).stdout)] == ["x"]
    assert json.loads(run_cli("libraries", "--json").stdout) == []  # the default database is untouched


def test_errors_exit_non_zero_with_one_line(capsys):
    code = main(["search", "anything", "--library", "missing", "--model", BUNDLED_SMALL])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_ERROR
    assert err.startswith("error: ") and "\n" not in err and "missing" in err


def test_unknown_model_is_a_one_line_error(capsys, corpus):
    code = main(["ingest", str(corpus), "--library", "x", "--model", "no-such-model", "--quiet"])
    assert code == EXIT_ERROR
    assert "no-such-model" in capsys.readouterr().err


def test_bad_usage_exits_2():
    with pytest.raises(SystemExit) as exc:
        main(["search"])
    assert exc.value.code == 2


def test_human_output_lists_hits(capsys, corpus):
    assert main(["ingest", str(corpus / "doc0.md"), "--library", "h", "--model", BUNDLED_SMALL, "--quiet"]) == EXIT_OK
    capsys.readouterr()
    assert main(["search", "artificial intelligence", "--library", "h", "--model", BUNDLED_SMALL]) == EXIT_OK
    out = capsys.readouterr().out
    assert "dense search  query 64d" in out and "doc0.md #0" in out


def no_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make loading any embedding model fail loudly, wherever it is imported from."""
    import core.embed.loading

    def refuse(*args, **kwargs):
        raise AssertionError("a keyword search loaded a model")

    monkeypatch.setattr(core.embed.loading, "load_embedder", refuse)


def test_a_keyword_search_on_the_command_line_loads_no_model(corpus, capsys, monkeypatch):
    assert main(["ingest", str(corpus), "--library", "k", "--model", BUNDLED_SMALL, "--quiet"]) == EXIT_PARTIAL
    capsys.readouterr()
    no_model_loads(monkeypatch)
    base = ["--library", "k", "--model", BUNDLED_SMALL, "--json"]
    assert main(["search", "Maida Vale", "--mode", "keyword", *base]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["hits"][0]["document"] == "doc2.md"
    with pytest.raises(AssertionError, match="loaded a model"):  # a dense search does need it
        main(["search", "Maida Vale", *base])


def index_with_two_models(corpus: Path, library: str) -> None:
    from tests.conftest import BUNDLED_LARGE

    for model in (BUNDLED_SMALL, BUNDLED_LARGE):
        assert main(["ingest", str(corpus), "--library", library, "--model", model, "--quiet"]) == EXIT_PARTIAL


def documents_of(library: str, model: str, capsys) -> list[str]:
    capsys.readouterr()
    assert main(["documents", "--library", library, "--model", model, "--json"]) == EXIT_OK
    return [d["document"] for d in json.loads(capsys.readouterr().out)]


def test_delete_document_without_a_model_removes_it_from_every_index_of_the_library(corpus, capsys):
    from tests.conftest import BUNDLED_LARGE

    index_with_two_models(corpus, "two")
    capsys.readouterr()
    assert main(["delete-document", "doc1.md", "--library", "two", "--json"]) == EXIT_OK
    assert sorted(json.loads(capsys.readouterr().out)["models"]) == sorted([BUNDLED_SMALL, BUNDLED_LARGE])
    for model in (BUNDLED_SMALL, BUNDLED_LARGE):
        assert documents_of("two", model, capsys) == ["doc0.md", "doc2.md"]


def test_delete_document_with_a_model_removes_it_from_that_index_only(corpus, capsys):
    from tests.conftest import BUNDLED_LARGE

    index_with_two_models(corpus, "two")
    capsys.readouterr()
    assert main(["delete-document", "doc1.md", "--library", "two", "--model", BUNDLED_SMALL, "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["models"] == [BUNDLED_SMALL]
    assert documents_of("two", BUNDLED_SMALL, capsys) == ["doc0.md", "doc2.md"]
    assert documents_of("two", BUNDLED_LARGE, capsys) == ["doc0.md", "doc1.md", "doc2.md"]
    # a model with no index of the library is an error, not a silent no-op
    assert main(["delete-document", "doc0.md", "--library", "two", "--model", "potion-base-8M"]) == EXIT_ERROR
    assert "no index for potion-base-8M" in capsys.readouterr().err
    assert documents_of("two", BUNDLED_LARGE, capsys) == ["doc0.md", "doc1.md", "doc2.md"]


def test_ingest_keeps_the_librarys_chunking_as_the_app_does(corpus, capsys):
    first = ["ingest", str(corpus / "doc0.md"), "--library", "c", "--quiet"]
    chars = ["--chunk-size", "40", "--chunk-overlap", "0", "--chunk-unit", "chars"]
    assert main([*first, "--model", BUNDLED_SMALL, *chars]) == EXIT_OK
    capsys.readouterr()
    # Another model joins the library: with no option it cuts the text as the library does
    assert main([*first, "--model", "minilm-static-256", "--json"]) == EXIT_OK
    capsys.readouterr()
    assert main(["libraries", "--json"]) == EXIT_OK
    chunkings = [m["chunking"] for m in json.loads(capsys.readouterr().out)[0]["models"]]
    assert chunkings == [{"size": 40, "overlap": 0, "unit": "chars"}] * 2
    # and other settings are refused with the library's own, not mixed in
    assert main([*first, "--model", BUNDLED_SMALL, "--chunk-size", "64"]) == EXIT_ERROR
    assert "fixed by its first index" in capsys.readouterr().err


def test_search_explain_says_why_each_hit_matched_as_the_search_page_does(corpus, capsys):
    from core.evaluate.judgments import RELEVANT, judge
    from core.storage import open_store

    assert main(["ingest", str(corpus), "--library", "w", "--model", BUNDLED_SMALL, "--quiet"]) == EXIT_PARTIAL
    store = open_store()
    judge(store, "w", "Where was Turing born", "doc2.md", RELEVANT)
    analyzer = store.catalog.require("w", BUNDLED_SMALL).analyzer
    store.close()
    capsys.readouterr()
    base = ["--library", "w", "--model", BUNDLED_SMALL, "--explain"]
    assert main(["search", "Where was Turing born", "--mode", "hybrid", *base, "--json"]) == EXIT_OK
    hits = {h["document"]: h for h in json.loads(capsys.readouterr().out)["hits"]}
    why = hits["doc2.md"]["why"]
    assert why["verdict"] == RELEVANT and "verdict" not in hits["doc0.md"]["why"]
    assert "turing" in {w["word"].lower() for w in why["words"]}  # the dense share of the word
    terms = [t["term"] for t in why["terms"]]
    assert "born" in terms and any(term.startswith("tur") for term in terms)  # stemmed by "english", not by "standard"
    if analyzer == "english":
        assert len(terms) == 2  # "where" and "was" are its stop words: no share
    assert sum(t["share"] for t in why["terms"]) == pytest.approx(1.0, abs=1e-3)
    assert main(["search", "Maida Vale", "--mode", "keyword", *base]) == EXIT_OK  # no model loaded for it
    out = capsys.readouterr().out
    assert "doc2.md #0" in out and "terms: maida" in out and "words:" not in out


def test_a_stop_inside_a_closing_progress_bar_still_leaves_the_error_on_a_line_of_its_own(monkeypatch, capsys):
    """A signal raised inside tqdm's close, after it marked itself closed and before its newline, used to leave the
    one error line glued to the end of the progress bar."""
    import tqdm

    from core.cli import ProgressBar
    from core.lifetime import Stopped

    real_close = tqdm.tqdm.close

    def stopped_mid_close(self):
        if self.disable:
            return  # as tqdm does: a second close is a no-op
        self.disable = True  # what tqdm does first; the signal lands before its newline
        raise Stopped(15)

    bar = ProgressBar()
    bar("index", 3, 10)
    monkeypatch.setattr(tqdm.tqdm, "close", stopped_mid_close)
    with pytest.raises(Stopped):
        bar("flush", 0, 1)  # a new stage closes the last one
    bar.close()  # the command's `finally`
    monkeypatch.setattr(tqdm.tqdm, "close", real_close)
    print("error: stopped by SIGTERM", file=sys.stderr)
    lines = capsys.readouterr().err.replace("\r", "\n").splitlines()
    assert "error: stopped by SIGTERM" in lines


def test_output_piped_to_a_reader_that_stops_early_ends_quietly(tmp_path):
    """`python -m core models | head -1`: the reader closes the pipe, and the command ends without a traceback."""
    command = [sys.executable, "-m", "core", "models"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as cli:
        cli.stdout.close()  # the reader is gone before the command writes anything
        err = cli.stderr.read()
    assert cli.returncode == 0 and "Traceback" not in err and "BrokenPipe" not in err, err
