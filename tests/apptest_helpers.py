"""Helpers for driving the Streamlit app with AppTest: a fresh app, waiting for background jobs, finding elements.

AppTest runs the script in this process, so st.cache_resource hands the test the same MilvusStore and
JobRunner as the pages: tests pre-populate the database through core and join job threads by name.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.service.jobs import JobRunner, JobState

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
ENTRY = Path(__file__).resolve().parent / "app_entry.py"  # app.py, run from a folder with no pages/ beside it
# The page files as st.navigation names them in app.py, for open_page() (which takes them relative to ROOT).
HOME = "pages/home.py"
LIBRARY = "pages/library.py"
SEARCH = "pages/search.py"
COMPARE = "pages/compare.py"
RUN_TIMEOUT = 60  # seconds per script run; generous for a loaded CI machine, never waited out when things work
JOB_TIMEOUT = 60

MODEL_PICKER = "model_choice"
LIBRARY_PICKER = "library_choice"
CREATE_LIBRARY = "FormSubmitter:new-library-Create"
SEARCH_SUBMIT = "FormSubmitter:search-Search"
COMPARE_SUBMIT = "FormSubmitter:compare-Compare"


def new_app() -> AppTest:
    """A new session of the app (tests/app_entry.py runs app.py)."""
    return AppTest.from_file(ENTRY, default_timeout=RUN_TIMEOUT)


def wait_for_job(runner: JobRunner, key: str) -> JobState:
    """Join the job's thread (JobRunner names it job-<key>); no sleeping, no polling."""
    for thread in threading.enumerate():
        if thread.name == f"job-{key}":
            thread.join(timeout=JOB_TIMEOUT)
    state = runner.get(key)
    assert state is not None, f"no job {key!r} was started"
    assert not state.running, f"job {key!r} still running after {JOB_TIMEOUT} s"
    return state


def join_all_jobs() -> None:
    for thread in threading.enumerate():
        if thread.name.startswith("job-"):
            thread.join(timeout=JOB_TIMEOUT)


def values(elements: Iterable) -> list:
    return [e.value for e in elements]


def labels(elements: Iterable) -> list[str]:
    return [e.label for e in elements]


def by_label(elements: Iterable, label: str):
    """The one element with this label (buttons have no keys in the pages); fails listing what is there."""
    found = [e for e in elements if e.label == label]
    assert len(found) == 1, f"expected one {label!r}, found labels {labels(elements)}"
    return found[0]


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def pick_model(at: AppTest, name: str) -> None:
    at.sidebar.selectbox(key=MODEL_PICKER).set_value(name).run()
    no_exception(at)


def create_library(at: AppTest, name: str) -> None:
    at.sidebar.text_input(key="new_library_name").input(name)
    at.sidebar.button(key=CREATE_LIBRARY).click().run()
    no_exception(at)


def open_page(at: AppTest, page: str | Path) -> None:
    at.switch_page(str(ROOT / page)).run()  # AppTest takes it relative to the entry file, or absolute
    no_exception(at)


def hit_headers(at: AppTest) -> list[str]:
    """The '**#rank** · score …' line of every hit card on the page."""
    return [m.value for m in at.main.markdown if m.value.startswith("**#")]


def arrow_frame(data: bytes):
    """A chart's or table's data as Streamlit sends it (Arrow IPC stream) as a pandas DataFrame."""
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_pandas()


def restart() -> AppTest:
    """A server restart: the shared store is closed and opened again from the database, then a new session (the
    caller closes the store it opens: `shared.store(load_settings()).close()`)."""
    import streamlit as st

    from core.config import load_settings
    from pages import shared

    shared.store(load_settings()).close()
    st.cache_resource.clear()
    st.cache_data.clear()
    at = new_app().run()
    no_exception(at)
    return at


def costs_table(at: AppTest) -> list[dict]:
    """The Costs page's table of measured costs, one dict per model (the vector index table follows it)."""
    return at.main.dataframe[0].value.to_dict("records")
