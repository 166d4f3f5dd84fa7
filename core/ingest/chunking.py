"""Split a document's text into overlapping chunks on paragraph and sentence boundaries."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from core.errors import ChunkingError

TokenCounter = Callable[[Sequence[str]], list[int]]
TokenIds = Callable[[Sequence[str]], list[list[int]]]

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# A sentence ends at . ! ? (optionally closed by a quote or bracket) followed by white space,
# or at a single line break (lists, headings, table rows).
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(\s+)|(\n)")
_WORD = re.compile(r"\S+")


class ChunkUnit(StrEnum):
    TOKENS = "tokens"
    CHARS = "chars"


@dataclass(frozen=True)
class ChunkSettings:
    size: int = 128  # measured on Cranfield and SciFact: see README "Chunking defaults"
    overlap: int = 26
    unit: ChunkUnit = ChunkUnit.TOKENS

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ChunkingError(f"Chunk size must be at least 1 (got {self.size}).")
        if not 0 <= self.overlap < self.size:
            raise ChunkingError(
                f"Chunk overlap must be between 0 and size - 1 (got {self.overlap} for size {self.size})."
            )
        object.__setattr__(self, "unit", ChunkUnit(self.unit))

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "unit": self.unit.value}


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    start: int  # character offset of the chunk in the document text
    end: int
    # The tokenizer's ids of the text, when chunking was given them: the sentences' ids joined, which
    # equals tokenizing the chunk for tokenizers that split at white space (Embedder.ids_concatenate).
    token_ids: tuple[int, ...] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    paragraph_start: bool


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans, cursor = [], 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        spans.append((cursor, match.start()))
        cursor = match.end()
    spans.append((cursor, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans, cursor = [], start
    for match in _SENTENCE_END.finditer(text, start, end):
        # The sentence keeps its closing quote or bracket; only the white space after it separates.
        spans.append((cursor, match.start(1) if match.group(1) is not None else match.start(2)))
        cursor = match.end()
    spans.append((cursor, end))
    return [_strip(text, s, e) for s, e in spans if text[s:e].strip()]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _segments(text: str) -> list[_Span]:
    """Sentences in reading order, each marked when it opens a paragraph."""
    out = []
    for p_start, p_end in _paragraph_spans(text):
        for i, (s, e) in enumerate(_sentence_spans(text, p_start, p_end)):
            out.append(_Span(s, e, paragraph_start=i == 0))
    return out


@dataclass(frozen=True)
class _Unit:
    span: _Span
    size: int
    ids: tuple[int, ...] | None = None


def _measure(text: str, spans: Sequence[_Span], unit: ChunkUnit, counter: _Counter) -> list[_Unit]:
    pieces = [text[s.start : s.end] for s in spans]
    if unit is ChunkUnit.CHARS:
        return [_Unit(span, len(p)) for span, p in zip(spans, pieces)]
    if counter.token_ids is not None:
        return [_Unit(span, max(1, len(ids)), tuple(ids)) for span, ids in zip(spans, counter.token_ids(pieces))]
    if counter.count_tokens is None:
        raise ChunkingError("Chunking in tokens needs the model's tokenizer; pass count_tokens or use unit 'chars'.")
    return [_Unit(span, max(1, n)) for span, n in zip(spans, counter.count_tokens(pieces))]


@dataclass(frozen=True)
class _Counter:
    count_tokens: TokenCounter | None
    token_ids: TokenIds | None


def _split_long(text: str, span: _Span, size: int, unit: ChunkUnit, counter: _Counter) -> list[_Unit]:
    """Cut a sentence longer than a whole chunk at word boundaries into pieces that fit."""
    found = _WORD.finditer(text[span.start : span.end])
    words = _measure(text, [_Span(span.start + m.start(), span.start + m.end(), False) for m in found], unit, counter)
    pieces: list[list[_Unit]] = [[]]
    used = 0
    for word in words:
        sep = 1 if unit is ChunkUnit.CHARS and used else 0
        if used and used + sep + word.size > size:
            pieces.append([])
            used, sep = 0, 0
        pieces[-1].append(word)
        used += sep + word.size
    out = [_joined(text, group, unit) for group in pieces]
    first = out[0]
    return [_Unit(_Span(first.span.start, first.span.end, span.paragraph_start), first.size, first.ids), *out[1:]]


def _joined(text: str, words: list[_Unit], unit: ChunkUnit) -> _Unit:
    span = _Span(words[0].span.start, words[-1].span.end, False)
    if unit is ChunkUnit.CHARS:
        return _Unit(span, span.end - span.start)
    return _Unit(span, sum(w.size for w in words), _joined_ids(words))


def chunk_text(
    text: str,
    settings: ChunkSettings,
    count_tokens: TokenCounter | None = None,
    *,
    token_ids: TokenIds | None = None,
) -> list[Chunk]:
    """Greedy packing of whole sentences up to `size`, carrying up to `overlap` of trailing sentences over.

    Sizes in tokens come from `token_ids` when given (each chunk then carries its ids), else `count_tokens`."""
    spans = _segments(text)
    if not spans:
        return []
    counter = _Counter(count_tokens, token_ids)
    units: list[_Unit] = []
    for measured in _measure(text, spans, settings.unit, counter):
        if measured.size > settings.size:
            units.extend(_split_long(text, measured.span, settings.size, settings.unit, counter))
        else:
            units.append(measured)
    return _pack(text, units, settings)


def _pack(text: str, units: list[_Unit], settings: ChunkSettings) -> list[Chunk]:
    chunks: list[Chunk] = []
    current: list[_Unit] = []
    used = 0
    chars = settings.unit is ChunkUnit.CHARS
    for unit in units:
        if chars and current:
            # in characters the gap between sentences counts too
            unit = _Unit(unit.span, unit.size + unit.span.start - current[-1].span.end)
        # Start a new chunk when this sentence does not fit, or when a new paragraph begins in a chunk
        # already past half its size: chunks then follow the author's structure.
        full = used + unit.size > settings.size
        paragraph_break = unit.span.paragraph_start and used >= settings.size // 2
        if current and (full or paragraph_break):
            chunks.append(_emit(text, len(chunks), current))
            current = _overlap_tail(current, settings.overlap, settings.size - unit.size)
            used = sum(u.size for u in current)
        current.append(unit)
        used += unit.size
    if current:
        chunks.append(_emit(text, len(chunks), current))
    return chunks


def _overlap_tail(units: list[_Unit], overlap: int, room: int) -> list[_Unit]:
    """The last whole sentences of a chunk, totalling at most `overlap` (and leaving room for the next)."""
    tail: list[_Unit] = []
    total = 0
    for unit in reversed(units):
        if total + unit.size > min(overlap, room):
            break
        tail.insert(0, unit)
        total += unit.size
    return tail


def _emit(text: str, index: int, units: list[_Unit]) -> Chunk:
    start, end = units[0].span.start, units[-1].span.end
    return Chunk(index=index, text=text[start:end], start=start, end=end, token_ids=_joined_ids(units))


def _joined_ids(units: list[_Unit]) -> tuple[int, ...] | None:
    """The units' token ids in order, or None when they were measured without ids."""
    return None if units[0].ids is None else tuple(i for u in units for i in u.ids or ())
