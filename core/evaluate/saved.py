"""Every evaluation as saved runs: one `SavedRun` per run of an `EvaluationReport`, holding what was evaluated and
how, its metrics with intervals, every query's score in every measure and every query's top documents, so runs
made at different times (another weight, chunking or model) can be compared query by query later.

A run is plain values only: `as_dict` is its JSON form (what the database and run files keep) and `from_dict`
reads it back, refusing anything that is not a run in one sentence naming where it came from."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from core import __version__
from core.errors import RunFileError
from core.evaluate.datasets import Qrels
from core.evaluate.results import EvaluationReport, RunKey, RunResult
from core.evaluate.stats import Interval

RUN_ID = re.compile(r"[0-9a-f]{32}")
HEADLINE = "ndcg@10"  # the measure a run is listed by


@dataclass(frozen=True)
class RunSummary:
    """A run without its heavy parts (per-query scores, rankings, judgments): what a listing shows."""

    id: str  # uuid4 hex
    name: str
    created: str  # UTC, ISO 8601 to the second
    version: str  # Potion Search's (core.__version__)
    evaluated: str  # a collection's dataset name, or "library:<name>" for a library's own judgments
    library: str  # the library searched (a collection's eval library, or the judged library itself)
    qrels_hash: str  # sha256 over the sorted judgments: equal hashes, equal judgments
    queries: int  # judged queries the means are over
    model: str
    fingerprint: str  # of the model's weights
    mode: str
    fusion: str | None  # as RunKey: hybrid only
    weight: float | None
    chunking: str
    vector_index: str  # VectorIndex.label of the dense index searched
    means: dict[str, float]  # measure -> mean over the queries

    @property
    def key(self) -> RunKey:
        return RunKey(self.model, self.mode, self.fusion, self.weight)

    @property
    def settings_label(self) -> str:
        """ "minilm-static-64 hybrid w=0.3": the model and how it searched (RunKey.label)."""
        return f"{self.model} {self.key.label()}"


@dataclass(frozen=True)
class SavedRun:
    summary: RunSummary
    metrics: dict[str, Interval]  # measure -> mean with its 95% bootstrap interval
    per_query: dict[str, dict[str, float]]  # measure -> query id -> score
    ranking: dict[str, list[tuple[str, float]]]  # query id -> its top documents (doc id, best chunk score)
    queries: dict[str, str]  # judged query id -> text
    qrels: Qrels  # judged query id -> {doc id: grade}
    seconds: float  # searching and ranking every query

    @property
    def id(self) -> str:
        return self.summary.id

    @property
    def name(self) -> str:
        return self.summary.name

    def as_dict(self) -> dict:
        """The run as JSON values: its summary, then the heavy parts."""
        return {
            "summary": asdict(self.summary),
            "metrics": {m: asdict(i) for m, i in self.metrics.items()},
            "per_query": self.per_query,
            "ranking": {qid: [[doc, score] for doc, score in docs] for qid, docs in self.ranking.items()},
            "queries": self.queries,
            "qrels": self.qrels,
            "seconds": self.seconds,
        }


def qrels_hash(qrels: Mapping[str, Mapping[str, int]]) -> str:
    """sha256 over the judgments sorted (query, document, grade), written as JSON so no id can run into another."""
    rows = sorted((qid, doc, int(grade)) for qid, judged in qrels.items() for doc, grade in judged.items())
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode("utf-8")).hexdigest()


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def minute_text(created: str) -> str:
    """A run's time to the minute, as its default name and its listing write it: "2026-12-05 21:40" (UTC)."""
    return created[:16].replace("T", " ")


def default_name(result: RunResult, created: str) -> str:
    """A run named by its settings and time: "minilm-static-64 hybrid w=0.3 · 2026-12-05 21:40" (UTC)."""
    return f"{result.model} {result.key.label()} · {minute_text(created)}"


def run_names(report: EvaluationReport, name: str | None, created: str) -> list[str]:
    """Each run's name: the one given names a lone run, and with several each adds its settings so they differ;
    none given, each is named by its settings and time."""
    given = " ".join((name or "").split())
    if not given:
        return [default_name(r, created) for r in report.results]
    if len(report.results) == 1:
        return [given]
    return [f"{given} · {r.model} {r.key.label()}" for r in report.results]


def build_runs(report: EvaluationReport, name: str | None = None, created: str | None = None) -> list[SavedRun]:
    """The saved runs of one evaluation, one per RunResult, each with a new id."""
    created = created or now_utc()
    hashed = qrels_hash(report.qrels)
    return [
        _saved(result, report, run_name, created, hashed)
        for result, run_name in zip(report.results, run_names(report, name, created), strict=True)
    ]


def _saved(result: RunResult, report: EvaluationReport, name: str, created: str, hashed: str) -> SavedRun:
    summary = RunSummary(
        id=uuid.uuid4().hex,
        name=name,
        created=created,
        version=__version__,
        evaluated=report.evaluated or report.dataset,
        library=result.library,
        qrels_hash=hashed,
        queries=report.queries,
        model=result.model,
        fingerprint=result.fingerprint,
        mode=str(result.mode),
        fusion=result.fusion,
        weight=result.weight,
        chunking=result.chunking,
        vector_index=result.vector_index,
        means={m: i.mean for m, i in result.metrics.items()},
    )
    judged = set(report.qrels)
    return SavedRun(
        summary=summary,
        metrics=dict(result.metrics),
        per_query={m: dict(scores) for m, scores in result.per_query.items()},
        ranking={qid: list(docs) for qid, docs in result.ranking.items()},
        queries={qid: text for qid, text in report.judged.items() if qid in judged},
        qrels={qid: dict(docs) for qid, docs in report.qrels.items()},
        seconds=result.seconds,
    )


# --- reading back ----------------------------------------------------------------------------------

_SUMMARY_FIELDS = [f.name for f in fields(RunSummary)]


def summary_from_dict(data: object, source: str) -> RunSummary:
    """A summary from its JSON form; RunFileError naming `source` if it is not one."""
    try:
        return _summary(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunFileError(f"{source} is not a run Potion Search saved ({_what(exc)}).") from exc


def run_from_dict(data: object, source: str) -> SavedRun:
    """A whole run from `SavedRun.as_dict` output; RunFileError naming `source` if it is not one."""
    try:
        return SavedRun(
            summary=_summary(data["summary"]),
            metrics={
                m: Interval(_number(i["mean"]), _number(i["low"]), _number(i["high"]))
                for m, i in _items(data, "metrics")
            },
            per_query={m: {q: _number(v) for q, v in _items(scores)} for m, scores in _items(data, "per_query")},
            ranking={q: [(_text(doc), _number(score)) for doc, score in docs] for q, docs in _items(data, "ranking")},
            queries={q: _text(text) for q, text in _items(data, "queries")},
            qrels={q: {d: int(g) for d, g in _items(judged)} for q, judged in _items(data, "qrels")},
            seconds=_number(data["seconds"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunFileError(f"{source} is not a run Potion Search saved ({_what(exc)}).") from exc


def _summary(data: object) -> RunSummary:
    if not isinstance(data, dict):
        raise TypeError("a JSON object was expected")
    missing = [name for name in _SUMMARY_FIELDS if name not in data]
    if missing:
        raise KeyError(", ".join(missing))
    if not isinstance(data["id"], str) or not RUN_ID.fullmatch(data["id"]):
        raise ValueError(f"its id {data['id']!r} is not 32 hex digits")
    weight = data["weight"]
    return RunSummary(
        **{name: _text(data[name]) for name in _SUMMARY_FIELDS if name not in ("queries", "fusion", "weight", "means")},
        queries=int(data["queries"]),
        fusion=None if data["fusion"] is None else _text(data["fusion"]),
        weight=None if weight is None else _number(weight),
        means={m: _number(v) for m, v in _items(data, "means")},
    )


def _items(data: object, name: str | None = None) -> list[tuple[str, Any]]:
    """The items of a JSON object (of its field `name`, if given)."""
    value = data[name] if name is not None else data
    if not isinstance(value, dict):
        raise TypeError(f"{name or value!r} is not a JSON object")
    return list(value.items())


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not text")
    return value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def _what(exc: Exception) -> str:
    return f"missing {exc.args[0]}" if isinstance(exc, KeyError) else str(exc)
