"""What every page shares: cached resources and the session's current choices (not a page itself)."""

from __future__ import annotations

import re

import streamlit as st

from core.config import Settings, load_settings
from core.embed.embedder import Embedder
from core.embed.loading import ModelListing, list_models, load_embedder, offline_model_names
from core.errors import PotionError
from core.search.keyword_explain import CorpusStats, corpus_stats
from core.service.jobs import JobRunner, library_job_key
from core.storage import Store, open_store

MODEL_KEY = "model"
LIBRARY_KEY = "library"
SETTINGS_KEY = "settings"


def frame_settings() -> Settings:
    """Read the environment once for this run (the frame, app.py, calls it first) and keep it for the pages."""
    st.session_state[SETTINGS_KEY] = load_settings()
    return st.session_state[SETTINGS_KEY]


def settings() -> Settings:
    """This run's settings, as the frame read them; a page run without the frame reads them itself."""
    kept = st.session_state.get(SETTINGS_KEY)
    return kept if kept is not None else frame_settings()


@st.cache_resource(show_spinner="Opening the database…")
def store() -> Store:
    opened = open_store()
    opened.warm_up()  # collections load in the background while the first page renders
    return opened


@st.cache_resource(show_spinner="Loading the model…")
def embedder(name: str, download: bool = False) -> Embedder:
    """The model, loaded once; a hub model not cached is fetched only with `download` (the sidebar's Load button)."""
    return load_embedder(name, download=download)


@st.cache_data(ttl=30, show_spinner=False)
def model_listings() -> list[ModelListing]:
    """Bundled, catalog and cached models; scanning the HF cache on every rerun of every page adds up."""
    return list_models()


def offline_models() -> list[str]:
    """Models that load with no network, the sidebar's variant included."""
    return offline_model_names(model_listings(), current_model())


@st.cache_resource(show_spinner="Counting the library's words…", max_entries=16)
def _keyword_stats(_store: Store, library: str, model_name: str, analyzer: str, version: tuple) -> CorpusStats:
    return corpus_stats((row["text"] for row in _store.index(library, model_name).chunk_rows()), analyzer)


def keyword_stats(store: Store, library: str, model_name: str, analyzer: str) -> CorpusStats:
    """BM25 statistics of the index, counted once per library, model and set of stored documents."""
    # The documents' hashes change whenever a document is added, replaced or deleted, and not otherwise.
    version = tuple((d.name, d.doc_hash) for d in store.index(library, model_name).documents())
    return _keyword_stats(store, library, model_name, analyzer, version)


@st.cache_resource
def jobs() -> JobRunner:
    return JobRunner()


def shared_store() -> Store:
    """The shared store, or a one-line error and a stopped page."""
    try:
        return store()
    except PotionError as exc:
        st.error(inert(exc))
        st.stop()


def try_embedder(name: str, download: bool = False) -> Embedder | None:
    try:
        return embedder(name, download)
    except PotionError as exc:
        st.error(inert(exc))
        return None


def ensure_frame() -> None:
    """Send a page run outside app.py through the frame.

    A folder named pages/ puts Streamlit in its legacy multipage mode until app.py first calls
    st.navigation, so a deep link that is a fresh server's first request runs the page alone, without
    the sidebar. The flag is Streamlit's own (private) record of that mode."""
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "uses_pages_directory", False):
        st.switch_page("app.py")


def offline_or_stop(name: str) -> None:
    """Stop the page with a pointer to the sidebar when the model would have to be downloaded."""
    from core.embed.loading import is_available_offline, resolve_model

    try:
        ready = is_available_offline(resolve_model(name))
    except PotionError as exc:
        st.error(inert(exc))
        st.stop()
    if not ready:
        st.info(
            f"{inert(name)} is not downloaded yet: load it from the sidebar (needs the hub) or pick a bundled model."
        )
        st.stop()


def job_progress(library: str) -> None:
    """The running job of the library with its stage, done/total and rate; reruns the page once it ends."""
    key_progress(library_job_key(library))


@st.fragment(run_every=0.5)
def key_progress(key: str) -> None:
    """The running job under `key` with its stage, done/total, rate and elapsed time; reruns the page once it ends."""
    state = jobs().get(key)
    if state is None:
        return
    if state.running:
        rate = state.rate()
        st.progress(
            state.fraction,
            text=f"**{inert(state.label)}** — {inert(state.stage)}: {state.done:,}/{state.total:,}"
            + (f" · {rate:,.0f}/s" if rate else "")
            + f" · {state.elapsed():.0f} s",
        )
    else:
        st.rerun()  # unlock the controls and show the outcome


def current_model() -> str | None:
    return st.session_state.get(MODEL_KEY)


def current_library() -> str | None:
    return st.session_state.get(LIBRARY_KEY)


def need_library() -> str:
    """The current library, or an empty state that points to where one is made."""
    library = current_library()
    if not library:
        st.info("No library yet: create one in the sidebar (**Library → New library**), then add documents.")
        st.stop()
    return library


# What can start markup inside a line (emphasis, code, links and images, HTML, LaTeX, strike, tables), and what
# can at the start of one (a heading, a list item, a quote); "." "-" ":" and the rest are left as they read.
_MARKUP = re.compile(r"([\\`*\[\]<>$~|]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z]))")  # an inner _ (HF_HUB) is no emphasis
_LINE_MARK = re.compile(r"^(\s*)([#>+=-])")
_LIST_NUMBER = re.compile(r"^(\s*\d+)([.)])")


def inert(value: object) -> str:
    """Any text (a name, a message, words of a document) as Streamlit markdown shows it literally: the characters
    that could form emphasis, code, a link or image, HTML, LaTeX, a table or a directive (:red[...]) are
    backslash-escaped, as CommonMark allows, and so is a heading or list marker at the start; line breaks
    become spaces."""
    flat = _MARKUP.sub(r"\\\1", " ".join(str(value).splitlines()))
    return _LIST_NUMBER.sub(r"\1\\\2", _LINE_MARK.sub(r"\1\\\2", flat))


def highlighted_html(text: str, spans: list[tuple[int, int, float]]) -> str:
    """The chunk as escaped text with <mark>s over the spans; nothing in the text is rendered as markup."""
    import html

    parts, cursor = [], 0
    for start, end, weight in sorted(spans):
        if start < cursor:
            continue
        parts.append(html.escape(text[cursor:start]))
        alpha = 0.25 + 0.55 * max(0.0, min(1.0, weight))
        parts.append(
            f'<mark style="background: rgba(108, 74, 182, {alpha:.2f}); color: inherit; padding: 0 2px; '
            f'border-radius: 3px">{html.escape(text[start:end])}</mark>'
        )
        cursor = end
    parts.append(html.escape(text[cursor:]))
    return (
        '<div class="chunk-text" style="white-space: pre-wrap; font-family: ui-sans-serif, system-ui, sans-serif; '
        f'font-size: 0.95rem; line-height: 1.5">{"".join(parts)}</div>'
    )
