"""Princeton WordNet 3.0's glosses as fitting text for the bundled default model (scripts/build_models.py).

Broad English that is not an evaluation collection, under a licence that allows shipping derived weights (the
WordNet 3.0 licence: use, copy, modify and distribute with its notice kept, which the model card carries). Debian
serves it as the package `wordnet-base` (`apt-get install wordnet-base`), in /usr/share/wordnet.

One text per synset: its words, then its definition and usage examples, e.g.
"lake: a body of (usually fresh) water surrounded by land".
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_FOLDER = Path("/usr/share/wordnet")
PARTS = ("noun", "verb", "adj", "adv")
PACKAGE = "wordnet-base"
SOURCE = "Princeton WordNet 3.0 glosses (Debian package wordnet-base)"
LICENCE = (
    "WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. Permission to use, copy, modify "
    "and distribute this software and database and its documentation for any purpose and without fee or royalty "
    "is hereby granted, provided that the copyright notice and statements, including the disclaimer, appear on "
    "all copies. THIS SOFTWARE AND DATABASE IS PROVIDED 'AS IS' AND PRINCETON UNIVERSITY MAKES NO "
    "REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED."
)


class WordNetMissingError(RuntimeError):
    pass


def synset_text(line: str) -> str | None:
    """`offset lex_filenum ss_type w_cnt word lex_id ... | gloss` as "word, word: gloss"; None for other lines."""
    if line.startswith("  ") or " | " not in line:
        return None  # the licence header is indented; every data line has a gloss
    fields, gloss = line.split(" | ", 1)
    parts = fields.split()
    count = int(parts[3], 16)
    words = [parts[4 + 2 * i].replace("_", " ") for i in range(count)]
    # Adjective markers such as "(a)" or "(p)" are syntax codes, not words.
    words = [w.split("(")[0] if w.endswith(")") else w for w in words]
    return f"{', '.join(dict.fromkeys(words))}: {gloss.strip()}"


def glosses(folder: Path = DEFAULT_FOLDER) -> list[str]:
    """Every synset's text, nouns then verbs, adjectives and adverbs, in file order (so a rebuild matches)."""
    missing = [part for part in PARTS if not (folder / f"data.{part}").is_file()]
    if missing:
        raise WordNetMissingError(
            f"WordNet's data files are not in {folder}: install them with `apt-get install {PACKAGE}` "
            "or pass --wordnet DIR."
        )
    texts = []
    for part in PARTS:
        with open(folder / f"data.{part}", encoding="utf-8", errors="replace") as stream:
            texts.extend(text for text in map(synset_text, stream) if text)
    return texts
