"""EngineClient, the connection every store talks through, on a stand-in client: a call the engine refuses while it
is still setting up is asked again, and nothing else is."""

from __future__ import annotations

import pytest

from core.config import load_settings
from core.storage.engine import STILL_STARTING, EngineClient


class Flaky:
    """A client whose `search` fails `failures` times with `message`, then answers."""

    def __init__(self, failures: int, message: str) -> None:
        self.failures, self.message, self.calls = failures, message, 0

    def search(self, query: str) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(self.message)
        return f"hits for {query}"


def client_over(flaky: Flaky, monkeypatch: pytest.MonkeyPatch) -> EngineClient:
    monkeypatch.setenv("MILVUS_URI", "http://127.0.0.1:1")  # a server: nothing of ours to restart
    return EngineClient(load_settings(), lambda: flaky)


def test_a_call_refused_while_the_engine_sets_up_is_asked_again_until_it_answers(monkeypatch):
    flaky = Flaky(2, f'<MilvusException: (code=2000, message=Assert "init_flag_ == true"  => {STILL_STARTING}.)>')
    assert client_over(flaky, monkeypatch).search("turing") == "hits for turing"
    assert flaky.calls == 3


def test_any_other_failure_is_raised_at_once(monkeypatch):
    flaky = Flaky(1, "collection not found")
    with pytest.raises(RuntimeError, match="collection not found"):
        client_over(flaky, monkeypatch).search("turing")
    assert flaky.calls == 1


def test_an_engine_that_never_finishes_setting_up_fails_in_the_end(monkeypatch):
    import core.storage.engine as engine

    monkeypatch.setattr(engine, "STILL_STARTING_FOR_S", 0.2)
    flaky = Flaky(10**6, STILL_STARTING)
    with pytest.raises(RuntimeError, match=STILL_STARTING):
        client_over(flaky, monkeypatch).search("turing")
    assert flaky.calls > 1
