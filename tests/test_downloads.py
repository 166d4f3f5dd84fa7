"""No download behind the user's back: only an explicit request fetches a hub model; a download holds up no other."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from core.embed import loading as models
from core.errors import ModelUnavailableError
from core.ingest.pipeline import ingest_with_models
from core.service.jobs import JobRunner, library_job_key
from core.storage.memory import MemoryStore
from tests.conftest import BUNDLED_SMALL, SEED_DOCS, TINY_DIM

WAIT = 60  # seconds; a safety net for a broken build, never waited out when the code works
NOT_DOWNLOADED = (
    "minishlab/potion-base-8M is not downloaded yet: load it from the sidebar (needs the Hugging Face hub) "
    "or pick a bundled model."
)


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every hub download, recorded and failed; the settings allow the network, so only our code can stop one."""
    calls: list[str] = []

    def download(repo_id: str, settings: object = None) -> Path:
        calls.append(repo_id)
        raise AssertionError(f"{repo_id} was downloaded without being asked to")

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(models, "_download_hub_snapshot", download)
    models.clear_model_cache()
    yield calls
    models.clear_model_cache()


def test_an_uncached_hub_model_is_refused_unless_a_download_is_asked_for(downloads):
    with pytest.raises(ModelUnavailableError) as err:
        models.load_embedder("potion-base-8M")
    assert str(err.value) == NOT_DOWNLOADED
    with pytest.raises(ModelUnavailableError, match="is not downloaded yet"):
        models.model_directory(models.resolve_model("potion-base-8M"))
    assert downloads == []


def test_an_indexing_job_with_an_uncached_hub_model_fails_with_the_message_and_downloads_nothing(downloads, tmp_path):
    doc = tmp_path / "turing.txt"
    doc.write_text(SEED_DOCS[2], encoding="utf-8")
    runner, key = JobRunner(), library_job_key("lib")
    runner.start(
        key, "Indexing", lambda p: ingest_with_models([doc], "lib", ["potion-base-8M"], MemoryStore(), None, p)
    )
    _join(key)
    state = runner.get(key)
    assert (state.status, state.error) == ("failed", NOT_DOWNLOADED)
    assert downloads == []


def test_a_slow_hub_download_does_not_hold_up_other_models(monkeypatch, tiny_model_dir):
    downloading, release = threading.Event(), threading.Event()

    def slow_download(repo_id: str, settings: object = None) -> Path:
        downloading.set()
        release.wait(WAIT)
        return tiny_model_dir

    monkeypatch.setattr(models, "_download_hub_snapshot", slow_download)
    models.clear_model_cache()  # the bundled model must really load, not come from memory
    fetched: dict = {}
    hub = threading.Thread(target=lambda: fetched.update(e=models.load_embedder("potion-base-8M", download=True)))
    hub.start()
    try:
        assert downloading.wait(WAIT)
        loaded: dict = {}
        outcome: dict = {}

        def load_others() -> None:
            loaded["bundled"] = models.load_embedder(BUNDLED_SMALL)
            try:  # the model being downloaded, asked for without download: told at once, not made to wait
                models.load_embedder("potion-base-8M")
            except ModelUnavailableError as exc:
                outcome["error"] = str(exc)

        other = threading.Thread(target=load_others, daemon=True)
        other.start()
        other.join(WAIT)
        assert not other.is_alive(), "loading a bundled model waited for a hub download"
        assert loaded["bundled"].info.dim == 64 and outcome["error"] == NOT_DOWNLOADED
        assert not fetched  # the download was still waiting all along
    finally:
        release.set()
        hub.join(WAIT)
        models.clear_model_cache()
    assert fetched["e"].info.dim == TINY_DIM


def _join(key: str) -> None:
    for thread in threading.enumerate():
        if thread.name == f"job-{key}":
            thread.join(WAIT)
