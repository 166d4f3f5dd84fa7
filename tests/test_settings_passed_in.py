"""Settings are read once at an edge (the CLI's main, the app's frame) and passed in; core never reads them itself."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import traceback
from dataclasses import replace
from pathlib import Path

import core.cli
from core.config import load_settings
from core.ingest.pipeline import default_chunking, read_sources
from core.read.documents import FailureKind, ReadLimits, read_bytes
from tests.conftest import BUNDLED_DEFAULT, BUNDLED_LARGE, BUNDLED_SMALL, index_texts

ROOT = Path(__file__).resolve().parents[1]


def product_files() -> list[Path]:
    return [*sorted((ROOT / "core").rglob("*.py")), *sorted((ROOT / "pages").glob("*.py")), ROOT / "app.py"]


def where(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if ROOT in path.parents else path.name


def test_only_the_edges_read_the_environment():
    """load_settings() is called by the CLI's main, the app's frame (pages/shared.py) and config's fallback only,
    and os.environ is read in config.py alone, but for connection.py, which hides MILVUS_URI from pymilvus' import
    (it would take a Lite path there for a server's address) and quiets grpc before it loads."""
    texts = {where(path): path.read_text(encoding="utf-8") for path in product_files()}
    readers = {name for name, text in texts.items() if re.search(r"\bload_settings\(\)", text)}
    assert readers == {"core/config.py", "core/cli.py", "pages/shared.py"}
    environ = {name for name, text in texts.items() if re.search(r"\bos\.(environ|getenv)\b|\bgetenv\(", text)}
    assert environ == {"core/config.py", "core/storage/connection.py"}


# A caller that passes no settings gets the environment's (config.settings_or_environment) only at these public
# entry points, which scripts, bench/, the pymilvus drop-in and the tests call as a library with no edge of their
# own; the CLI and the app pass theirs to each. Every other function of core takes its settings as given.
FALLBACKS = {
    "core/access.py": {"os_actor"},  # whoever runs a script, when no actor is passed
    "core/storage/milvus.py": {"__init__"},  # MilvusStore(): a store on the environment's database
    "core/ingest/pipeline.py": {"read_sources", "ingest", "ingest_documents", "default_chunking", "ingest_with_models"},
    "core/read/documents.py": {"of", "for_paths"},  # ReadLimits.of(None), .for_paths(None): read_bytes, read_path
    "core/adapt/library.py": {"adapt_library"},
    "core/embed/loading.py": {"resolve_model", "model_directory", "load_embedder"},
}


def fallback_sites() -> dict[str, set[str]]:
    """The functions of core that call settings_or_environment, by file."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "core").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            calls = [
                node
                for node in ast.walk(function)
                if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "settings_or_environment"
            ]
            if calls and function.name != "settings_or_environment":
                found.setdefault(where(path), set()).add(function.name)
    return found


def test_core_falls_back_to_the_environment_only_at_its_public_entry_points():
    assert fallback_sites() == FALLBACKS


def core_functions_taking_settings(tree: ast.AST) -> dict[str, inspect.Signature]:
    """Every name a page imports from core (at the top or inside a function) that is a function with a
    `settings` parameter, with its signature."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("core"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if inspect.isfunction(value) and "settings" in inspect.signature(value).parameters:
                    found[alias.asname or alias.name] = inspect.signature(value)
    return found


def calls_without_settings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    taking = core_functions_taking_settings(tree)
    missing = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in taking):
            continue
        position = list(taking[node.func.id].parameters).index("settings")
        passed = any(k.arg in ("settings", None) for k in node.keywords) or len(node.args) > position
        if not passed:
            missing.append(f"{where(path)}:{node.lineno} {node.func.id}")
    return missing


def test_pages_pass_the_frames_settings_to_every_core_function_that_takes_them():
    """A core function called from a page with no settings would read the environment itself: each call passes
    the frame's (shared.settings()), so the app reads the environment once per run, in its frame."""
    files = [*sorted((ROOT / "pages").glob("*.py")), ROOT / "app.py"]
    assert [hit for path in files for hit in calls_without_settings(path)] == []


def test_a_page_call_without_settings_is_found(tmp_path):
    page = ROOT / "pages" / "search.py"  # a real page's imports, with calls of our own below them
    bad = tmp_path / "page.py"
    bad.write_text(
        "from core.embed.loading import resolve_model, load_embedder\n"
        "from core.ingest.pipeline import default_chunking\n"
        "resolve_model('m')\n"
        "load_embedder('m', False, s)\n"  # positional: passed
        "lambda: default_chunking()\n"
        "default_chunking(settings=s)\n",
        encoding="utf-8",
    )
    assert calls_without_settings(page) == []
    assert calls_without_settings(bad) == ["page.py:3 resolve_model", "page.py:5 default_chunking"]


def test_settings_passed_in_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("POTION_CHUNK_SIZE", "64")
    passed = replace(load_settings(), chunk_size=300, max_upload_mb=0.001)  # about 1 KB per upload
    assert default_chunking().size == 64  # no settings: the environment's
    assert default_chunking(passed).size == 300
    read = read_sources([("a.txt", b"x" * 800), ("b.txt", b"y" * 800)], settings=passed)
    assert [d.name for d in read.documents] == ["a.txt"]
    assert read.failures[0].name == "b.txt" and "1 KB" in read.failures[0].message


def test_read_limits_are_values_not_the_environment(monkeypatch):
    monkeypatch.setenv("POTION_MAX_FILE_MB", "50")
    tight = replace(ReadLimits.of(None), max_file_bytes=100)
    assert read_bytes("a.txt", b"x" * 200, limits=tight).failures[0].kind is FailureKind.TOO_LARGE
    assert read_bytes("a.txt", b"x" * 200).documents  # the environment's 50 MB


def test_the_cli_reads_the_environment_once_per_command(monkeypatch, tmp_path, capsys):
    """Each command reads the settings in main and nowhere else: a second read anywhere below would fail."""
    calls = []

    def counted():
        calls.append(1)
        return load_settings()

    def refused():
        raise AssertionError("the settings were read again below the CLI's main")

    monkeypatch.setattr(core.cli, "load_settings", counted)
    monkeypatch.setattr("core.config.load_settings", refused)
    (tmp_path / "a.txt").write_text("Alan Turing was born in Maida Vale, London.", encoding="utf-8")
    commands = [
        ["models"],
        ["ingest", str(tmp_path / "a.txt"), "--library", "L", "--model", BUNDLED_SMALL, "--quiet"],
        ["search", "turing", "--library", "L", "--model", BUNDLED_SMALL],
        ["libraries"],
    ]
    for command in commands:
        assert core.cli.main([*command, "--json"]) == core.cli.EXIT_OK, capsys.readouterr().err
    assert len(calls) == len(commands)


def test_the_app_reads_the_environment_in_its_frame_only(app_store, tmp_path, monkeypatch):
    """Every page, a search, Compare's indexing job and an Evaluate run, with config's reader watched: the frame's
    shared.frame_settings (which holds its own reference to it) is the one read, and every page and the core
    functions they call get those settings passed in."""
    from tests.apptest_helpers import COMPARE, SEARCH, SEARCH_SUBMIT, by_label, join_all_jobs, new_app, open_page
    from tests.test_cli_evaluate import write_tiny_collection
    from tests.test_evaluate_page import PAGE as EVALUATE
    from tests.test_evaluate_page import fill_in

    index_texts(
        app_store, tmp_path / "docs", "Papers", BUNDLED_DEFAULT, {"turing.txt": "Alan Turing was born in London."}
    )
    folder = write_tiny_collection(tmp_path / "tiny")
    reads: set[str] = set()

    def recorded():
        """Where the read came from (our frames only), then the settings, so one run names every such place."""
        ours = [f for f in traceback.extract_stack()[:-1] if str(ROOT) in f.filename and "/tests/" not in f.filename]
        reads.add(" <- ".join(f"{Path(f.filename).relative_to(ROOT)}:{f.lineno} {f.name}" for f in reversed(ours)))
        return load_settings()

    monkeypatch.setattr("core.config.load_settings", recorded)
    at = new_app().run()
    for page in sorted((ROOT / "pages").glob("*.py")):
        if page.stem not in ("shared", "keys", "controls", "account", "cost_chart", "run_chart", "verdicts"):  # helpers
            open_page(at, page)
    open_page(at, SEARCH)
    at.main.text_input(key="search_query").input("Where was Turing born?")
    at.main.button(key=SEARCH_SUBMIT).click().run()
    open_page(at, COMPARE)
    by_label(at.main.button, f"Index Papers with {BUNDLED_LARGE}").click().run()
    join_all_jobs()
    open_page(at, EVALUATE)
    fill_in(at, str(folder))
    by_label(at.main.button, "Evaluate").click().run()
    join_all_jobs()
    at.run()
    open_page(at, "pages/runs.py")  # again, now that the evaluation is kept as runs: its details and exports
    assert not reads, "\n".join(sorted(reads))
    assert not at.exception, [e.value for e in at.exception]
    assert app_store.catalog.find("Papers", BUNDLED_LARGE) is not None  # Compare's job ran to its end
