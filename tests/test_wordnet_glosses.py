"""The default model's fitting text: WordNet data lines read as "words: gloss", the licence header skipped."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from wordnet_glosses import WordNetMissingError, glosses, synset_text

# Lines in the layout of WordNet 3.0's data.* files (wndb(5WN)): offset, lexicographer file, synset type,
# word count in hex, word/lex-id pairs, pointers, then " | " and the gloss.
LAKE = "09328904 17 n 01 lake 0 005 @ 09225146 n 0000 | a body of (usually fresh) water surrounded by land  \n"
ABLE = (
    "00001740 00 a 02 able 0 capable(a) 0 005 = 05207437 n 0000 | "
    '(usually followed by `to\') having the necessary means; "able to swim"  \n'
)
HEADER = "  1 This software and database is being provided to you, the LICENSEE, by  \n"


def test_a_data_line_reads_as_its_words_then_its_gloss():
    assert synset_text(LAKE) == "lake: a body of (usually fresh) water surrounded by land"
    # Compound words lose their underscores, adjective syntax markers such as "(a)" are dropped, hex counts read.
    assert synset_text(ABLE).startswith("able, capable: (usually followed by `to') having the necessary means;")
    assert synset_text(HEADER) is None


def test_every_part_of_speech_is_read_in_file_order(tmp_path):
    for part, line in zip(("noun", "verb", "adj", "adv"), (LAKE, LAKE.replace("lake", "swim"), ABLE, ABLE)):
        (tmp_path / f"data.{part}").write_text(HEADER + line, encoding="utf-8")
    texts = glosses(tmp_path)
    assert [t.split(":")[0] for t in texts] == ["lake", "swim", "able, capable", "able, capable"]


def test_missing_wordnet_says_which_package_installs_it(tmp_path):
    with pytest.raises(WordNetMissingError, match="apt-get install wordnet-base"):
        glosses(tmp_path)
