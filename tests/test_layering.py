"""The layering rules, read from the code's syntax trees (ast), so a violation fails here rather than in a review:
core/ never imports streamlit; only core/storage/ imports the engine's packages (pymilvus, milvus_lite); nothing
of ours uses Streamlit's private API (streamlit.runtime, PagesManager), tests included."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINE_PACKAGES = ("pymilvus", "milvus_lite")
PRIVATE_STREAMLIT = ("streamlit.runtime",)
PRIVATE_NAMES = {"PagesManager", "pages_manager"}


def python_files(*places: str) -> list[Path]:
    found = []
    for place in places:
        path = ROOT / place
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    assert found, f"nothing to scan under {places}"
    return found


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every module an import statement names, wherever it stands (top level, inside a function, behind an if)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # `from streamlit import runtime` names streamlit.runtime too
                yield node.lineno, f"{node.module}.{alias.name}"


def dotted(node: ast.AST) -> str | None:
    """`a.b.c` for an attribute chain over a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def is_package(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def where(path: Path, line: int, what: str) -> str:
    shown = path.relative_to(ROOT) if ROOT in path.parents else Path(path.name)
    return f"{shown.as_posix()}:{line} {what}"


def streamlit_imports_in_core(files: list[Path]) -> list[str]:
    return [
        where(path, line, module)
        for path in files
        for line, module in imported_modules(ast.parse(path.read_text(encoding="utf-8")))
        if is_package(module, ("streamlit",))
    ]


def engine_imports_outside_storage(files: list[Path]) -> list[str]:
    storage = ROOT / "core" / "storage"
    return [
        where(path, line, module)
        for path in files
        if storage not in path.parents
        for line, module in imported_modules(ast.parse(path.read_text(encoding="utf-8")))
        if is_package(module, ENGINE_PACKAGES)
    ]


def private_streamlit_uses(files: list[Path]) -> list[str]:
    found = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [where(path, line, m) for line, m in imported_modules(tree) if is_package(m, PRIVATE_STREAMLIT)]
        for node in ast.walk(tree):
            name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
            if name in PRIVATE_NAMES:
                found.append(where(path, node.lineno, name))
            chain = dotted(node) if isinstance(node, ast.Attribute) else None
            if chain and chain.split(".")[:2] in (["st", "runtime"], ["streamlit", "runtime"]):
                found.append(where(path, node.lineno, "streamlit.runtime"))
    return sorted(set(found))


def test_core_never_imports_streamlit():
    assert streamlit_imports_in_core(python_files("core")) == []


def test_only_core_storage_imports_the_engines_packages():
    """pymilvus and milvus_lite are imported in core/storage/ alone; pages and app.py reach Milvus through core.
    (tests/ and bench/ import them for raw baselines and engine checks, which is their job.)"""
    assert engine_imports_outside_storage(python_files("core", "pages", "app.py")) == []


def test_no_private_streamlit_api_in_the_product_or_the_tests():
    assert private_streamlit_uses(python_files("pages", "core", "app.py", "tests")) == []


def test_each_scanner_sees_the_violation_it_is_for_wherever_the_import_stands(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f():\n"
        "    import streamlit as st\n"
        "    from pymilvus import MilvusClient\n"
        "    if st:\n"
        "        import milvus_lite\n"
        "    from streamlit import runtime\n"
        "    return st.runtime.exists(), PagesManager\n",
        encoding="utf-8",
    )
    assert streamlit_imports_in_core([bad]) == [
        "bad.py:2 streamlit",
        "bad.py:6 streamlit",
        "bad.py:6 streamlit.runtime",
    ]
    assert engine_imports_outside_storage([bad]) == [
        "bad.py:3 pymilvus",
        "bad.py:3 pymilvus.MilvusClient",
        "bad.py:5 milvus_lite",
    ]
    assert private_streamlit_uses([bad]) == [
        "bad.py:6 streamlit.runtime",
        "bad.py:7 PagesManager",
        "bad.py:7 streamlit.runtime",
    ]
