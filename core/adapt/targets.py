"""Which texts the static model is fitted on: a seeded sample of the library's sentences, and every chunk."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# A sentence ends at . ! or ? followed by white space; good enough to make fitting targets (never shown).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Targets:
    sentences: list[str]
    documents: list[str]  # the chunks, deduplicated, in the order given

    @property
    def texts(self) -> list[str]:
        return self.sentences + self.documents


def sentences_of(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(" ".join(text.split())) if part.strip()]


def pick_sentences(texts: list[str], limit: int, min_words: int, seed: int) -> list[str]:
    """Up to `limit` distinct sentences of at least `min_words` words, drawn with `seed`: the same texts and
    seed give the same sample. Chunks overlap, so a sentence repeated across them counts once."""
    seen: dict[str, None] = {}
    for text in texts:
        for sentence in sentences_of(text):
            if len(sentence.split()) >= min_words:
                seen.setdefault(sentence, None)
    found = list(seen)
    if len(found) <= limit:
        return found
    keep = np.random.default_rng(seed).choice(len(found), size=limit, replace=False)
    return [found[i] for i in sorted(keep)]


def build_targets(chunks: list[str], limit: int, min_words: int, seed: int) -> Targets:
    """Sentences teach the words in short contexts, like queries; whole chunks teach what the index holds."""
    documents = list(dict.fromkeys(c for c in (" ".join(t.split()) for t in chunks) if c))
    sentences = pick_sentences(documents, limit, min_words, seed)
    return Targets(sentences, documents)
