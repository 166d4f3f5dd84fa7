"""Split a document's text into overlapping chunks on paragraph and sentence boundaries."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum

from core.errors import ChunkingError

TokenCounter = Callable[[Sequence[str]], list[int]]

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# A sentence ends at . ! ? (optionally closed by a quote or bracket) followed by white space,
# or at a single line break (lists, headings, table rows).
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n")
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
        spans.append((cursor, match.start()))
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


def _measure(text: str, spans: Sequence[_Span], unit: ChunkUnit, count_tokens: TokenCounter | None) -> list[int]:
    pieces = [text[s.start : s.end] for s in spans]
    if unit is ChunkUnit.CHARS:
        return [len(p) for p in pieces]
    if count_tokens is None:
        raise ChunkingError("Chunking in tokens needs the model's tokenizer; pass count_tokens or use unit 'chars'.")
    return [max(1, n) for n in count_tokens(pieces)]


def _split_long(text: str, span: _Span, size: int, unit: ChunkUnit, count_tokens: TokenCounter | None) -> list[_Span]:
    """Cut a sentence longer than a whole chunk at word boundaries into pieces that fit."""
    words = [(span.start + m.start(), span.start + m.end()) for m in _WORD.finditer(text[span.start : span.end])]
    lengths = _measure(text, [_Span(s, e, False) for s, e in words], unit, count_tokens)
    pieces, piece_start, used = [], words[0][0], 0
    prev_end = words[0][1]
    for (w_start, w_end), n in zip(words, lengths):
        sep = 1 if unit is ChunkUnit.CHARS and used else 0
        if used and used + sep + n > size:
            pieces.append(_Span(piece_start, prev_end, False))
            piece_start, used, sep = w_start, 0, 0
        used += sep + n
        prev_end = w_end
    pieces.append(_Span(piece_start, prev_end, False))
    return [_Span(pieces[0].start, pieces[0].end, span.paragraph_start), *pieces[1:]]


def chunk_text(text: str, settings: ChunkSettings, count_tokens: TokenCounter | None = None) -> list[Chunk]:
    """Greedy packing of whole sentences up to `size`, carrying up to `overlap` of trailing sentences over."""
    spans = _segments(text)
    if not spans:
        return []
    lengths = _measure(text, spans, settings.unit, count_tokens)
    units: list[tuple[_Span, int]] = []
    for span, n in zip(spans, lengths):
        if n > settings.size:
            parts = _split_long(text, span, settings.size, settings.unit, count_tokens)
            units.extend(zip(parts, _measure(text, parts, settings.unit, count_tokens)))
        else:
            units.append((span, n))
    return _pack(text, units, settings)


def _pack(text: str, units: list[tuple[_Span, int]], settings: ChunkSettings) -> list[Chunk]:
    chunks: list[Chunk] = []
    current: list[tuple[_Span, int]] = []
    used = 0
    chars = settings.unit is ChunkUnit.CHARS
    for span, n in units:
        if chars and current:
            n += span.start - current[-1][0].end  # in characters the gap between sentences counts too
        unit = (span, n)
        # Start a new chunk when this sentence does not fit, or when a new paragraph begins in a chunk
        # already past half its size: chunks then follow the author's structure.
        full = used + n > settings.size
        paragraph_break = span.paragraph_start and used >= settings.size // 2
        if current and (full or paragraph_break):
            chunks.append(_emit(text, len(chunks), current))
            current = _overlap_tail(current, settings.overlap, settings.size - n)
            used = sum(m for _, m in current)
        current.append(unit)
        used += n
    if current:
        chunks.append(_emit(text, len(chunks), current))
    return chunks


def _overlap_tail(units: list[tuple[_Span, int]], overlap: int, room: int) -> list[tuple[_Span, int]]:
    """The last whole sentences of a chunk, totalling at most `overlap` (and leaving room for the next)."""
    tail: list[tuple[_Span, int]] = []
    total = 0
    for unit in reversed(units):
        if total + unit[1] > min(overlap, room):
            break
        tail.insert(0, unit)
        total += unit[1]
    return tail


def _emit(text: str, index: int, units: list[tuple[_Span, int]]) -> Chunk:
    start, end = units[0][0].start, units[-1][0].end
    return Chunk(index=index, text=text[start:end], start=start, end=end)
