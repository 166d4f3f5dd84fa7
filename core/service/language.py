"""A library's language: shown, and changed by analysing every keyword index of the library anew from its stored text.

An engine cannot change the analyzer of an existing collection, so each of the library's indexes is copied into a new
one made with the language's analyzer (core.storage.rebuild, vectors and all, no re-embedding), then published in one
step. The change holds the library like a rebuild (its job key here, its lease in the database), is refused to an
actor who may only read, and is recorded in the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.access import Actor, require_write
from core.embed.catalog import is_multilingual
from core.service.audit import AuditAction, record
from core.service.jobs import JobRunner, JobState
from core.service.libraries import exclusive, start_exclusive
from core.storage import Store
from core.storage.analyzers import NONE, Language, language_of_code
from core.storage.base import LANGUAGE_SETTING
from core.types import CollectionMeta, ProgressCallback

if TYPE_CHECKING:
    from core.embed.embedder import ModelInfo

SET_LANGUAGE = "set language"  # the kind of the job, so a page knows how to show its outcome


@dataclass(frozen=True)
class LibraryLanguage:
    """What a page or the CLI shows of a library's language."""

    library: str
    language: Language | None  # None: none chosen or detected yet (the engine's default analyzer)
    analyzers: dict[str, str]  # model -> the analyzer its keyword index uses ("" without keyword search)

    @property
    def label(self) -> str:
        return self.language.label if self.language else "not set (the engine's default analyzer)"

    def as_dict(self) -> dict:
        return {
            "language": self.language.code if self.language else "",
            "language_name": self.language.name if self.language else "",
            "analyzers": self.analyzers,
        }


@dataclass(frozen=True)
class LanguageChange:
    library: str
    before: Language | None
    after: Language
    indexes: list[CollectionMeta]  # each index of the library as it is now, with its analyzer
    chunks: int


def model_multilingual(info: ModelInfo) -> bool | None:
    """Whether the model reads many languages (core.embed.catalog.is_multilingual); None: not known."""
    # ModelSource is a StrEnum: compared by value, so listing libraries loads no model code
    return is_multilingual(info.source if info.kind == "hub" else info.name, info.kind == "bundled")


def multilingual_text(multilingual: bool | None) -> str:
    """What the model card says of the languages a model reads."""
    if multilingual is None:
        return "Languages: not known (not a catalog or bundled model)."
    return "Languages: many (multilingual)." if multilingual else "Languages: English only."


def language_mismatch(language: Language | None, multilingual: bool | None, model: str) -> str | None:
    """One line when the library's documents are in a language the model was not made for: an English-only model
    over a library in another language gives dense scores of little meaning (keyword search is unaffected)."""
    if language is None or language is NONE or language.code == "en" or multilingual is not False:
        return None
    return (
        f"This library is in {language.label}, but {model} was trained on English only: dense and hybrid results "
        "will be poor; pick a multilingual model (potion-multilingual-128M) or use keyword search."
    )


def library_language(store: Store, library: str) -> LibraryLanguage:
    metas = [m for m in store.catalog.collections() if m.library == library]
    return LibraryLanguage(
        library, language_of_code(store.catalog.language(library)), {m.model_name: m.analyzer for m in metas}
    )


def set_language(
    store: Store,
    runner: JobRunner,
    library: str,
    language: Language,
    progress: ProgressCallback | None = None,
    actor: Actor | None = None,
) -> LanguageChange:
    """Make `language` the library's, analysing its keyword indexes anew, unless a job is writing to the library."""
    actor = require_write(actor, f"set the language of library '{library}'")
    with exclusive(store, runner, library, f"set the language of {library}"):
        return _changed(store, actor, library, language, progress)


def start_set_language(
    store: Store, runner: JobRunner, library: str, language: Language, actor: Actor | None = None
) -> JobState:
    """`set_language` as a background job with progress, held against other jobs and changes as a rebuild is (the
    same `start_exclusive`)."""
    actor = require_write(actor, f"set the language of library '{library}'")
    return start_exclusive(
        store,
        runner,
        library,
        f"set the language of {library}",
        f"Analysing {library} in {language.label}",
        lambda progress: _changed(store, actor, library, language, progress),
        SET_LANGUAGE,
    )


def _changed(
    store: Store, actor: Actor, library: str, language: Language, progress: ProgressCallback | None
) -> LanguageChange:
    report = progress or (lambda stage, done, total: None)
    before = language_of_code(store.catalog.language(library))
    store.catalog.set_setting(library, LANGUAGE_SETTING, language.code)  # first: an index made meanwhile follows it
    indexes, chunks = [], 0
    for model in store.catalog.models(library):
        index = store.index(library, model)
        if index.meta.language != language.code or not index.meta.analyzer:
            index.set_language(language.code, lambda stage, done, total, m=model: report(f"{stage} {m}", done, total))
        indexes.append(store.index(library, model).meta)
        chunks += store.index(library, model).count()
    what = f"{before.label if before else 'not set'} to {language.label}"
    record(store, actor, AuditAction.SET_LANGUAGE, library, what, {"indexes": len(indexes), "chunks": chunks})
    return LanguageChange(library, before, language, indexes, chunks)
