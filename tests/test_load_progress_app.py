"""The app while a library loads into the embedded engine (AppTest, real Milvus Lite): each page shows the load's
progress with its estimate instead of hanging, and a search submitted meanwhile runs when the load ends.

The load is held open with an Event inside the engine call; the test releases it, never sleeps."""

from __future__ import annotations

import threading

import pytest

from core.storage.loading import setting_key
from pages import keys
from tests.apptest_helpers import HOME, SEARCH, SEARCH_SUBMIT, hit_headers, new_app, no_exception, open_page, pick_model
from tests.conftest import BUNDLED_SMALL, SEED_DOCS, index_texts
from tests.test_load_progress import WAIT, hold_loads

SEED = {f"doc{i}.txt": text for i, text in enumerate(SEED_DOCS)}


@pytest.fixture
def held_load(app_store, tmp_path, monkeypatch):
    """The shared store with library Papers indexed, released, and being loaded again (as warm_up does after a
    restart) by a thread held inside the engine's load until the test calls the function it gives."""
    index_texts(app_store, tmp_path / "docs", "Papers", BUNDLED_SMALL, SEED)
    # A load recorded as slow, so this small one is expected to take long enough to be shown and waited for.
    app_store.catalog.set_setting("Papers", setting_key(BUNDLED_SMALL), {"rows": 1, "seconds": 100.0})
    collection = app_store.catalog.require("Papers", BUNDLED_SMALL).collection
    app_store.client.release_collection(collection)
    app_store.state.loaded.discard(collection)
    entered, release = hold_loads(app_store, monkeypatch)
    loader = threading.Thread(target=app_store.state.ensure_loaded, args=(collection,), name="test-load")
    loader.start()
    assert entered.wait(WAIT)

    def end_load() -> None:
        release.set()
        loader.join(WAIT)
        assert not loader.is_alive()

    yield end_load
    end_load()


def progress_texts(at) -> list[str]:
    return [bar.proto.text for bar in at.main.get("progress")]


def test_a_page_that_needs_the_engine_shows_the_load_and_its_estimate_instead_of_hanging(held_load):
    at = new_app().run()
    open_page(at, HOME)
    (text,) = progress_texts(at)
    assert text.startswith(f"Loading library Papers ({BUNDLED_SMALL}) into the engine: 3 rows · ")
    assert "estimate" in text and "from this index's last load: 1 rows in 100 s" in text  # what it rests on
    (info,) = [i.value for i in at.main.info]
    assert info.startswith(f"The database engine is loading library Papers ({BUNDLED_SMALL}) and answers nothing")
    assert info.endswith("This page continues by itself when the load ends.")
    assert not at.main.metric  # the page stopped before its first engine call

    held_load()
    at.run()  # what the progress fragment does once the load has ended
    no_exception(at)
    assert not progress_texts(at) and {m.label for m in at.main.metric} >= {"Libraries", "Indexed chunks"}


def test_a_search_submitted_while_its_library_loads_is_queued_and_runs_when_the_load_ends(held_load):
    at = new_app().run()
    pick_model(at, BUNDLED_SMALL)
    open_page(at, SEARCH)
    assert progress_texts(at)  # the frame's bar, on the Search page too
    at.main.text_input(key="search_query").input("Where was Alan Turing born?")
    at.main.button(key=SEARCH_SUBMIT).click().run()
    no_exception(at)
    assert "Queued: “Where was Alan Turing born?” runs when the load ends." in [i.value for i in at.main.info]
    assert not hit_headers(at) and at.session_state[keys.SEARCH_QUEUED]
    assert at.main.selectbox(key="search_doc").disabled  # the document list waits for the engine too

    held_load()
    at.run()  # the fragment's rerun once no load is left
    no_exception(at)
    assert hit_headers(at)  # the queued search ran, with no second click
    assert keys.SEARCH_QUEUED not in at.session_state
    assert not progress_texts(at)
