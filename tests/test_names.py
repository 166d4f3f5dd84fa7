"""A folder whose file names carry accents, scripts, emoji and filter syntax: index, change, find, filter, delete."""

from __future__ import annotations

import json
from pathlib import Path

from core.cli import EXIT_OK, main
from tests.conftest import BUNDLED_SMALL

NAMES = {
    "Résumé café.txt": "The café serves a résumé of French pastry and coffee.",
    "Привет мир.txt": "Hypersonic flow over a wedge forms an oblique shock wave.",
    "日本語のメモ.txt": "Boundary layer transition depends on the Reynolds number.",
    "party 🎉 notes.md": "Bring cheese, bread and soup to the kitchen party.",
    'say "hi" \\ there.txt': "Alan Turing was born in Maida Vale, London.",
    "two\nlines.txt": "Artificial intelligence was founded as an academic discipline in 1956.",
    'x" or document != ".txt': "Expression syntax in a name must stay a name.",
}


def run(capsys, *args: str) -> dict | list:
    assert main([*args, "--json"]) == EXIT_OK, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_unusual_file_names_are_indexed_found_filtered_changed_and_deleted(tmp_path: Path, capsys):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in NAMES.items():
        (folder / name).write_text(text, encoding="utf-8")
    lib = ["--library", "Bibliothèque 📚", "--model", BUNDLED_SMALL]
    first = run(capsys, "ingest", str(folder), *lib, "--quiet")
    assert first["documents_indexed"] == len(NAMES) and first["chunks_total"] == len(NAMES)
    assert sorted(d["document"] for d in run(capsys, "documents", *lib)) == sorted(NAMES)

    for name in NAMES:
        only = run(capsys, "search", "anything at all about flow or food", *lib, "--document", name, "--top-k", "5")
        assert [h["document"] for h in only["hits"]] == [name], name
    keyword = run(capsys, "search", "Maida Vale", *lib, "--mode", "keyword")
    assert keyword["hits"][0]["document"] == 'say "hi" \\ there.txt'

    (folder / "Résumé café.txt").write_text("Now it is about wind tunnels and shock waves.", encoding="utf-8")
    again = run(capsys, "ingest", str(folder), *lib, "--quiet")
    assert (again["documents_indexed"], again["documents_unchanged"], again["chunks_total"]) == (1, len(NAMES) - 1, 7)
    (changed,) = run(capsys, "search", "wind tunnels", *lib, "--document", "Résumé café.txt")["hits"]
    assert "wind tunnels" in changed["text"]

    for name in NAMES:
        run(capsys, "delete-document", name, *lib)
    assert run(capsys, "documents", *lib) == []
    assert run(capsys, "libraries")[0]["models"][0]["chunks"] == 0
