"""`python -m core query-sets list|add|run|delete`, as a user runs it: a subprocess with JSON on stdout."""

from __future__ import annotations

import json

from core.cli import EXIT_ERROR, EXIT_OK
from tests.conftest import BUNDLED_SMALL
from tests.test_cli import run_cli

DOCS = {
    "turing.txt": "Alan Turing was born in Maida Vale, London, and raised in southern England.",
    "ai.txt": "Artificial intelligence was founded as an academic discipline in 1956.",
    "bread.txt": "Bake the bread with flour and water, then let the dough rest.",
}


def ok(*args: str, env_extra: dict | None = None):
    done = run_cli(*args, env_extra=env_extra)
    assert done.returncode == EXIT_OK, done.stderr
    return json.loads(done.stdout) if "--json" in args else done.stdout


def refused(*args: str, env_extra: dict | None = None) -> str:
    done = run_cli(*args, env_extra=env_extra)
    assert done.returncode == EXIT_ERROR and not done.stdout, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr  # one sentence, no traceback
    return lines[0]


def test_query_sets_are_added_listed_run_and_deleted_from_the_command_line(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    ok("ingest", str(docs), "--library", "L", "--model", BUNDLED_SMALL, "--quiet")
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"_id": "t1", "text": "Where was Alan Turing born?"}\n{"_id": "b1", "text": "bake bread"}\n')
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": "1", "text": "fine"}\n{"_id": "2", "text": }\n')
    judgments = tmp_path / "judgments.jsonl"
    judgments.write_text(json.dumps({"query": "bake bread", "document": "bread.txt", "relevance": 1}) + "\n")

    added = ok("query-sets", "add", "Mine", "--library", "L", "--file", str(queries), "--json")
    assert added == {"library": "L", "name": "Mine", "queries": 2, "source": "queries.jsonl"}
    assert f"{bad} line 2 is not JSON" in refused("query-sets", "add", "Bad", "--library", "L", "--file", str(bad))
    assert "already has a query set named 'Mine'" in refused(
        "query-sets", "add", "Mine", "--library", "L", "--file", str(queries)
    )
    ok("import-judgments", str(judgments), "--library", "L")
    judged = ok("query-sets", "add", "Judged", "--library", "L", "--from-judgments", "--json")
    assert judged["queries"] == 1 and judged["source"] == "judgments"

    run = ok(
        "query-sets", "run", "Mine", "--library", "L", "--model", BUNDLED_SMALL, "--mode", "dense,keyword",
        "--top-k", "2", "--json", "--quiet",
    )  # fmt: skip
    labels = [f"{BUNDLED_SMALL} dense", f"{BUNDLED_SMALL} keyword"]
    assert [c["label"] for c in run["columns"]] == labels
    assert [(q["id"], q["query"]) for q in run["queries"]] == [
        ("t1", "Where was Alan Turing born?"),
        ("b1", "bake bread"),
    ]
    for q in run["queries"]:
        assert set(q["hits"]) == set(labels) and len(q["hits"][labels[0]]) == 2
        assert 1 <= len(q["hits"][labels[1]]) <= 2  # BM25 returns only documents holding a query term
        shown = {h["document"] for hits in q["hits"].values() for h in hits}
        unjudged = {h["document"] for hits in q["hits"].values() for h in hits if h["verdict"] is None}
        assert q["unjudged"] == len(unjudged) and 0 <= len(unjudged) <= len(shown)
        assert [(p["a"], p["b"]) for p in q["agreement"]] == [tuple(labels)]
    bread = run["queries"][1]["hits"][f"{BUNDLED_SMALL} keyword"][0]
    assert bread["document"] == "bread.txt" and bread["verdict"] == "relevant"  # the imported verdict, shown
    assert run["unjudged"] == sum(q["unjudged"] for q in run["queries"])
    assert "2 to 4 columns" in refused("query-sets", "run", "Mine", "--library", "L", "--model", BUNDLED_SMALL)

    read_only = {"POTION_READ_ONLY": "1"}
    assert "POTION_READ_ONLY" in refused("query-sets", "delete", "Mine", "--library", "L", env_extra=read_only)
    listed = ok("query-sets", "list", "--library", "L", "--json", env_extra=read_only)  # listing is reading
    assert [(s["name"], s["queries"]) for s in listed] == [("Judged", 1), ("Mine", 2)]
    assert ok("query-sets", "delete", "Mine", "--library", "L", "--json") == {
        "library": "L",
        "name": "Mine",
        "queries": 2,
    }
    assert [s["name"] for s in ok("query-sets", "list", "--library", "L", "--json")] == ["Judged"]
    audit = ok("audit", "--json")["entries"]
    assert [e["action"] for e in audit][:3] == ["delete query set", "create query set", "import judgments"]
