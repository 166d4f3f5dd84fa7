"""A text file's lines, read from disk a block at a time: memory does not grow with the file.

The file is decoded by the rules core.read.formats.decode_text_file applies to bytes in memory (a BOM, UTF-16 told
by its zero bytes, strict UTF-8, then a guess), and refused as binary data by the same share of unprintable
characters over the whole text. Both need the whole file, so a first pass reads it once (decoding and counting,
keeping nothing); each iteration after that decodes it again, line by line.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from pathlib import Path

from core.read.formats import HEAD_BYTES, announced_encoding, guess_encoding, refuse_binary_share, unprintable_count

BLOCK_BYTES = 1024 * 1024  # read and decoded at a time by the first pass
# charset-normalizer guesses from samples of its input; a file that is not UTF-8 is guessed from its first 16 MB
# rather than held whole (an upload, in memory, is guessed from all of it, as before).
GUESS_BYTES = 16 * 1024 * 1024


class TextLines:
    """The lines of a text file without their "\\n", as `text.split("\\n")` gives them; iterable more than once.

    `position` is how many bytes of the file the current iteration has read (to a few KB): progress in the file.
    Iterating raises DocumentError before the first line when the file is binary data, OSError when it cannot
    be read."""

    def __init__(self, path: Path, name: str) -> None:
        self.path, self.name = path, name
        self.position = 0
        self._encoding: tuple[str, str] | None = None  # (codec, error handling), found by the first pass

    def __iter__(self) -> Iterator[str]:
        encoding, errors = self.encoding()
        self.position = 0
        with self.path.open("rb") as raw, io.TextIOWrapper(raw, encoding=encoding, errors=errors, newline="\n") as text:
            for line in text:
                self.position = raw.tell()
                yield line[:-1] if line.endswith("\n") else line

    def encoding(self) -> tuple[str, str]:
        """The codec and error handling that decode the file; the first call reads it whole once to choose them."""
        if self._encoding is None:
            self._encoding = _choose_encoding(self.path, self.name)
        return self._encoding


def _choose_encoding(path: Path, name: str) -> tuple[str, str]:
    with path.open("rb") as file:
        announced = announced_encoding(file.read(HEAD_BYTES))
    if announced:
        encoding, fits, errors = announced, True, "replace"
        counted = _decode_counting(path, encoding, errors)
    else:
        encoding, fits, errors = "utf-8", True, "strict"
        counted = _decode_counting(path, encoding, errors)
        if counted is None:
            with path.open("rb") as file:
                (encoding, fits), errors = guess_encoding(file.read(GUESS_BYTES)), "replace"
            counted = _decode_counting(path, encoding, errors)
    assert counted is not None, "a codec with errors='replace' decodes any bytes"
    unprintable, length = counted
    refuse_binary_share(unprintable / length if length else 0.0, fits, name)
    return encoding, errors


def _decode_counting(path: Path, encoding: str, errors: str) -> tuple[int, int] | None:
    """Unprintable characters and characters of the whole file decoded so; None if it does not decode strictly."""
    decoder = codecs.getincrementaldecoder(encoding)(errors)
    unprintable = length = 0
    try:
        with path.open("rb") as file:
            while block := file.read(BLOCK_BYTES):
                text = decoder.decode(block)
                unprintable, length = unprintable + unprintable_count(text), length + len(text)
            text = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    return unprintable + unprintable_count(text), length + len(text)
