"""What every page shares: cached resources and the session's current choices (not a page itself)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import streamlit as st

from core.access import Actor, session_actor
from core.config import Settings, load_settings
from core.embed.embedder import Embedder
from core.embed.loading import ModelListing, list_models, load_embedder, offline_model_names
from core.errors import PotionError
from core.search.answer import KeywordStatsCache
from core.service.jobs import JobRunner, duration_text, library_job_key
from core.storage import Store, open_store
from core.storage.loading import load_text, waiting_text
from pages import keys

if TYPE_CHECKING:
    from core.service.runs import SaveOutcome

MODEL_KEY = keys.MODEL
LIBRARY_KEY = keys.LIBRARY
T = TypeVar("T")

# The app's files by absolute path: links and switches then resolve alike whichever folder the entry file is in.
ROOT = Path(__file__).resolve().parent.parent
APP_FILE = ROOT / "app.py"
PAGES = ROOT / "pages"
HOME_PAGE, LIBRARY_PAGE, SEARCH_PAGE = PAGES / "home.py", PAGES / "library.py", PAGES / "search.py"
COMPARE_PAGE, EVALUATE_PAGE, JUDGMENTS_PAGE = PAGES / "compare.py", PAGES / "evaluate.py", PAGES / "judgments.py"
MAP_PAGE, COSTS_PAGE, ADAPT_PAGE = PAGES / "map.py", PAGES / "costs.py", PAGES / "adapt.py"
AUDIT_PAGE = PAGES / "audit.py"
QUERY_SETS_PAGE = PAGES / "query_sets.py"
RUNS_PAGE = PAGES / "runs.py"


def frame_settings() -> Settings:
    """Read the environment once for this run (the frame, app.py, calls it first) and keep it for the pages."""
    st.session_state[keys.SETTINGS] = load_settings()
    return st.session_state[keys.SETTINGS]


def settings() -> Settings:
    """This run's settings, as the frame read them; a page run without the frame reads them itself."""
    kept = st.session_state.get(keys.SETTINGS)
    return kept if kept is not None else frame_settings()


@st.cache_resource(show_spinner="Opening the database…")
def store(_settings: Settings) -> Store:
    """The one store of this server process, opened with the settings of the run that first asks (the frame's).
    The settings are no part of the cache key (the leading underscore): a second store on the same Lite file would
    find it locked by the first. The engine is kept running in the background (POTION_KEEP_ENGINE_MINUTES), so the
    next start of the app finds the libraries loaded."""
    opened = open_store(_settings, keep_engine=True)
    opened.warm_up()  # collections load in the background while the first page renders
    return opened


@st.cache_resource(show_spinner="Loading the model…")
def embedder(name: str, settings: Settings, download: bool = False) -> Embedder:
    """The model, loaded once per name and settings (where models are looked for); a hub model not cached is fetched
    only with `download` (the sidebar's Load button)."""
    return load_embedder(name, download=download, settings=settings)


@st.cache_data(ttl=30, show_spinner=False)
def model_listings(settings: Settings) -> list[ModelListing]:
    """Bundled, catalog and cached models; scanning the HF cache on every rerun of every page adds up."""
    return list_models(settings)


def offline_models() -> list[str]:
    """Models that load with no network, the sidebar's variant included."""
    return offline_model_names(model_listings(settings()), current_model(), settings())


@st.cache_resource
def keyword_stats() -> KeywordStatsCache:
    """BM25 statistics per index, shared by every session: counted once per library, model and set of documents."""
    return KeywordStatsCache()


@st.cache_resource
def jobs() -> JobRunner:
    return JobRunner()


LOAD_REFRESH_SECONDS = 1.0  # how often a load's progress bar moves

RESTARTED_NOTICE = (
    "The database restarted after its engine stopped: searches work again, and a job that was writing says whether "
    "to run it again."
)


def shared_store() -> Store:
    """The shared store, or a one-line error and a stopped page. An engine that died is started again here, before
    the page reads, and each session is told so once."""
    try:
        opened = store(settings())
        seen = st.session_state.setdefault(keys.ENGINE_RESTARTS_SEEN, opened.engine_restarts)
        opened.revive()
    except PotionError as exc:
        st.error(inert(exc))
        st.stop()
    if opened.engine_restarts > seen:
        st.session_state[keys.ENGINE_RESTARTS_SEEN] = opened.engine_restarts
        st.toast(RESTARTED_NOTICE)
    return opened


def try_embedder(name: str, download: bool = False) -> Embedder | None:
    try:
        return embedder(name, settings(), download)
    except PotionError as exc:
        st.error(inert(exc))
        return None


_FRAMED: ContextVar[bool] = ContextVar("potion_framed", default=False)


@contextmanager
def framed() -> Iterator[None]:
    """app.py runs the page inside this: a page run outside it was started by Streamlit alone (ensure_frame)."""
    token = _FRAMED.set(True)
    try:
        yield
    finally:
        _FRAMED.reset(token)


def ensure_frame() -> None:
    """Send a page run outside app.py through the frame.

    A folder named pages/ beside the entry file puts Streamlit in its legacy multipage mode until a session first
    calls st.navigation ("As soon as any session of your app executes the st.navigation command, your app will
    ignore the pages/ directory", docs.streamlit.io/develop/api-reference/navigation/st.navigation), and no
    option turns that mode off: so a deep link that is a fresh server's first request runs the page file alone,
    without the sidebar. app.py marks its own runs (`framed`), so a page knows it is alone without asking
    Streamlit's internals, and switches to app.py, whose st.navigation ends the legacy mode for good."""
    if not _FRAMED.get():
        st.switch_page(APP_FILE)


def begin(title: str | None, needs_library: bool = True, waits: bool = True) -> tuple[Store, str]:
    """What every page does first: through the frame, the shared store, the current library (or an empty state
    pointing to where one is made; "" when the page needs none) and the page's title. Then any load running in
    the engine, with its progress; while it holds the whole engine, a page that `waits` says so and stops (it
    would hang in its first engine call) and continues by itself when the load ends. A page passing
    waits=False handles the wait itself (Search queues the query)."""
    ensure_frame()
    store = shared_store()
    library = need_library() if needs_library else (current_library() or "")
    if title:
        st.title(title)
    loads = [p for p in store.loading() if p.noticeable()]
    if loads:
        load_progress()
        if waits and store.load_blocks_engine:
            st.info(f"{inert(waiting_text(loads[0]))} This page continues by itself when the load ends.")
            st.stop()
    return store, library


@st.fragment(run_every=LOAD_REFRESH_SECONDS)
def load_progress() -> None:
    """Each index loading into the engine: a bar, its rows, time so far and left (an estimate); reruns the page
    once every load has ended, so what waited for it runs."""
    now = time.time()
    loads = [p for p in store(settings()).loading() if p.noticeable(now)]
    if not loads:
        st.rerun()
    for progress in loads:
        st.progress(progress.fraction(now), text=inert(load_text(progress, now)))


def once(key: str, asked: Hashable, compute: Callable[[], T], fresh: bool = False) -> T:
    """compute() once per question: kept in the session under `key` with `asked` (every input the result depends
    on) and given again while `asked` is the same, so a rerun (a download click, a sidebar change that keeps the
    question) neither searches nor explains again. `fresh` computes anew even so (a new submission)."""
    kept = st.session_state.get(key)
    if fresh or kept is None or kept[0] != asked:
        kept = (asked, compute())
        st.session_state[key] = kept
    return kept[1]


def keep(key: str, asked: Hashable, value: object) -> None:
    """Replace what `once` keeps (an answer changed by the user's own action, such as a judgment)."""
    st.session_state[key] = (asked, value)


def forget(key: str) -> None:
    st.session_state.pop(key, None)


def offline_or_stop(name: str) -> None:
    """Stop the page with a pointer to the sidebar when the model would have to be downloaded."""
    from core.embed.loading import is_available_offline, resolve_model

    try:
        ready = is_available_offline(resolve_model(name, settings()), settings())
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
def key_progress(key: str, stages: Sequence[str] = ()) -> None:
    """The running job under `key` with its stage, done/total, rate, elapsed time and the stage's time left;
    reruns the page once it ends. `stages`, in order, adds a line marking those done and the current one."""
    state = jobs().get(key)
    if state is None:
        return
    if state.running:
        rate, left = state.rate(), state.remaining()
        st.progress(
            state.fraction,
            text=f"**{inert(state.label)}** — {inert(state.stage)}: {state.done:,}/{state.total:,}"
            + (f" · {rate:,.0f}/s" if rate else "")
            + f" · {state.elapsed():.0f} s"
            + (f" · about {duration_text(left)} left in this stage" if left is not None and state.done else ""),
        )
        if state.stage in stages:
            now = stages.index(state.stage)
            marks = [f"✓ {s}" if i < now else f"**{s}**" if i == now else s for i, s in enumerate(stages)]
            st.caption(" → ".join(marks))
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
        if actor().may_write:
            st.info("No library yet: create one in the sidebar (**Library → New library**), then add documents.")
        else:
            st.info("No library yet, and this session may only read: there is nothing to show.")
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


def utc_text(at: str) -> str:
    """A stored UTC time (ISO 8601, "2026-12-05T21:40:16+00:00") as a table cell shows it: "2026-12-05 21:40:16",
    under a column saying UTC."""
    return at.replace("T", " ").removesuffix("+00:00")


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


def actor() -> Actor:
    """Who this browser session acts as; core checks it before every write and logs it (core.access): the email
    st.user holds once the session has signed in (st.login), else anonymous."""
    user = st.user  # identity claims from the provider's id_token; is_logged_in exists only where sign-in is set up
    if user.get("is_logged_in") is not True:
        return session_actor(settings())
    verified = user.get("email_verified")  # a provider that sends it false has not checked the address
    name = str(user.get("email") or user.get("sub") or "") or None  # no email scope: the subject, never an editor
    return session_actor(settings(), name, verified if isinstance(verified, bool) else None)


def may_write() -> bool:
    """Whether this session may change anything: the pages hide what it may not do."""
    return actor().may_write


def saved_note(saved: SaveOutcome | None) -> None:
    """One line under an evaluation's results: the runs it was saved as, or why it was not saved (a reader)."""
    if saved is not None:
        (st.caption if saved.runs else st.info)(inert(saved.message))


def read_only_note(what: str) -> None:
    """One line in place of hidden controls, saying what is off and why."""
    st.caption(f":material/lock: {what}: off, as {inert(actor().why_read_only)}.")
