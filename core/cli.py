"""Command line: `python -m core models|ingest|search|evaluate|runs|query-sets|doctor|libraries|audit|…`.

Every change is made as the OS user running the command (core.access.os_actor): refused in one line under
POTION_READ_ONLY, and recorded under that name in the audit log.

Exit codes: 0 success; 1 an error stopped the run; 2 bad usage; 3 ingest finished but some files failed;
128 + the signal when one stopped it (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), after one line on stderr.
With --json, stdout carries exactly one JSON object; progress and messages go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.adapt.options import AdaptOptions
from core.config import Settings, load_settings
from core.errors import PotionError

if TYPE_CHECKING:
    from core.access import Actor
    from core.evaluate.results import EvaluationReport, RunKey
    from core.insight.index_quality import IndexQuality
    from core.search.set_run import SetRun
    from core.storage import Store
    from core.storage.loading import LoadProgress

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
STAGE_UNITS = {"read": "file", "index": "doc", "flush": "step", "search": "query", "weights": "weight"}
STAGE_UNITS |= {"ingest": "B"}  # an ingest reading its files as it indexes them: bytes of the files, shown as kB, MB
STAGE_UNITS |= {"distil": "token", "teacher": "text", "fit": "batch"}  # adapt; its other stages are one step each
STAGE_UNITS |= {"targets": "step", "reduce": "step", "save": "step"}


class ProgressBar:
    """One tqdm bar per stage on stderr: done/total and rate."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.stage: str | None = None
        self.bar = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            self.stage = stage
            unit = STAGE_UNITS.get(stage.rsplit(": ", 1)[-1], "chunk")
            self.bar = tqdm(
                total=total,
                desc=f"{stage:>11}",
                unit=unit,
                unit_scale=unit == "B",
                unit_divisor=1024,
                file=sys.stderr,
                dynamic_ncols=True,
            )
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        bar, self.bar = self.bar, None
        if bar is None:
            return
        try:
            bar.close()
        except BaseException:
            # A stop signal inside tqdm's close lands after it marked itself closed and before its newline; the
            # error line that follows must still start a line of its own.
            sys.stderr.write("\n")
            raise


def _emit(args: argparse.Namespace, payload: object, text: str) -> None:
    print(json.dumps(payload, ensure_ascii=False) if args.json else text)


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from core.embed.loading import list_models

    listings = list_models(settings)
    lines = []
    for m in listings:
        where = "offline" if m.available_offline else "needs hub"
        kind = "made here" if m.kind == "adapted" else m.kind  # "transformer" for the teacher: not a static model
        lines.append(f"{m.name:<28} {str(m.dim or '?'):>4}d  {kind:<11} {where:<9} {m.source}")
    _emit(args, [m.as_dict() for m in listings], "\n".join(lines))
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from core.service.doctor import diagnose

    found = diagnose(settings)
    width = max(len(c.name) for c in found.checks)
    lines = [f"{'ok' if c.ok else 'PROBLEM':<7}  {c.name:<{width}}  {c.detail}" for c in found.checks]
    lines.append("everything is in order" if found.ok else "fix the problems above, then run doctor again")
    _emit(args, found.as_dict(), "\n".join(lines))
    return EXIT_OK if found.ok else EXIT_ERROR


def _store(settings: Settings) -> Store:
    from core.storage import open_store

    opened = open_store(settings)
    opened.watch_loads(LoadPrinter())
    return opened


class LoadPrinter:
    """A collection's load on stderr, in the app's words (core.storage.loading): a line as it begins, then every
    `every` seconds while it runs, and one when it ends. A load that is not noticeable (LoadProgress.noticeable)
    prints only once it outlasts NOTICEABLE_SECONDS. Never stdout, which carries JSON."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self._stops: dict[str, threading.Event] = {}
        self._shown: set[str] = set()

    def _say(self, collection: str, line: str) -> None:
        self._shown.add(collection)
        print(line, file=sys.stderr, flush=True)

    def __call__(self, progress: LoadProgress, running: bool) -> None:
        from core.storage.loading import NOTICEABLE_SECONDS, load_text, loaded_text

        name = progress.collection
        if not running:
            stop = self._stops.pop(name, None)
            if stop is not None:
                stop.set()
            if name in self._shown:
                self._shown.discard(name)
                self._say(name, loaded_text(progress))
                self._shown.discard(name)
            return
        if progress.noticeable():
            self._say(name, load_text(progress))
        stop = self._stops[name] = threading.Event()

        def tick() -> None:
            wait = self.every if name in self._shown else NOTICEABLE_SECONDS
            while not stop.wait(wait):  # stopped when the load ends; never outlives it
                self._say(name, load_text(progress))
                wait = self.every

        threading.Thread(target=tick, name=f"load-progress-{name}", daemon=True).start()


def _actor(settings: Settings) -> Actor:
    """Who the command acts as: the OS user, a reader under POTION_READ_ONLY."""
    from core.access import os_actor

    return os_actor(settings)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from core.access import require_write
    from core.embed.loading import load_embedder
    from core.ingest.pipeline import ingest, ingest_action, requested_chunking

    actor = require_write(_actor(settings), ingest_action(args.library))  # before a model is fetched
    store = _store(settings)
    # The library's chunking unless options ask otherwise, refused where its first index fixed it (as the app does).
    chunking = requested_chunking(
        store, args.library, args.chunk_size, args.chunk_overlap, args.chunk_unit, settings=settings
    )
    # Naming a model on the command line asks for it.
    embedder = load_embedder(args.model, download=True, settings=settings)
    bar = ProgressBar(enabled=not args.quiet)
    try:
        result = ingest(
            args.paths, args.library, embedder, store, chunking, progress=bar, settings=settings, actor=actor
        )
    finally:
        bar.close()
    summary = result.summary()
    for failure in summary["files_failed"]:
        print(f"failed: {failure['error']}", file=sys.stderr)
    _emit(
        args,
        summary,
        f"{summary['documents_indexed']} documents indexed, {summary['documents_unchanged']} unchanged, "
        f"{len(summary['files_failed'])} failed; {summary['chunks_added']} chunks added, "
        f"{summary['chunks_total']} in library '{args.library}' ({result.model}) after {summary['seconds']:.1f} s",
    )
    return EXIT_PARTIAL if summary["files_failed"] else EXIT_OK


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from core.embed.loading import load_embedder
    from core.search.query import search
    from core.types import Fusion, HybridParams, SearchMode

    mode = SearchMode(args.mode)
    params = HybridParams(fusion=Fusion.WEIGHTED, weight=args.weight) if args.weight is not None else HybridParams()
    # BM25 reads the chunk text: a keyword search names the model's index and loads nothing. Otherwise naming a
    # model on the command line asks for it.
    embedder = None if mode == SearchMode.KEYWORD else load_embedder(args.model, download=True, settings=settings)
    store = _store(settings)
    if args.explain:  # the Search page's question: hits with why each matched and the library's verdicts
        from core.search.answer import KeywordStatsCache, answer

        found = answer(
            args.query,
            args.library,
            args.model,
            store,
            embedder=embedder,
            top_k=args.top_k,
            document=args.document,
            mode=mode,
            params=params,
            keyword_stats=KeywordStatsCache(),
        )
        result, payload = found.result, found.as_dict()
    else:
        result = search(
            args.query, args.library, embedder or args.model, store, args.top_k, args.document, mode, params
        )
        payload = result.as_dict()
    lines = [
        f"{mode} search  query {result.query_dim}d  documents {result.doc_dim}d  "
        f"({result.encode_ms:.1f} + {result.search_ms:.1f} ms)"
    ]
    if result.unknown_query:
        lines.append(
            "The query has no word this model knows, so nothing can match."
            if mode == SearchMode.DENSE
            else "The query has no word this model knows: only its keywords count."
        )
    for h in result.hits:
        snippet = " ".join(h.text.split())[:160]
        parts = [f"{name} {v:.3f}" for name, v in (("cos", h.dense_score), ("bm25", h.keyword_score)) if v is not None]
        detail = f" ({', '.join(parts)})" if mode == SearchMode.HYBRID else ""
        lines.append(f"{h.rank:>3}. {h.score:.3f}{detail}  {h.document} #{h.chunk}  {snippet}")
        if args.explain:
            lines += _why_lines(payload["hits"][h.rank - 1]["why"])
    _emit(args, payload, "\n".join(lines))
    return EXIT_OK


def cmd_adapt(args: argparse.Namespace, settings: Settings) -> int:
    from core.adapt.extra import require_extra
    from core.adapt.library import adapt_library, may_adapt

    actor = _actor(settings)
    may_adapt(actor, args.library, settings)  # a reader is told so first, whatever is installed
    require_extra()  # before the store is opened: without the extra, one sentence and nothing else
    bar = ProgressBar(enabled=not args.quiet)
    options = AdaptOptions(
        teacher=args.teacher,
        dims=args.dims,
        epochs=args.epochs,
        seed=args.seed,
        max_sentences=args.sentences,
        progress=bar,
    )
    try:
        result = adapt_library(_store(settings), args.library, args.name, options, args.model, True, settings, actor)
    finally:
        bar.close()
    stages = ", ".join(f"{stage} {seconds:.0f} s" for stage, seconds in result.stage_seconds.items())
    made = (
        f"Made {result.name} ({result.dims}d) from {result.chunks} chunks of '{args.library}' "
        f"in {result.seconds:.0f} s ({stages}); best epoch {result.best_epoch} of {result.epochs_run}. "
        f"Use it as --model {result.name}."
    )
    if not args.compare:
        _emit(args, result.as_dict(), made)
        return EXIT_OK
    if not args.json:
        print(made, file=sys.stderr)
    # The store was let go while fitting (a Milvus Lite database opens in one process at a time): open it again.
    found = _compare_made(args, settings, result.name, args.model)
    _emit(args, result.as_dict() | {"compare": found.report.as_dict()}, _verdict_text(found.report))
    return EXIT_OK


def cmd_compare_made(args: argparse.Namespace, settings: Settings) -> int:
    found = _compare_made(args, settings, args.model, args.base)
    _emit(args, found.report.as_dict(), _verdict_text(found.report))
    return EXIT_OK


def _compare_made(args: argparse.Namespace, settings: Settings, made: str, base: str | None):
    """What the page's "Compare at once" runs: index the library with the made model, evaluate it against its
    base and BM25 on the library's judgments or on --collection."""
    from core.service.adapted import compare_made, default_base

    store = _store(settings)
    bar = ProgressBar(enabled=not args.quiet)
    try:
        base = base or default_base(store, args.library, made, settings)
        return compare_made(store, args.library, made, base, args.collection, bar, settings, actor=_actor(settings))
    finally:
        bar.close()


def _verdict_text(report: EvaluationReport) -> str:
    from core.evaluate.report import table_text
    from core.service.adapted import verdict_table

    return (
        f"{report.dataset}: {report.queries} judged queries; mean [95% bootstrap interval over queries]; the "
        "difference is paired over queries, with p from a sign-flip test\n" + table_text(verdict_table(report))
    )


def _why_lines(why: dict) -> list[str]:
    from core.evaluate.judgments import RELEVANT

    lines = []
    if why.get("words"):
        lines.append("       words: " + ", ".join(f"{w['word']} {w['contribution']:+.3f}" for w in why["words"]))
    if why.get("terms"):
        lines.append("       terms: " + ", ".join(f"{t['term']} {t['share']:.0%}" for t in why["terms"]))
    if why.get("unknown_words"):
        lines.append("       unknown to the model: " + ", ".join(why["unknown_words"]))
    if "verdict" in why:
        lines.append(f"       judged {'relevant' if why['verdict'] >= RELEVANT else 'not relevant'} for this query")
    return lines


EVALUATE_HELP = (
    "evaluate models on a BEIR-style folder (corpus.jsonl, queries.jsonl, qrels.tsv; TREC 4-column qrels too): "
    "nDCG@10, Recall@10, Recall@100, MRR@10, MAP@100 with 95% bootstrap intervals over queries, and paired "
    "tests against a baseline. Documents are scored by their best chunk. The corpus is indexed per model into "
    "the library eval:<dataset>:<chunking>, reused on later runs"
)


def _modes(raw: str) -> list[str]:
    """One or more search modes joined by commas: dense,keyword."""
    modes = [mode.strip() for mode in raw.split(",")]
    unknown = [mode for mode in modes if mode not in ("dense", "keyword", "hybrid")]
    if unknown:
        raise argparse.ArgumentTypeError(f"{', '.join(unknown)}: modes are dense, keyword and hybrid")
    return modes


def _run_name(raw: str) -> tuple[str, str, str]:
    """MODEL:MODE, e.g. minilm-static-64:dense, or a hybrid's MODEL:hybrid@0.3 (weighted) or MODEL:hybrid@tuned.

    Split at the last colon: a model path may hold one."""
    model, _, run = raw.rpartition(":")
    mode, _, fusion = run.partition("@")
    valid_fusion = not fusion or (mode == "hybrid" and (fusion == "tuned" or _is_share(fusion)))
    if not model or mode not in ("dense", "keyword", "hybrid") or not valid_fusion:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is not MODEL:MODE with MODE dense, keyword, hybrid, hybrid@WEIGHT or hybrid@tuned"
        )
    return model, mode, fusion


def _is_share(raw: str) -> bool:
    try:
        return 0.0 <= float(raw) <= 1.0
    except ValueError:
        return False


def _baseline_key(model: str, mode: str, fusion: str) -> RunKey:
    """A --baseline as the evaluation names runs: MODEL:hybrid alone means the RRF hybrid."""
    from core.evaluate.results import TUNED, RunKey, run_key
    from core.types import Fusion, HybridParams, SearchMode

    if fusion == TUNED:
        return RunKey(model, SearchMode.HYBRID, TUNED)
    if fusion:
        return run_key(model, mode, HybridParams(fusion=Fusion.WEIGHTED, weight=float(fusion)))
    return run_key(model, mode)


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from core.embed.loading import load_embedder
    from core.evaluate.runs import WHOLE_DOCUMENTS, evaluate_collection
    from core.ingest.chunking import ChunkSettings
    from core.ingest.pipeline import default_chunking
    from core.service.runs import keep_evaluation
    from core.types import DocumentStatus, SearchMode

    chunk_options = (args.chunk_size, args.chunk_overlap, args.chunk_unit)
    if args.no_chunking and any(option is not None for option in chunk_options):
        print("error: --no-chunking takes no --chunk-size, --chunk-overlap or --chunk-unit.", file=sys.stderr)
        return EXIT_USAGE
    if args.no_chunking:
        chunking = WHOLE_DOCUMENTS
    else:
        d = default_chunking(settings)
        chunking = ChunkSettings(
            size=args.chunk_size if args.chunk_size is not None else d.size,
            overlap=args.chunk_overlap if args.chunk_overlap is not None else d.overlap,
            unit=args.chunk_unit or d.unit,
        )
    # Naming a model on the command line asks for it, as ingest does.
    models = {name: load_embedder(name, download=True, settings=settings) for name in dict.fromkeys(args.model)}
    # With only hybrid weights or tuning asked for, no plain mode is added to them.
    plain = args.mode or ([] if args.weight or args.tune_weight else ["dense"])
    modes = [SearchMode(mode) for mode in dict.fromkeys(plain)]
    baseline = _baseline_key(*args.baseline) if args.baseline else None
    bar = ProgressBar(enabled=not args.quiet)
    store = _store(settings)
    try:
        report = evaluate_collection(
            args.folder,
            models,
            modes,
            store,
            chunking,
            baseline,
            progress=bar,
            weights=args.weight or (),
            tune=args.tune_weight,
            settings=settings,
            actor=_actor(settings),
        )
    finally:
        bar.close()
    if not args.quiet:
        for indexed in report.indexing:
            print(
                f"{indexed.model}: {indexed.count(DocumentStatus.INDEXED)} documents indexed, "
                f"{indexed.count(DocumentStatus.UNCHANGED)} unchanged, {len(indexed.failures)} failed; "
                f"{indexed.chunks_total} chunks in library '{indexed.library}'",
                file=sys.stderr,
            )
    saved = keep_evaluation(store, report, args.run_name, _actor(settings))
    if saved.refused:  # a reader's evaluation is shown but kept nowhere
        print(saved.message, file=sys.stderr)
    runs = [{"id": run.id, "name": run.name} for run in saved.runs]
    lines = [f"saved as run {run['id']}  {run['name']}" for run in runs]
    _emit(args, report.as_dict() | {"runs": runs}, "\n".join([_evaluation_table(report), "", *lines]).rstrip())
    return EXIT_OK


def _evaluation_table(report: EvaluationReport) -> str:
    """The Evaluate page's tables as text: each run's means with their 95% intervals, then the paired differences."""
    from core.evaluate.report import comparison_table, results_table, table_text

    lines = [
        f"{report.dataset}: {report.queries} queries, chunking {report.chunking}; documents scored by their best "
        "chunk; mean [95% bootstrap interval over queries], search seconds",
        table_text(results_table(report)),
    ]
    tuned = [r for r in report.results if r.tuning is not None]
    for r in tuned:
        folds = ", ".join(f"{w:g}" for w in r.tuning.fold_weights)
        lines.append(
            f"{r.model} hybrid tuned: weight {r.weight:g} on all queries; {r.tuning.folds} folds chose {folds}"
        )
    if tuned:
        lines.append(
            "hybrid tuned: each query scored at the weight chosen by nDCG@10 on the other folds (cross-validated)"
        )
    if report.comparisons:
        base = report.comparisons[0].baseline
        lines += [
            "",
            f"against {base.model} {base.label()}: difference of means, its 95% paired bootstrap interval, and p from "
            "a paired sign-flip test",
            table_text(comparison_table(report)),
        ]
    return "\n".join(lines)


def _quality_dict(store: Store, library: str, model: str) -> dict | None:
    from core.insight.index_quality import index_quality

    quality = index_quality(store, library, model)
    return quality.as_dict() if quality else None


def cmd_libraries(args: argparse.Namespace, settings: Settings) -> int:
    from core.service.language import library_language
    from core.sizes import format_count
    from core.storage.vector_index import VectorIndex

    store = _store(settings)
    libraries = store.libraries()
    languages = {lib.name: library_language(store, lib.name) for lib in libraries}
    payload = [
        {
            "name": lib.name,
            "language": languages[lib.name].as_dict()["language"],
            "language_name": languages[lib.name].as_dict()["language_name"],
            "models": [
                {
                    "model": c.meta.model_name,
                    "source": c.meta.model_source,
                    "dim": c.meta.dim,
                    "documents": c.documents,
                    "chunks": c.chunks,
                    "chunking": c.meta.chunking,
                    "analyzer": c.meta.analyzer,
                    "variant": c.meta.model_variant,
                    "vector_index": VectorIndex.of(c.meta.vector_index).as_dict(),
                    "index_quality": _quality_dict(store, lib.name, c.meta.model_name),
                }
                for c in lib.collections
            ],
        }
        for lib in libraries
    ]
    lines = [
        f"{lib['name']} ({languages[lib['name']].label}): "
        + "; ".join(
            f"{m['model']} {m['dim']}d {format_count(m['documents'])} docs {format_count(m['chunks'])} chunks"
            + ("" if m["vector_index"]["exact"] else f" ({m['vector_index']['kind']})")
            for m in lib["models"]
        )
        for lib in payload
    ] or ["No libraries yet: index documents with `python -m core ingest PATH --library NAME --model MODEL`."]
    _emit(args, payload, "\n".join(lines))
    return EXIT_OK


def cmd_create_library(args: argparse.Namespace, settings: Settings) -> int:
    from core.service.libraries import create_library
    from core.storage.analyzers import language_of

    language = language_of(args.language) if args.language else None  # refused before anything is written
    create_library(_store(settings), args.library, _actor(settings), language)
    said = f" in {language.label} (keyword analyzer '{language.analyzer}')" if language else ""
    _emit(
        args,
        {"library": args.library, "language": language.code if language else ""},
        f"Library '{args.library}' is ready{said}."
        + ("" if language else " Its language is detected from the first documents indexed."),
    )
    return EXIT_OK


def cmd_set_language(args: argparse.Namespace, settings: Settings) -> int:
    from core.service.language import set_language
    from core.storage.analyzers import language_of

    language = language_of(args.language)
    bar = ProgressBar(enabled=not args.json)
    try:
        change = set_language(_store(settings), _runner(), args.library, language, bar, _actor(settings))
    finally:
        bar.close()
    analyzers = {meta.model_name: meta.analyzer for meta in change.indexes}
    _emit(
        args,
        {"library": args.library, "language": language.code, "analyzers": analyzers, "chunks": change.chunks},
        f"Library '{args.library}' is in {language.label} now: "
        + (
            ", ".join(f"{model} analyzed with '{analyzer or 'none'}'" for model, analyzer in analyzers.items())
            or "its first index will be analyzed with '" + language.analyzer + "'"
        )
        + f" ({change.chunks:,} chunks).",
    )
    return EXIT_OK


def cmd_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from core.service.libraries import rebuild_index

    bar = ProgressBar(enabled=not args.json)
    try:
        meta = rebuild_index(_store(settings), _runner(), args.library, args.model, bar, _actor(settings))
    finally:
        bar.close()
    _emit(
        args,
        {
            "library": args.library,
            "model": args.model,
            "analyzer": meta.analyzer,
            "language": meta.language,
            "schema": meta.schema_version,
        },
        f"Library '{args.library}' ({args.model}) is on schema {meta.schema_version}, keyword analyzer "
        f"'{meta.analyzer or 'none'}'{f' (language {meta.language})' if meta.language else ''}.",
    )
    return EXIT_OK


def _quality_text(quality: IndexQuality | None) -> str:
    if quality is None:
        return "recall not measured"
    return (
        f"recall@10 {quality.recall_at_10:.3f} against exact, p50 {quality.p50_ms:.1f} ms "
        f"({quality.queries} of its {quality.chunks:,} chunks as queries)"
    )


def cmd_vector_index(args: argparse.Namespace, settings: Settings) -> int:
    from core.insight.index_quality import index_quality
    from core.service.libraries import measure_vector_index, set_vector_index
    from core.storage.vector_index import VectorIndex, parse

    store = _store(settings)
    bar = ProgressBar(enabled=not args.json)
    try:
        if args.index:
            quality = set_vector_index(
                store, _runner(), args.library, args.model, parse(args.index), bar, _actor(settings)
            )
        elif args.measure:
            quality = measure_vector_index(store, args.library, args.model, bar, _actor(settings))
        else:
            quality = index_quality(store, args.library, args.model)
    finally:
        bar.close()
    chosen = VectorIndex.of(store.index(args.library, args.model).meta.vector_index)
    payload = {
        "library": args.library,
        "model": args.model,
        "vector_index": chosen.as_dict(),
        "quality": quality.as_dict() if quality else None,
    }
    _emit(args, payload, f"Library '{args.library}' ({args.model}): {chosen.label}, {_quality_text(quality)}.")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from core.storage.serve import exposure_warning, is_loopback, serve

    path = Path(args.db or settings.lite_path)

    def ready(uri: str) -> None:
        if args.kept:  # read by nobody but the log beside the database (core.storage.keeper)
            print(f"kept engine of {path} on {uri}", flush=True)
            return
        print(f"listening on {uri}: set MILVUS_URI={uri} for the app and the CLI (Ctrl-C stops)", flush=True)

    if args.expose and not is_loopback(args.host):
        print(exposure_warning(f"{args.host}:{args.port}"), file=sys.stderr, flush=True)
    idle = args.idle_minutes if args.idle_minutes is not None else settings.keep_engine_minutes
    return serve(path, args.port, args.host, ready, expose=args.expose, idle_minutes=idle, kept=args.kept)


def cmd_engine(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from core.errors import StoreConfigError
    from core.storage import keeper

    if not settings.is_lite or not keeper.keeps_engines():
        server = f"MILVUS_URI names a server ({settings.milvus_uri})"
        why = server if not settings.is_lite else "Milvus Lite 3.x reopens a database at once"
        _emit(args, {"kept": None}, f"{why}: no engine is kept for it.")
        return EXIT_OK
    path = Path(settings.milvus_uri)
    if args.stop:
        stopped = keeper.stop(path)
        text = f"Stopped the kept engine of {path} (process {stopped.pid})." if stopped else _no_kept_engine(path)
        _emit(args, {"stopped": stopped.as_dict() if stopped else None}, text)
        return EXIT_OK
    if args.start:
        minutes = args.idle_minutes if args.idle_minutes is not None else settings.keep_engine_minutes
        if minutes <= 0:
            raise StoreConfigError("Set --idle-minutes (or POTION_KEEP_ENGINE_MINUTES) above 0 to keep an engine.")
        keeper.ensure(path, minutes)
    found = keeper.find(path)
    text = keeper.describe(found) if found else _no_kept_engine(path)
    _emit(args, {"kept": found.as_dict() if found else None}, text)
    return EXIT_OK


def _no_kept_engine(path: object) -> str:
    return f"No engine is kept for {path}: the app starts one when it opens the database (POTION_KEEP_ENGINE_MINUTES)."


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from core.service.audit import entries, entry_dict, entry_line

    found = entries(_store(settings), args.limit)
    lines = [entry_line(e) for e in found] or ["The audit log is empty: no library was dropped or changed yet."]
    _emit(args, {"entries": [entry_dict(e) for e in found]}, "\n".join(lines))
    return EXIT_OK


def cmd_documents(args: argparse.Namespace, settings: Settings) -> int:
    docs = _store(settings).index(args.library, args.model).documents()
    payload = [{"document": d.name, "chunks": d.chunks, "type": d.doc_type, "title": d.title} for d in docs]
    _emit(args, payload, "\n".join(f"{d.chunks:>5} chunks  {d.name}" for d in docs))
    return EXIT_OK


def _runner():
    """The job runner the library changes go through, as the app's do (core.service.libraries)."""
    from core.service.jobs import JobRunner

    return JobRunner()


def cmd_delete_library(args: argparse.Namespace, settings: Settings) -> int:
    from core.service.libraries import drop_library

    dropped = drop_library(_store(settings), _runner(), args.library, _actor(settings))
    _emit(args, {"library": args.library, "collections_dropped": dropped}, f"Dropped library '{args.library}'.")
    return EXIT_OK


def cmd_delete_document(args: argparse.Namespace, settings: Settings) -> int:
    from core.service.libraries import delete_document

    models = delete_document(_store(settings), _runner(), args.library, args.document, args.model, _actor(settings))
    _emit(
        args,
        {"library": args.library, "document": args.document, "models": models},
        f"Deleted {args.document} from {len(models)} index(es) of '{args.library}': {', '.join(models) or 'none'}.",
    )
    return EXIT_OK


def cmd_export_judgments(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from core.evaluate.judgment_files import judgments_jsonl
    from core.evaluate.judgments import JudgmentError

    store = _store(settings)
    if args.library not in store.catalog.names():
        raise JudgmentError(f"There is no library named '{args.library}': check the name with `libraries`.")
    judgments = store.judgments.list(args.library)
    try:
        Path(args.file).write_text(judgments_jsonl(judgments), encoding="utf-8")
    except OSError as exc:
        raise JudgmentError(f"Cannot write {args.file} ({exc.strerror or exc}): choose a writable path.") from exc
    queries = len({j.query for j in judgments})
    _emit(
        args,
        {"library": args.library, "file": args.file, "judgments": len(judgments), "queries": queries},
        f"Wrote {len(judgments)} judgments over {queries} queries of '{args.library}' to {args.file}.",
    )
    return EXIT_OK


def cmd_import_judgments(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict
    from pathlib import Path

    from core.access import require_write
    from core.evaluate.judgment_files import read_judgments_jsonl
    from core.evaluate.judgments import JudgmentError
    from core.service.judgments import import_judgments

    actor = require_write(_actor(settings), f"import judgments into library '{args.library}'")

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise JudgmentError(f"Cannot read {args.file} ({exc.strerror or exc}): check the path.") from exc
    done = import_judgments(_store(settings), args.library, read_judgments_jsonl(data, args.file), actor)
    _emit(
        args,
        asdict(done),
        f"Into '{done.library}': {done.added} judgments added, {done.replaced} replaced, {done.unchanged} unchanged.",
    )
    return EXIT_OK


def cmd_runs_list(args: argparse.Namespace, settings: Settings) -> int:
    from core.evaluate.report import table_text
    from core.evaluate.run_tables import run_record, runs_table
    from core.service.runs import list_runs

    found = list_runs(_store(settings), args.dataset, args.library)
    text = table_text(runs_table(found)) if found else "No saved runs yet: every `evaluate` saves its runs."
    _emit(args, {"runs": [run_record(s) for s in found]}, text)
    return EXIT_OK


def cmd_runs_show(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from core.evaluate.report import table_text
    from core.evaluate.run_tables import metrics_table, run_facts
    from core.service.runs import get_run

    run = get_run(_store(settings), args.run)
    width = max(len(label) for label, _ in run_facts(run))
    lines = [f"{label:<{width}}  {value}" for label, value in run_facts(run)]
    lines += ["", table_text(metrics_table(run.metrics))]
    payload = {
        "summary": asdict(run.summary),
        "metrics": {m: asdict(i) for m, i in run.metrics.items()},
        "per_query": run.per_query,
    }
    _emit(args, payload, "\n".join(lines))
    return EXIT_OK


def cmd_runs_diff(args: argparse.Namespace, settings: Settings) -> int:
    from core.service.runs import compare

    compared = compare(_store(settings), args.runs)
    found = compared.diffs
    payload = found[0].as_dict() if len(found) == 1 else {"diffs": [d.as_dict() for d in found]}
    _emit(args, payload, "\n\n".join(_diff_text(d, compared.queries) for d in found))
    return EXIT_OK


def _diff_text(found, queries: dict[str, str]) -> str:
    from core.evaluate.report import table_text
    from core.evaluate.run_tables import (
        GAINED_LOST_SHOWN,
        agreement_text,
        changed_table,
        diff_metrics_table,
        outcomes_text,
        shared_text,
    )

    gained, lost = found.gained(GAINED_LOST_SHOWN), found.lost(GAINED_LOST_SHOWN)
    return "\n".join(
        [
            f"A {found.a.id[:12]}  {found.a.name}",
            f"B {found.b.id[:12]}  {found.b.name}",
            f"{shared_text(found)}: B minus A, its 95% paired bootstrap interval, and p from a paired sign-flip test",
            table_text(diff_metrics_table(found)),
            f"{outcomes_text(found)}; {agreement_text(found)}",
            f"the queries B gained most on ({len(gained)} of {found.wins}):",
            table_text(changed_table(found, queries, chosen=gained)),
            f"the queries B lost most on ({len(lost)} of {found.losses}):",
            table_text(changed_table(found, queries, chosen=lost)),
        ]
    )


def cmd_runs_export(args: argparse.Namespace, settings: Settings) -> int:
    from core.service.runs import export_run

    sys.stdout.write(export_run(_store(settings), args.run, args.format))
    return EXIT_OK


def cmd_runs_import(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict
    from pathlib import Path

    from core.access import require_write
    from core.errors import RunFileError
    from core.evaluate.run_files import read_runs_jsonl
    from core.service.runs import import_runs

    actor = require_write(_actor(settings), f"import saved runs from {args.file}")
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise RunFileError(f"Cannot read {args.file} ({exc.strerror or exc}): check the path.") from exc
    done = import_runs(_store(settings), read_runs_jsonl(data, args.file), actor)
    _emit(args, asdict(done), f"From {args.file}: {done.added} runs added, {done.replaced} replaced.")
    return EXIT_OK


def cmd_runs_delete(args: argparse.Namespace, settings: Settings) -> int:
    from core.service.runs import delete_run

    gone = delete_run(_store(settings), args.run, _actor(settings))
    _emit(args, {"id": gone.id, "name": gone.name}, f"Deleted run {gone.id} ({gone.name}).")
    return EXIT_OK


def cmd_query_sets_list(args: argparse.Namespace, settings: Settings) -> int:
    from core.service.query_sets import query_sets

    found = query_sets(_store(settings), args.library)
    payload = [
        {"name": s.name, "queries": len(s.queries), "source": s.source, "created_at": s.created_at, "by": s.created_by}
        for s in found
    ]
    lines = [f"{s.name}: {len(s.queries)} queries from {s.source} ({s.created_at}, {s.created_by})" for s in found]
    _emit(
        args,
        payload,
        "\n".join(lines) or f"Library '{args.library}' has no query set yet: add one with `query-sets add`.",
    )
    return EXIT_OK


def cmd_query_sets_add(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from core.access import require_write
    from core.errors import QuerySetError
    from core.evaluate.query_sets import JUDGMENTS, file_queries, judged_queries
    from core.service.query_sets import create_query_set

    actor = require_write(_actor(settings), f"make a query set in library '{args.library}'")
    store = _store(settings)
    if args.from_judgments:
        queries, source = judged_queries(store.judgments.list(args.library), args.library), JUDGMENTS
    else:
        try:
            data = Path(args.file).read_bytes()
        except OSError as exc:
            raise QuerySetError(f"Cannot read {args.file} ({exc.strerror or exc}): check the path.") from exc
        queries, source = file_queries(data, args.file), Path(args.file).name
    made = create_query_set(store, args.library, args.name, queries, source, actor)
    _emit(
        args,
        {"library": made.library, "name": made.name, "queries": len(made.queries), "source": made.source},
        f"Query set '{made.name}' of '{made.library}': {len(made.queries)} queries from {made.source}.",
    )
    return EXIT_OK


def cmd_query_sets_run(args: argparse.Namespace, settings: Settings) -> int:
    from core.embed.loading import load_embedder
    from core.evaluate.results import run_key
    from core.search.set_run import check_columns
    from core.service.query_sets import run_query_set
    from core.types import Fusion, HybridParams, SearchMode

    params = HybridParams(fusion=Fusion.WEIGHTED, weight=args.weight) if args.weight is not None else None
    modes = [SearchMode(m) for m in dict.fromkeys(args.mode or ["dense"])]
    columns = [run_key(model, mode, params) for model in dict.fromkeys(args.model) for mode in modes]
    check_columns(columns)  # before any model is loaded
    # Keyword columns read the chunk text: only models searched densely are loaded (naming one asks for it).
    needed = dict.fromkeys(c.model for c in columns if c.mode != SearchMode.KEYWORD)
    embedders = {name: load_embedder(name, download=True, settings=settings) for name in needed}
    bar = ProgressBar(enabled=not args.quiet)
    try:
        found = run_query_set(_store(settings), args.library, args.name, columns, embedders, args.top_k, bar)
    finally:
        bar.close()
    _emit(args, found.as_dict(), _set_run_text(found))
    return EXIT_OK


def _set_run_text(found: SetRun) -> str:
    from core.evaluate.judgments import RELEVANT

    def mark(hit) -> str:
        return "?" if hit.verdict is None else "+" if hit.verdict >= RELEVANT else "-"

    lines = [
        f"Query set '{found.set_name}' of '{found.library}': {len(found.rows)} queries, top {found.top_k}; "
        f"{found.unjudged} shown documents unjudged (+ relevant, - not relevant, ? unjudged)"
    ]
    for pair in found.mean_agreement():
        lines.append(
            f"  {pair.model_a} vs {pair.model_b}: overlap@{found.top_k} {pair.overlap:.2f}, RBO {pair.rbo:.2f}"
        )
    for row in found.rows:
        lines.append(f"\n{row.query.id}  {row.query.text}  ({len(row.unjudged)} unjudged)")
        for label, hits in zip(found.labels, row.hits):
            lines.append(f"  {label}: " + "  ".join(f"{h.rank}.{mark(h)} {h.document} #{h.chunk}" for h in hits))
        lines += [f"  overlap {p.overlap:.2f}, RBO {p.rbo:.2f}: {p.model_a} vs {p.model_b}" for p in row.agreement]
    return "\n".join(lines)


def cmd_query_sets_delete(args: argparse.Namespace, settings: Settings) -> int:
    from core.service.query_sets import delete_query_set

    gone = delete_query_set(_store(settings), args.library, args.name, _actor(settings))
    _emit(
        args,
        {"library": gone.library, "name": gone.name, "queries": len(gone.queries)},
        f"Deleted query set '{gone.name}' ({len(gone.queries)} queries) of '{gone.library}'.",
    )
    return EXIT_OK


def _query_sets_parser(sub) -> None:
    """`query-sets list|add|run|delete`: each action takes --library and --json, as the other commands do."""
    p = sub.add_parser("query-sets", help="named sets of queries of a library, run over 2-4 models or modes")
    actions = p.add_subparsers(dest="action", required=True)

    def action(name: str, func, help_text: str) -> argparse.ArgumentParser:
        q = actions.add_parser(name, help=help_text)
        q.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        q.add_argument("--library", required=True)
        q.set_defaults(func=func)
        return q

    action("list", cmd_query_sets_list, "list the library's query sets")
    q = action("add", cmd_query_sets_add, "make a query set from a file or from the library's judged queries")
    q.add_argument("name", metavar="NAME")
    source = q.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", metavar="FILE", help="one query per line, or a BEIR queries.jsonl (.jsonl, .json)")
    source.add_argument("--from-judgments", action="store_true", help="every query the library holds a verdict for")
    q = action("run", cmd_query_sets_run, "search every query of a set in each model x mode, side by side")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--model", required=True, action="append", help="a model indexed in the library; repeat for more")
    q.add_argument("--mode", action="extend", type=_modes, help="dense, keyword or hybrid; repeat or join with commas")
    q.add_argument("--weight", type=_share, help="hybrid columns blend scores with this dense share instead of RRF")
    q.add_argument("--top-k", type=int, default=5)
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q = action("delete", cmd_query_sets_delete, "delete a query set")
    q.add_argument("name", metavar="NAME")


def _share(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{raw} is not between 0 and 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Potion Search: static-embedding search.")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        p.set_defaults(func=func)
        return p

    command("models", cmd_models, "list bundled, catalog and cached models")
    p = command("ingest", cmd_ingest, "index files or folders into a library")
    p.add_argument("paths", nargs="+")
    p.add_argument("--library", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--chunk-size", type=int)
    p.add_argument("--chunk-overlap", type=int)
    p.add_argument("--chunk-unit", choices=["tokens", "chars"])
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p = command("search", cmd_search, "search a library")
    p.add_argument("query")
    p.add_argument("--library", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--document", help="only search this document")
    p.add_argument("--mode", choices=["dense", "keyword", "hybrid"], default="dense")
    p.add_argument("--weight", type=_share, help="hybrid: blend scores with this dense share (0-1) instead of RRF")
    p.add_argument(
        "--explain", action="store_true", help="say why each hit matched (word and term shares) and its verdict"
    )
    p = command("evaluate", cmd_evaluate, "measure retrieval on a BEIR-style collection, with intervals and tests")
    p.description = EVALUATE_HELP + "."
    p.add_argument("folder", metavar="DIR", help="a BEIR-style collection folder")
    p.add_argument("--model", required=True, action="append", help="a model to evaluate; repeat for more")
    p.add_argument(
        "--mode",
        action="extend",
        type=_modes,
        help="dense, keyword or hybrid; repeat or join with commas (default dense)",
    )
    p.add_argument("--no-chunking", action="store_true", help="one chunk per document")
    p.add_argument("--chunk-size", type=int)
    p.add_argument("--chunk-overlap", type=int)
    p.add_argument("--chunk-unit", choices=["tokens", "chars"])
    p.add_argument(
        "--weight",
        action="append",
        type=_share,
        help="add a weighted hybrid run at this dense share (0-1) per model; repeat for more",
    )
    p.add_argument(
        "--tune-weight",
        action="store_true",
        help="add a hybrid run at a weight chosen by 5-fold cross-validation over the queries (sweep 0-1 by 0.1)",
    )
    p.add_argument(
        "--baseline",
        type=_run_name,
        help="MODEL:MODE the others are compared with, MODE dense, keyword, hybrid (RRF), hybrid@W or hybrid@tuned "
        "(default: the first run)",
    )
    p.add_argument(
        "--run-name",
        metavar="NAME",
        help="name the runs this evaluation saves (several: NAME · model mode each); default: settings and time",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p = command("adapt", cmd_adapt, "make a static model fitted to a library's text (needs requirements-adapt.txt)")
    p.add_argument("--library", required=True)
    p.add_argument("--name", required=True, help="the new model's name, then usable as --model NAME")
    p.add_argument("--model", help="the library's index whose chunks are read (default: its only one)")
    p.add_argument("--teacher", help="a sentence-transformers folder or hub id (default: packaged all-MiniLM-L6-v2)")
    p.add_argument("--dims", type=int, default=AdaptOptions.dims)
    p.add_argument("--epochs", type=int, default=AdaptOptions.epochs, help="at most; the best held-out epoch is kept")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--sentences",
        type=int,
        default=AdaptOptions.max_sentences,
        help="at most this many of the library's sentences are fitted on besides its chunks (0: chunks only)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--compare",
        action="store_true",
        help="then index the library with it and evaluate it against the --model index and BM25 (its judgments, "
        "or --collection)",
    )
    p.add_argument("--collection", metavar="DIR", help="with --compare: a labelled collection instead of judgments")
    p = command("compare-made", cmd_compare_made, "evaluate a model made here against its base model and BM25, at once")
    p.add_argument("--library", required=True)
    p.add_argument("--model", required=True, help="the model made here")
    p.add_argument("--base", help="the model to compare with (default: the library's only other index)")
    p.add_argument("--collection", metavar="DIR", help="a labelled collection (BEIR layout) instead of judgments")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    command("doctor", cmd_doctor, "check versions, the engine, the database, offline models and limits, in plain words")
    command("libraries", cmd_libraries, "list libraries and their models")
    p = command("create-library", cmd_create_library, "create an empty library")
    p.add_argument("library")
    p.add_argument(
        "--language",
        help="its documents' language, for keyword search: a name or ISO code (portuguese, pt, ...) or none "
        "(default: detected from the first documents indexed)",
    )
    p = command(
        "set-language",
        cmd_set_language,
        "set a library's language and analyze its keyword indexes anew from the stored text",
    )
    p.add_argument("library")
    p.add_argument("language", help="a name or ISO code (portuguese, pt, zh, ...) or none")
    p = command("rebuild", cmd_rebuild, "rebuild an index in the current schema (adds keyword search)")
    p.add_argument("--library", required=True)
    p.add_argument("--model", required=True)
    p = command(
        "vector-index",
        cmd_vector_index,
        "show or change the dense index of a library's model (flat: exact, the default; ivf_flat, hnsw where the "
        "engine has them) with its recall@10 against exact",
    )
    p.add_argument("index", nargs="?", help="KIND[:key=value,...], e.g. flat, ivf_flat:nlist=1024,nprobe=32, hnsw")
    p.add_argument("--library", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--measure", action="store_true", help="measure recall and latency again without changing it")
    p = command("serve", cmd_serve, "serve the Milvus Lite database over gRPC so several processes can share it")
    p.add_argument("--port", type=int, default=19530)
    p.add_argument("--host", default="127.0.0.1", help="loopback unless --expose")
    p.add_argument(
        "--expose",
        action="store_true",
        help="allow a --host beyond loopback (0.0.0.0, a LAN address): the engine has no authentication",
    )
    p.add_argument("--db", help="database path (default: POTION_DB_PATH)")
    # How core.storage.keeper starts the kept engine: at a unix socket beside the database, ending once idle.
    p.add_argument("--kept", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--idle-minutes", type=float, help=argparse.SUPPRESS)  # default: POTION_KEEP_ENGINE_MINUTES
    p = command(
        "engine",
        cmd_engine,
        "show, start or stop the engine kept running in the background for the Lite database (the app starts one)",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--start", action="store_true", help="start one if none runs")
    which.add_argument("--stop", action="store_true", help="stop it (a running app starts it again when it next asks)")
    p.add_argument("--idle-minutes", type=float, help="with --start: (default: POTION_KEEP_ENGINE_MINUTES)")
    p = command("audit", cmd_audit, "list who dropped, deleted, rebuilt, imported or changed what, newest first")
    p.add_argument("--limit", type=int, help="only the newest N entries")
    p = command("documents", cmd_documents, "list the documents of a library for a model")
    p.add_argument("--library", required=True)
    p.add_argument("--model", required=True)
    p = command("export-judgments", cmd_export_judgments, "write a library's judgments to a JSONL file")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--library", required=True)
    p = command(
        "import-judgments", cmd_import_judgments, "add judgments from an exported JSONL file to a library (idempotent)"
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--library", required=True)
    runs = sub.add_parser("runs", help="saved evaluation runs: list, show, diff, export, import, delete")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)

    def run_command(name: str, func, help_text: str, json_flag: bool = True) -> argparse.ArgumentParser:
        p = runs_sub.add_parser(name, help=help_text)
        if json_flag:
            p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        p.set_defaults(func=func, json=False)
        return p

    p = run_command("list", cmd_runs_list, "saved runs, newest first")
    p.add_argument("--dataset", help="only runs on this collection (its folder's name)")
    p.add_argument("--library", help="only runs on this library's own judgments")
    p = run_command("show", cmd_runs_show, "what made a run and its metrics with intervals")
    p.add_argument("run", metavar="ID", help="a run's id, or a unique start of it")
    p = run_command(
        "diff", cmd_runs_diff, "compare runs on the queries they share: B (and any more) against A, query by query"
    )
    p.add_argument("runs", metavar="ID", nargs="+", help="two or more run ids (or unique starts); the first is A")
    p = run_command("export", cmd_runs_export, "write a run to stdout: a TREC run file or JSON", json_flag=False)
    p.add_argument("run", metavar="ID")
    p.add_argument("--format", choices=["trec", "json"], default="trec")
    p = run_command("import", cmd_runs_import, "add runs from a JSON export (importing twice adds nothing)")
    p.add_argument("file", metavar="FILE")
    p = run_command("delete", cmd_runs_delete, "delete a saved run")
    p.add_argument("run", metavar="ID")
    p = command("delete-library", cmd_delete_library, "drop a library and all its indexes")
    p.add_argument("library")
    p = command("delete-document", cmd_delete_document, "remove one document from every index of a library")
    p.add_argument("document")
    p.add_argument("--library", required=True)
    p.add_argument("--model", action="append", help="only from this model's index; repeat for more")
    _query_sets_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from core.lifetime import exit_code, received_signal

    args = build_parser().parse_args(argv)
    try:
        return args.func(args, load_settings())  # read once here, passed to everything the command does
    except BrokenPipeError:
        # Whoever read the output (`| head`) closed it: nothing more is wanted, and Python would complain at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (PotionError, KeyboardInterrupt) as exc:
        # After a stop signal, whatever else went wrong while unwinding (the engine gone with the same Ctrl-C,
        # say) followed from the stop: it gets the one line a stop gets.
        signum = getattr(exc, "signum", signal.SIGINT) if isinstance(exc, KeyboardInterrupt) else received_signal()
        if signum is None:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_ERROR
    except Exception:
        signum = received_signal()
        if signum is None:
            raise
    stopped = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    print(f"error: {stopped}; run the same command again to finish (it resumes where it stopped).", file=sys.stderr)
    return exit_code(signum)
