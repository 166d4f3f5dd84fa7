"""User text (library, document and run names, document words, error messages) reaches every page as inert text:
no HTML, script, link, emphasis, LaTeX or colour directive forms from it."""

from __future__ import annotations

from core.embed.loading import load_embedder
from core.search.query import search
from core.service.runs import import_runs
from pages.shared import inert
from tests.apptest_helpers import SEARCH_SUBMIT, new_app, no_exception, open_page, pick_model
from tests.conftest import BUNDLED_LARGE, BUNDLED_SMALL, index_texts
from tests.test_saved_runs import made_run

LIBRARY = "<b>Lib</b> [x](javascript:alert(1)) **$x$**"
DOCUMENT = "**bold** <img src=x onerror=alert(1)> [click](javascript:alert(1)) :red[red].txt"
TEXT = (
    "# Heading <script>alert('x')</script> **strong** [click](javascript:alert(1)) :red[colour] $e=mc^2$ "
    "The wing stalls at a high angle of attack and lift falls away."
)
RAW = ["[click](", "[x](", "<img", "<script", "<b>", "**bold**", "**strong**", ":red[", "$e=mc", "$x$"]
MARKDOWN_KINDS = ["markdown", "caption", "info", "warning", "error", "success", "title", "header", "subheader", "toast"]
PAGES = [
    "pages/home.py",
    "pages/library.py",
    "pages/search.py",
    "pages/compare.py",
    "pages/map.py",
    "pages/judgments.py",
    "pages/costs.py",
    "pages/runs.py",
]


def rendered(at) -> list[tuple[str, list[str]]]:
    """The source of every element Streamlit renders as markdown, and every raw HTML block (where markdown
    syntax is plain text, but a tag would run), each with the fragments that must not be in it."""
    bodies = [(str(e.value), RAW) for kind in MARKDOWN_KINDS for e in at.get(kind)]
    return bodies + [(str(e.proto.body), [raw for raw in RAW if raw.startswith("<")]) for e in at.get("html")]


def test_names_and_text_show_as_text_on_every_page(app_store, tmp_path, monkeypatch):
    for model in (BUNDLED_LARGE, BUNDLED_SMALL):
        index_texts(app_store, tmp_path / model, LIBRARY, model, {DOCUMENT: TEXT})
    import_runs(app_store, [made_run(DOCUMENT, {"q1": 1.0})])  # a saved run named like the document
    at = new_app().run()
    at.sidebar.selectbox(key="library_choice").set_value(LIBRARY).run()
    pick_model(at, BUNDLED_LARGE)
    seen_library = False
    for page in PAGES:
        open_page(at, page)
        if page == "pages/search.py":
            at.main.text_input(key="search_query").input("wing stall")
            at.main.button(key=SEARCH_SUBMIT).click().run()
            no_exception(at)
            assert search("wing stall", LIBRARY, load_embedder(BUNDLED_LARGE), app_store, 5).hits
            assert at.get("html"), "the hit's text was shown"
        for body, forbidden in rendered(at):
            leaked = [raw for raw in forbidden if raw in body]
            assert not leaked, (page, leaked, body)
        seen_library |= any(inert(LIBRARY) in body for body, _ in rendered(at))
    assert seen_library  # the library's name was on the pages, escaped
