"""What a Milvus store shares between its catalog, indexes and judgments: the client, the engine profile, and the
caches, with how they learn that another process wrote.

The lock here guards the caches only and is never held across an engine call: a listing, count or registry read
runs unlocked and publishes its answer under the lock only if nothing changed meanwhile (`token`, `publish`), so one
session's scan, flush or rebuild never makes another session's search wait."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from core.config import Settings
from core.errors import SchemaVersionError, StoreError
from core.storage.profile import EngineProfile
from core.storage.registry import Registry, RegistryView
from core.types import SCHEMA_VERSION, CollectionMeta

REVALIDATE_SECONDS = 1.0  # how stale a server store's caches may be after another process writes
T = TypeVar("T")


class StoreState:
    def __init__(self, settings: Settings, client: Any, profile: EngineProfile, registry: Registry) -> None:
        self.settings, self.client, self.profile, self.registry = settings, client, profile, registry
        self.uri = settings.milvus_uri
        self.advice = (
            f"Check that the Milvus server at {self.uri} is running, then try again."
            if profile.shared
            else "Try again; writes are idempotent, so a re-run converges."
        )
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
        self._load_lock = threading.Lock()

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
            current = self.registry.generation()
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

    def ensure_loaded(self, name: str) -> None:
        # A reopened database has its collections released; searching them needs a load first.
        if name not in self.loaded:
            with self._load_lock:  # not the cache lock: a long load must not stall listings and writes
                if name not in self.loaded:
                    self.client.load_collection(name)
                    self.loaded.add(name)


def engine_call(operation: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Turn any engine exception of a store method into a StoreError naming the operation and what to do."""

    def decorate(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> T:
            from pymilvus.exceptions import MilvusException

            try:
                return method(self, *args, **kwargs)
            except MilvusException as exc:
                raise StoreError(f"The database could not {operation}: {exc.message}. {self.state.advice}") from exc
            except Exception as exc:
                if type(exc).__module__.startswith("grpc"):
                    raise StoreError(
                        f"The database could not {operation}: it stopped answering. {self.state.advice}"
                    ) from exc
                raise

        return wrapper

    return decorate
