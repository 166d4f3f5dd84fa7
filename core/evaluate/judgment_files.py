"""A library's judgments as files: BEIR qrels and queries to evaluate with elsewhere, and a lossless JSONL that
moves them to another library or database (a Lite file to a Milvus server, say) and back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

from core.access import Actor, require_write
from core.errors import LibraryNotFoundError
from core.evaluate.judgments import NOT_RELEVANT, RELEVANT, JudgmentError
from core.read.records import json_lines
from core.storage import Store
from core.types import Judgment

_FIELDS = {f.name for f in fields(Judgment)}
_UNWRITABLE_IN_TSV = ("\t", "\n", "\r")


@dataclass(frozen=True)
class QrelsExport:
    text: str
    left_out: list[str]  # documents whose names hold a tab or a line break, which qrels.tsv cannot carry


def qrels_tsv(judgments: Sequence[Judgment]) -> QrelsExport:
    """BEIR's qrels.tsv: a header, then query-id, corpus-id, score; not-relevant verdicts kept as 0."""
    lines, left_out = ["query-id\tcorpus-id\tscore"], []
    for j in judgments:
        if any(c in j.document for c in _UNWRITABLE_IN_TSV):
            left_out.append(j.document)
        else:
            lines.append(f"{j.query_id}\t{j.document}\t{j.relevance}")
    return QrelsExport("\n".join(lines) + "\n", sorted(set(left_out)))


def queries_jsonl(judgments: Sequence[Judgment]) -> str:
    """BEIR's queries.jsonl for the judged queries, one per line, in first-judged order."""
    seen: dict[str, str] = {}
    for j in judgments:
        seen.setdefault(j.query_id, j.query)
    return "".join(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n" for qid, text in seen.items())


def judgments_jsonl(judgments: Sequence[Judgment]) -> str:
    """Every judgment with every field, one JSON object per line: what `read_judgments_jsonl` reads back."""
    return "".join(json.dumps(asdict(j), ensure_ascii=False) + "\n" for j in judgments)


def read_judgments_jsonl(data: bytes | str, source: str) -> list[Judgment]:
    """Judgments from `judgments_jsonl` output; `source` names the file in errors. The library field is kept as read."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise JudgmentError(f"{source} is not UTF-8 text: export judgments again from Potion Search.") from exc
    # Not splitlines(): it also breaks at U+2028 and U+0085, which names may hold and the JSON keeps raw.
    found = [_judgment(record, source, number) for number, record in json_lines(text.split("\n"), source, _not_json)]
    if not found:
        raise JudgmentError(f"{source} holds no judgments: export them from a library's Judgments page or CLI.")
    return found


def _not_json(where: str, exc: ValueError) -> JudgmentError:
    return JudgmentError(f"{where} is not JSON ({exc}): export judgments again from Potion Search.")


def _judgment(record: object, source: str, number: int) -> Judgment:
    if not isinstance(record, dict) or not {"query", "document", "relevance"} <= record.keys():
        raise JudgmentError(
            f"{source} line {number} is not a judgment (it needs query, document and relevance): export judgments "
            "again from Potion Search."
        )
    values = {k: v for k, v in record.items() if k in _FIELDS}
    query, document, relevance = values["query"], values["document"], values["relevance"]
    if not isinstance(query, str) or not query.strip() or not isinstance(document, str) or not document:
        raise JudgmentError(f"{source} line {number} has an empty query or document: fix or remove that line.")
    if type(relevance) is not int or relevance not in (RELEVANT, NOT_RELEVANT):
        raise JudgmentError(
            f"{source} line {number} has relevance {relevance!r}: use {RELEVANT} (relevant) or {NOT_RELEVANT} (not)."
        )
    return Judgment(**{"library": "", **values, "query": " ".join(query.split())})


@dataclass(frozen=True)
class ImportSummary:
    library: str
    added: int
    replaced: int  # a verdict on the same query and document that differed, now the imported one
    unchanged: int


def import_judgments(
    store: Store, library: str, judgments: Sequence[Judgment], actor: Actor | None = None
) -> ImportSummary:
    """Put `judgments` into `library` (whatever library they came from); importing the same file twice adds nothing."""
    require_write(actor, f"import judgments into library '{library}'")
    if library not in store.catalog.names():
        raise LibraryNotFoundError(
            f"There is no library named '{library}' to import judgments into: create it or index its documents first."
        )
    current = {(j.query, j.document): j.relevance for j in store.judgments.list(library)}
    incoming = {(j.query, j.document): j for j in judgments}  # a later line on the same pair wins
    added = replaced = unchanged = 0
    for pair, judgment in incoming.items():
        if current.get(pair) == judgment.relevance:
            unchanged += 1
        elif pair in current:
            replaced += 1
        else:
            added += 1
        # Written even when it looks unchanged: on a server the listing above may be a second stale.
        store.judgments.put(Judgment(**{**asdict(judgment), "library": library}))
    return ImportSummary(library, added, replaced, unchanged)
