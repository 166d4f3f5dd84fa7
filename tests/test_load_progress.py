"""A collection's load, which Milvus Lite 2.5.1 runs in one piece and says nothing about: listed while it runs with
an estimate from the rows and earlier loads, learned from each load that ends, and printed by the CLI on stderr.

Loads are held open with an Event inside the engine call, never timed with sleeps; clocks are fakes where a
figure is asserted."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from core.storage import loading
from core.storage.loading import (
    DEFAULT_RECORD,
    LoadProgress,
    LoadRecord,
    LoadTracker,
    load_text,
    loaded_text,
    setting_key,
)
from core.storage.memory import MemoryStore
from core.storage.milvus import MilvusStore
from tests.test_store import DIM, meta, rows

WAIT = 60  # seconds an Event may take to be set before the test fails; never waited out when things work


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def tracker_with(records: dict, clock: Clock) -> LoadTracker:
    names = {"c-lib-m": ("Lib", "m"), "c-other-n": ("Other", "n")}
    return LoadTracker(
        names.get, lambda: dict(records), lambda lib, model, rec: records.update({(lib, model): rec}), clock
    )


def test_the_estimate_is_the_default_before_any_load_and_the_learned_rate_after():
    records: dict = {}
    clock = Clock()
    tracker = tracker_with(records, clock)
    with tracker.track("c-lib-m", lambda: 50_000):
        (first,) = tracker.loading()
        assert first.expected_seconds == pytest.approx(DEFAULT_RECORD.expect(50_000))
        assert first.basis.startswith("default")
        clock.now += 40.0
    assert tracker.loading() == []
    assert records == {("Lib", "m"): LoadRecord(50_000, 40.0)}  # what the load took, kept for the next estimate

    with tracker.track("c-lib-m", lambda: 100_000):
        (again,) = tracker.loading()
        clock.now += again.expected_seconds  # this one takes exactly what was expected
    assert again.expected_seconds == pytest.approx(40.0 * 2**loading.GROWTH)  # not the default's figure
    assert again.basis == "this index's last load: 50,000 rows in 40 s"
    with tracker.track("c-other-n", lambda: 50_000):
        (other,) = tracker.loading()
    assert other.expected_seconds == pytest.approx(40.0)  # an index never loaded learns from the database's loads
    assert other.basis == "the load of Lib (m): 100,000 rows in 98 s"


def test_a_failed_or_small_load_teaches_nothing_and_the_store_collections_are_not_tracked():
    records: dict = {}
    tracker = tracker_with(records, Clock())
    with pytest.raises(RuntimeError), tracker.track("c-lib-m", lambda: 50_000):
        raise RuntimeError("engine died")
    with tracker.track("c-lib-m", lambda: loading.MIN_ROWS_TO_LEARN - 1):
        pass
    with tracker.track("registry", lambda: pytest.fail("an untracked collection is not counted")):
        assert tracker.loading() == []
    assert records == {} and tracker.loading() == []


def test_the_progress_line_gives_rows_time_left_and_says_estimate_and_never_reads_done_early():
    p = LoadProgress("Papers", "minilm", "c", 1_004_454, 100.0, 134.0, "default, no load measured here yet")
    assert p.fraction(100.0 + 67.0) == pytest.approx(0.5) and p.left(167.0) == pytest.approx(67.0)
    assert load_text(p, 167.0) == (
        "Loading library Papers (minilm) into the engine: 1,004,454 rows · 67 s so far · "
        "about 67 s left (estimate from default, no load measured here yet)"
    )
    late = 100.0 + 200.0
    assert p.fraction(late) == loading.SHOWN_AT_MOST and p.left(late) == 0.0
    assert "longer than the 2 min estimated" in load_text(p, late)
    assert loaded_text(p, late) == "Loaded library Papers (minilm): 1,004,454 rows in 3 min (estimated 2 min)"


def test_the_in_memory_store_has_nothing_to_load():
    store = MemoryStore()
    assert store.loading() == [] and store.waits_for("Lib", "m") == [] and not store.load_blocks_engine


def hold_loads(store: MilvusStore, monkeypatch) -> tuple[threading.Event, threading.Event]:
    """Make the store's engine loads wait inside the call: `entered` is set as one starts, and it goes on once the
    test sets `release`."""
    real = store.client.load_collection
    entered, release = threading.Event(), threading.Event()

    def held(name, *args, **kwargs):
        entered.set()
        assert release.wait(WAIT), "the test never released the load"
        return real(name, *args, **kwargs)

    monkeypatch.setattr(store.client, "load_collection", held, raising=False)
    return entered, release


class LoadingStore(MemoryStore):
    def __init__(self, loads: list[LoadProgress], blocks: bool) -> None:
        super().__init__()
        self.loads, self.blocks = loads, blocks

    def loading(self) -> list[LoadProgress]:
        return self.loads

    @property
    def load_blocks_engine(self) -> bool:
        return self.blocks


def test_a_search_waits_for_every_noticeable_load_where_one_holds_the_engine_else_only_for_its_own_index():
    later = time.time() + 3_600  # started "later": no time has elapsed whatever the machine's speed
    slow = LoadProgress("Big", "m", "c1", 1_000_000, later, 134.0, "default")
    quick = LoadProgress("Small", "m", "c2", 30, later, loading.NOTICEABLE_SECONDS / 2, "default")
    assert slow.noticeable() and not quick.noticeable()  # a load of milliseconds is simply waited for
    embedded = LoadingStore([slow, quick], blocks=True)
    assert embedded.waits_for("Other", "m") == [slow]
    server = LoadingStore([slow, quick], blocks=False)
    assert server.waits_for("Other", "m") == [] and server.waits_for("Big", "m") == [slow]


def reopened_with_a_held_load(monkeypatch) -> tuple[MilvusStore, threading.Event, threading.Event]:
    """A database of one small index, reopened (nothing loaded) with its load held open until `release` is set."""
    first = MilvusStore()
    first.catalog.ensure(meta(model="m"))
    first.index("Lib", "m").write(rows("a.txt", 3))
    first.close()
    store = MilvusStore()
    return store, *hold_loads(store, monkeypatch)


def test_a_running_load_is_listed_with_its_rows_and_its_time_is_learned_when_it_ends(isolated_env, monkeypatch):
    monkeypatch.setattr(loading, "MIN_ROWS_TO_LEARN", 1)  # learn from this tiny index as from a large one
    store, entered, release = reopened_with_a_held_load(monkeypatch)
    seen: list[tuple[str, bool]] = []
    store.watch_loads(lambda p, running: seen.append((p.library, running)))
    found: list = []
    search = threading.Thread(target=lambda: found.append(store.index("Lib", "m").dense(np.ones((1, DIM)), 2)))
    search.start()
    assert entered.wait(WAIT)
    (progress,) = store.loading()
    assert (progress.library, progress.model, progress.rows) == ("Lib", "m", 3)  # counted before the load
    assert progress.basis.startswith("default")
    assert store.load_blocks_engine  # Lite 2.5.1: one engine mutex, so every search waits for the load
    assert seen == [("Lib", True)]
    release.set()
    search.join(WAIT)
    assert len(found[0][0]) == 2 and store.loading() == [] and seen == [("Lib", True), ("Lib", False)]
    record = store.catalog.settings("Lib")[setting_key("m")]
    assert record["rows"] == 3 and record["seconds"] > 0  # kept in the database, beside the library
    store.close()

    again, entered, release = reopened_with_a_held_load(monkeypatch)
    thread = threading.Thread(target=lambda: again.index("Lib", "m").count())
    thread.start()
    assert entered.wait(WAIT)
    (progress,) = again.loading()
    assert progress.basis.startswith("this index's last load: 3 rows")  # learned, not the default
    release.set()
    thread.join(WAIT)
    again.close()


def test_warm_up_returns_once_its_first_load_is_listed_so_a_page_shows_it(isolated_env, monkeypatch):
    store, entered, release = reopened_with_a_held_load(monkeypatch)
    thread = store.warm_up()
    assert [(p.library, p.model) for p in store.loading()] == [("Lib", "m")]  # no wait needed: already listed
    release.set()
    thread.join(WAIT)
    assert store.loading() == []
    store.close()


def test_a_read_only_database_learns_for_the_process_without_writing(isolated_env, monkeypatch):
    monkeypatch.setattr(loading, "MIN_ROWS_TO_LEARN", 1)
    first = MilvusStore()
    first.catalog.ensure(meta(model="m"))
    first.index("Lib", "m").write(rows("a.txt", 3))
    first.close()
    monkeypatch.setenv("POTION_READ_ONLY", "1")
    store = MilvusStore()
    store.index("Lib", "m").count()
    assert setting_key("m") not in store.catalog.settings("Lib")
    store.close()


def test_the_cli_prints_the_load_on_stderr_in_the_apps_words_and_keeps_stdout_json(isolated_env, tmp_path, capsys):
    from core.cli import main
    from tests.conftest import BUNDLED_SMALL, index_texts

    store = MilvusStore()
    index_texts(store, tmp_path / "docs", "Papers", BUNDLED_SMALL, {"a.txt": "Alan Turing was born in London."})
    # A load recorded as slow, so this tiny one is expected to take seconds and is printed at once.
    store.catalog.set_setting("Papers", setting_key(BUNDLED_SMALL), {"rows": 1, "seconds": 100.0})
    store.close()
    capsys.readouterr()
    code = main(["search", "Where was Turing born?", "--library", "Papers", "--model", BUNDLED_SMALL, "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    assert json.loads(out)["hits"][0]["document"] == "a.txt"  # stdout is exactly one JSON object
    lines = [line for line in err.splitlines() if "library Papers" in line]
    assert lines[0].startswith(f"Loading library Papers ({BUNDLED_SMALL}) into the engine: 1 rows · ")
    assert "(estimate from this index's last load: 1 rows in 100 s)" in lines[0]
    assert lines[-1].startswith(f"Loaded library Papers ({BUNDLED_SMALL}): 1 rows in ")
