"""What a Milvus store shares between its catalog, indexes and judgments: the client, the engine profile, and the
caches, with how they learn that another process wrote.

The cache lock (`lock`) guards the caches only and is never held across an engine call: a listing, count or registry
read runs unlocked and publishes its answer under the lock only if nothing changed meanwhile (`token`, `publish`), so
one session's scan, flush or rebuild never makes another session's search wait. Two narrower locks do span one engine
call each: `_load_lock` a collection's load (once per collection after an open or a restart, so it is never loaded
twice at once) and `_looking` a served database's generation read (only a `now`/`force` caller waits for it)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from core.config import Settings
from core.errors import EngineRestartedError, SchemaVersionError, ServerUnavailableError, StoreError
from core.storage.connection import server_unreachable
from core.storage.engine import EngineClient, EngineInterrupted
from core.storage.loading import LoadTracker
from core.storage.profile import EngineProfile
from core.storage.registry import Registry, RegistryView
from core.types import SCHEMA_VERSION, CollectionMeta

REVALIDATE_SECONDS = 1.0  # how stale a server store's caches may be after another process writes
T = TypeVar("T")


class StoreState:
    def __init__(self, settings: Settings, client: Any, profile: EngineProfile, registry: Registry) -> None:
        self.settings, self.client, self.profile, self.registry = settings, client, profile, registry
        self.uri = settings.milvus_uri
        self.lock = threading.Lock()  # the caches below; never held across an engine call
        self.view = RegistryView()
        self.documents: dict[str, list] = {}  # collection -> its document list; pages ask on every rerun
        self.counts: dict[tuple[str, str], int] = {}
        self.judged: dict[str, list] = {}  # library -> its judgments; Search reads them every rerun
        self._epochs: dict[str, int] = {}  # cache key -> changes so far, so a stale answer is never published
        self._era = 0  # every registry change or reload; a reload read before one is not published
        # On a server other processes write too: every cache is checked against the shared generation at most
        # this often (seconds). A Lite database has one process, so its caches are always current.
        self.revalidate_every = REVALIDATE_SECONDS
        self.generation, self.checked_at = "", 0.0
        self._looking = threading.Lock()  # one revalidation at a time; the others use the caches as they are
        self.loaded: set[str] = set()
        self._load_lock = threading.Lock()  # spans load_collection: a collection is loaded once, not by each asker
        # What is loading and how long it should take; tracks nothing until the store names its collections.
        self.loads = LoadTracker(lambda name: None, dict, lambda library, model, record: None)
        client.on_restart.append(self._engine_restarted)

    # --- caches ----------------------------------------------------------------------------------

    def token(self, key: str) -> tuple[int, int]:
        """Taken under the lock before an unlocked read; `publish` keeps the answer only if it is unchanged."""
        return self._era, self._epochs.get(key, 0)

    def publish(self, cache: dict, key: Any, token: tuple[int, int], epoch_key: str, value: Any) -> None:
        with self.lock:
            if self.token(epoch_key) == token:
                cache[key] = value

    def changed(self, collection: str) -> None:
        """Forget the listings and counts of a collection this store is about to change or has changed."""
        with self.lock:
            self._epochs[collection] = self._epochs.get(collection, 0) + 1
            self.documents.pop(collection, None)
            self.counts.pop((collection, "chunks"), None)
            self.counts.pop((collection, "documents"), None)

    def judged_changed(self, library: str) -> None:
        with self.lock:
            key = f"judgments:{library}"
            self._epochs[key] = self._epochs.get(key, 0) + 1
            self.judged.pop(library, None)

    def edit_view(self, edit: Callable[[RegistryView], None]) -> None:
        """Apply this process's own registry change to the cached view."""
        with self.lock:
            self._era += 1
            edit(self.view)

    # --- other processes -------------------------------------------------------------------------

    def reload(self) -> None:
        view = self.registry.read()
        if view.newest_schema > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"The database {self.uri} was written by a newer Potion Search (schema {view.newest_schema}; "
                f"this one reads up to {SCHEMA_VERSION}): upgrade Potion Search or use another database."
            )
        with self.lock:
            self.view = view
            self._era += 1
            self.documents.clear()
            self.counts.clear()
            self.judged.clear()

    def revalidate(self, now: bool = False, force: bool = False) -> None:
        """Drop every cache if another process wrote since the last look (at most every `revalidate_every`
        seconds, unless `now`; whatever the generation says if `force`, since a writer registers a row before
        it bumps the generation). Engine reads happen outside the lock."""
        if not self.profile.shared or (not now and time.monotonic() - self.checked_at < self.revalidate_every):
            return
        if not self._looking.acquire(blocking=now or force):
            return  # another thread is looking right now: answer from the caches as they are
        try:
            try:
                current = self.registry.generation()
            except Exception as exc:  # outside any store method: a server gone away is still named in one sentence
                if is_engine_error(exc):
                    raise engine_error(self, "read the registry", exc) from exc
                raise
            self.checked_at = time.monotonic()
            if force or current != self.generation:
                self.generation = current
                self.reload()
        finally:
            self._looking.release()

    def bump(self) -> None:
        """Tell other processes sharing the server that this one wrote.

        Its own generation is not recorded: a write of another process landing just before this one's bump
        would be hidden by it, so the next check reloads once, its own change included."""
        if self.profile.shared:
            self.registry.bump_generation()

    def metas(self) -> dict[tuple[str, str], CollectionMeta]:
        self.revalidate()
        with self.lock:
            return dict(self.view.metas)

    def find(self, library: str, model_name: str) -> CollectionMeta | None:
        self.revalidate()
        with self.lock:
            return self.view.metas.get((library, model_name))

    def ensure_loaded(self, name: str, listed: threading.Event | None = None) -> None:
        """Load the collection unless it is loaded. A reopened database has its collections released; searching
        them needs a load first. `listed` is set once the load is in `loads` (warm_up waits for it)."""
        if name not in self.loaded:
            with self._load_lock:  # not the cache lock: a long load must not stall listings and writes
                if name not in self.loaded:
                    # Rows are counted before the load: Lite 2.5.1 answers no other call until a load ends.
                    rows = lambda: int(self.client.get_collection_stats(name)["row_count"])  # noqa: E731
                    with self.loads.track(name, rows, listed):
                        self.client.load_collection(name)
                    self.loaded.add(name)

    def release(self, name: str) -> None:
        """Release the collection (an index is changed on a released one); the next reader loads it again."""
        with self._load_lock:
            self.client.release_collection(name)
            self.loaded.discard(name)

    def owner(self, collection: str) -> tuple[str, str] | None:
        """The (library, model) whose index is `collection`; None for the store's own collections."""
        with self.lock:
            for meta in self.view.metas.values():
                if meta.collection == collection:
                    return meta.library, meta.model_name
        return None

    def _engine_restarted(self) -> None:
        """After the embedded engine was started again: forget what the dead one had loaded and load it again in the
        background (the retried read loads its own collection first), and re-read the registry, since rows the dead
        engine had not yet persisted are gone."""
        # Not under the load lock: the call that found the engine dead may be a load holding it.
        reload = sorted(self.loaded)
        self.loaded.clear()
        self.reload()

        def load_again() -> None:
            for name in reload:
                try:
                    self.ensure_loaded(name)
                except Exception:  # dropped meanwhile, or the engine died again: the next read says so
                    return

        threading.Thread(target=load_again, name="milvus-reload", daemon=True).start()


def engine_call(operation: str, read: bool = False) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """The one place a store method meets a failing engine: any engine exception becomes a StoreError naming the
    operation and what to do. After the embedded engine died and was started again (core.storage.engine), a `read`
    runs once more; a write raises EngineRestartedError, since the dead engine may have lost part of it and only the
    job that wrote it can write it again (idempotently)."""

    def decorate(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> T:
            engine = _engine_of(self)
            if engine.inside_operation():  # the outermost operation retries and reports, for all it called
                return method(self, *args, **kwargs)
            for attempt in (1, 2):
                started = engine.generation
                try:
                    with engine.operation(started):
                        result = method(self, *args, **kwargs)
                    if read or engine.generation == started:
                        return result
                    raise EngineInterrupted(operation)  # restarted by another thread under this write
                except EngineInterrupted as exc:
                    if read and attempt == 1:
                        continue
                    raise engine_restarted(operation) from exc
                except Exception as exc:
                    if not is_engine_error(exc):
                        raise
                    if engine.revive() or engine.generation != started:  # the engine died under this call
                        if read and attempt == 1:
                            continue
                        raise engine_restarted(operation) from exc
                    raise engine_error(self, operation, exc) from exc
            raise AssertionError("unreachable: the second attempt returns or raises")

        return wrapper

    return decorate


def _engine_of(owner: Any) -> EngineClient:
    state = getattr(owner, "state", None)  # MilvusStore._open runs before its state exists
    return state.client if state is not None else owner.client


def is_engine_error(exc: BaseException) -> bool:
    from pymilvus.exceptions import MilvusException

    return isinstance(exc, MilvusException) or type(exc).__module__.startswith("grpc")


def engine_restarted(operation: str) -> EngineRestartedError:
    return EngineRestartedError(
        f"The database engine stopped while it was asked to {operation} and has been started again: run this again; "
        "writes are idempotent, so a re-run converges."
    )


def advice(uri: str, shared: bool) -> str:
    if shared:
        return f"Check that the Milvus server at {uri} is running, then try again."
    return "Try again; writes are idempotent, so a re-run converges."


def engine_error(owner: Any, operation: str, exc: BaseException) -> StoreError:
    """The one sentence for an engine exception; `owner` is a store part, or the store itself while it opens."""
    state = getattr(owner, "state", None)
    uri, shared = (state.uri, state.profile.shared) if state is not None else (owner.uri, not owner.settings.is_lite)
    kept = getattr(getattr(state or owner, "client", None), "kept", None)
    if kept is not None:  # the engine the app keeps: no server of the user's, no MILVUS_URI to fix
        message = getattr(exc, "message", "") or "it stopped answering"
        return StoreError(
            f"The database {kept.database} could not {operation}: {message}. Try again (its engine is started again "
            "if it stopped); `python -m core engine` shows the engine kept for it."
        )
    if shared and server_unreachable(uri, exc):
        return ServerUnavailableError(
            f"The Milvus server at {uri} is not answering, so the database could not {operation}: start it "
            "again or fix MILVUS_URI; this reconnects by itself once it answers."
        )
    message = getattr(exc, "message", "") or "it stopped answering"
    return StoreError(f"The database could not {operation}: {message}. {advice(uri, shared)}")
