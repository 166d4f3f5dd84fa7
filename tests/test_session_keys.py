"""Session keys are constants of pages/keys.py: a page or the frame that reads or writes st.session_state names its
key from there, never as a literal, so two pages cannot drift apart on one key's spelling. (A widget's own `key=`,
only passed to the widget, stays beside it, as keys.py says.)"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ACCESSORS = {"get", "pop", "setdefault", "__getitem__", "__setitem__", "__delitem__", "__contains__"}


def is_session_state(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "session_state"


def is_literal(node: ast.AST) -> bool:
    """A string written out, an f-string included (keys with a part filled in are format strings in keys.py)."""
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def literal_session_keys(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        key = None
        if isinstance(node, ast.Subscript) and is_session_state(node.value):  # session_state["k"] (read, write, del)
            key = node.slice
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            if node.func.attr in ACCESSORS and is_session_state(node.func.value):  # session_state.get("k")
                key = node.args[0]
        elif isinstance(node, ast.Compare) and any(is_session_state(c) for c in node.comparators):  # "k" in ...
            key = node.left
        if key is not None and is_literal(key):
            found.append(f"{path.name}:{node.lineno} {ast.unparse(key)}")
    return found


def test_no_page_names_a_session_key_as_a_literal():
    files = [*sorted((ROOT / "pages").glob("*.py")), ROOT / "app.py"]
    assert [hit for path in files for hit in literal_session_keys(path)] == []


def test_a_literal_session_key_is_found_however_it_is_used(tmp_path):
    page = tmp_path / "page.py"
    page.write_text(
        "import streamlit as st\n"
        "from pages import keys\n"
        "st.session_state['a'] = 1\n"
        "st.session_state.get('b')\n"
        "if 'c' in st.session_state:\n"
        "    del st.session_state[f'd{1}']\n"
        "st.session_state[keys.MODEL] = st.session_state.get(keys.LIBRARY)\n",
        encoding="utf-8",
    )
    assert literal_session_keys(page) == ["page.py:3 'a'", "page.py:4 'b'", "page.py:5 'c'", "page.py:6 f'd{1}'"]
