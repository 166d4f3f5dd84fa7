"""Keyword search in a library's own language: the language table, the analyzer the engine builds and the one Python
reproduces agreeing on real Milvus Lite, libraries made in, detected in and moved to a language, on both stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import snowballstemmer

from core.access import Actor, Identity
from core.errors import ReadOnlyError, UnknownLanguageError
from core.ingest.language import detection
from core.search.keyword_explain import corpus_stats, explain_keyword, keyword_spans
from core.search.query import search
from core.service.audit import AuditAction, entries
from core.service.jobs import JobRunner
from core.service.language import library_language, set_language, start_set_language
from core.service.libraries import create_library
from core.storage.analyzers import (
    LANGUAGES,
    NONE,
    analyzer_params,
    language_of,
    language_of_analyzer,
)
from core.storage.bm25 import analyze
from core.types import CollectionMeta, SearchMode
from tests.conftest import BUNDLED_SMALL, index_texts

ROOT = Path(__file__).resolve().parents[1]
PT_DOC = "Os pesquisadores transformam documentos em vetores."
OTHER_DOC = "A cozinha serve pão e sopa ao meio-dia."

# Inflected pairs each only its language's Snowball stemmer joins, English's does not (checked first below).
PAIRS = {
    "portuguese": ("transformam", "transformar"),
    "spanish": ("corren", "corriendo"),
    "french": ("nationaux", "nationale"),
    "german": ("Häuser", "Haus"),
}

# Words of one lemma or a few, per stemmed language: which of them each query finds is asked of the engine and of
# Python; they must agree, whether or not the stemmer joins them.
WORDS = {
    "danish": ["hus", "huset", "husene", "og"],
    "dutch": ["huizen", "huis", "lopen", "lopend", "het"],
    "finnish": ["talo", "talossa", "taloissa", "talon"],
    "french": ["nationaux", "nationale", "mangeons", "manger", "les", "été"],
    "german": ["Häuser", "Haus", "Zeitungen", "Zeitung", "kaufte", "kaufen", "und"],
    "greek": ["δρόμος", "δρόμου", "δρόμοι"],
    "hungarian": ["házak", "ház", "házban"],
    "italian": ["parlare", "parlano", "parlato", "della"],
    "norwegian": ["hus", "huset", "husene"],
    "portuguese": ["transformam", "transformar", "função", "funções", "os", "não", "pesquisadores"],
    "romanian": ["orașe", "orașul", "oraș"],
    "russian": ["книги", "книга", "книгой"],
    "spanish": ["corren", "corriendo", "canciones", "canción", "los"],
    "swedish": ["husen", "hus", "bilarna", "bil", "och"],  # not "huset": see core.storage.analyzers
    "turkish": ["kitaplar", "kitap", "kitabı", "evler", "ev"],
    "chinese": ["研究人员把文档转换成向量", "今天天气很好", "文档", "转换", "向量", "Hello World", "hello"],
}


# --- the table ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["pt", "PT", "portuguese", "Português", "portugues", "pt-BR"])
def test_a_language_is_named_by_its_code_its_english_name_or_its_own(text):
    assert language_of(text).code == "pt"
    assert language_of(text).analyzer == "portuguese"


def test_an_unknown_language_is_refused_with_the_choices():
    with pytest.raises(UnknownLanguageError) as raised:
        language_of("klingon")
    assert "klingon" in str(raised.value) and "portuguese (pt)" in str(raised.value)


def test_english_keeps_the_engines_english_analyzer_and_none_is_plain():
    assert language_of("en").analyzer == "english"
    assert analyzer_params("english") == {"type": "english"}  # existing libraries' scores do not move
    assert language_of("none") is NONE and NONE.analyzer == "standard"
    assert language_of("polish").analyzer == "standard"  # no stemmer in the engine: the plain fallback


def test_every_stemmed_language_has_the_engines_stemmer_and_snowballs():
    stemmed = {lang.name for lang in LANGUAGES if lang.stemmed}
    assert stemmed == set(WORDS) - {"chinese"} | {"english"}
    assert {lang.stemmer for lang in LANGUAGES if lang.stemmed} <= set(snowballstemmer.algorithms())
    assert language_of("arabic").analyzer == language_of("tamil").analyzer == "standard"  # see the module's notes


def test_a_registry_written_before_languages_reads_its_language_from_the_analyzer():
    def old(analyzer: str) -> CollectionMeta:
        row = {"library": "L", "model_name": "m", "model_source": "s", "model_kind": "k", "fingerprint": "f"}
        return CollectionMeta.from_json(json.dumps({**row, "dim": 8, "chunking": {}, "analyzer": analyzer}))

    assert old("english").language == "en"
    assert old("standard").language == "none"
    assert old("").language == ""
    assert language_of_analyzer("portuguese").code == "pt"


@pytest.mark.parametrize(("language", "pair"), PAIRS.items())
def test_each_pair_is_joined_by_its_languages_stemmer_only(language, pair):
    ours, english = snowballstemmer.stemmer(language), snowballstemmer.stemmer("english")
    a, b = (w.lower() for w in pair)
    assert ours.stemWord(a) == ours.stemWord(b)
    assert english.stemWord(a) != english.stemWord(b)
    assert [t.term for t in analyze(pair[0], language)] == [t.term for t in analyze(pair[1], language)]
    assert [t.term for t in analyze(pair[0], "english")] != [t.term for t in analyze(pair[1], "english")]


def test_snowballs_portuguese_stemmer_does_not_join_funcao_and_funcoes():
    # Why the pair above is "transformar"/"transformam": this one is no test of a Portuguese analyzer.
    stemmer = snowballstemmer.stemmer("portuguese")
    assert stemmer.stemWord("função") != stemmer.stemWord("funções")


# --- the engine and Python agree -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    from pymilvus import MilvusClient

    client = MilvusClient(str(tmp_path_factory.mktemp("lite") / "analyzers.db"))
    yield client
    client.close()


def _engine_hits(client, name: str, analyzer: str, rows: list[str], queries: list[str]) -> list[set[int]]:
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field(
        "text", DataType.VARCHAR, max_length=1000, enable_analyzer=True, analyzer_params=analyzer_params(analyzer)
    )
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]
        )
    )
    index = client.prepare_index_params()
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=schema, index_params=index)
    client.insert(name, [{"id": i, "text": text} for i, text in enumerate(rows)])
    found = client.search(name, data=queries, anns_field="sparse", limit=len(rows))
    return [{hit["id"] for hit in hits} for hits in found]


def _python_hits(analyzer: str, rows: list[str], queries: list[str]) -> list[set[int]]:
    terms = [{t.term for t in analyze(text, analyzer)} for text in rows]
    return [{i for i, row in enumerate(terms) if row & {t.term for t in analyze(q, analyzer)}} for q in queries]


@pytest.mark.parametrize("language", sorted(WORDS))
def test_the_engine_and_python_find_the_same_rows_for_every_word(lite, language):
    analyzer = language_of(language).analyzer
    rows = WORDS[language]
    expected = _python_hits(analyzer, rows, rows)
    assert _engine_hits(lite, f"words_{language}", analyzer, rows, rows) == expected
    if language in PAIRS:  # the pair really is joined, and a stop word really is dropped, on both sides
        a, b = (rows.index(w) for w in PAIRS[language])
        assert a in expected[b] and b in expected[a]


def test_the_english_analyzer_does_not_join_the_portuguese_pair_on_the_engine(lite):
    rows = list(PAIRS["portuguese"])
    assert _engine_hits(lite, "english_pt", "english", rows, rows) == [{0}, {1}]


# --- libraries in a language, end to end -------------------------------------------------------------------------


def _keyword(store, library: str, query: str) -> list[str]:
    return [hit.document for hit in search(query, library, BUNDLED_SMALL, store, mode=SearchMode.KEYWORD).hits]


def test_a_portuguese_library_finds_the_inflected_form_an_english_one_does_not(any_store, tmp_path):
    create_library(any_store, "pt", language=language_of("pt"))
    create_library(any_store, "en", language=language_of("english"))
    docs = {"vetores.txt": PT_DOC, "cozinha.txt": OTHER_DOC}
    index_texts(any_store, tmp_path / "pt", "pt", BUNDLED_SMALL, docs)
    index_texts(any_store, tmp_path / "en", "en", BUNDLED_SMALL, docs)
    assert any_store.catalog.find("pt", BUNDLED_SMALL).analyzer == "portuguese"
    assert any_store.catalog.find("pt", BUNDLED_SMALL).language == "pt"
    assert _keyword(any_store, "pt", "transformar") == ["vetores.txt"]
    assert _keyword(any_store, "en", "transformar") == []
    # The explanation stems the same way: the word highlighted is the one that matched.
    stats = corpus_stats([PT_DOC, OTHER_DOC], any_store.catalog.find("pt", BUNDLED_SMALL).analyzer)
    explained = explain_keyword("transformar", PT_DOC, stats)
    assert [PT_DOC[s:e] for s, e, _ in keyword_spans(explained)] == ["transformam"]


def test_a_chinese_library_finds_a_word_inside_a_sentence_the_plain_analyzer_keeps_whole(any_store, tmp_path):
    create_library(any_store, "zh", language=language_of("zh"))
    create_library(any_store, "plain", language=language_of("none"))
    docs = {"向量.txt": "研究人员把文档转换成向量。", "天气.txt": "今天天气很好。"}
    index_texts(any_store, tmp_path / "zh", "zh", BUNDLED_SMALL, docs)
    index_texts(any_store, tmp_path / "plain", "plain", BUNDLED_SMALL, docs)
    assert any_store.catalog.find("zh", BUNDLED_SMALL).analyzer == "chinese"
    assert _keyword(any_store, "zh", "文档") == ["向量.txt"]
    assert _keyword(any_store, "plain", "文档") == []  # one run of characters is one word to the standard tokenizer


def test_changing_the_language_makes_the_inflected_query_match_after_the_job(any_store, tmp_path):
    index_texts(any_store, tmp_path / "d", "lib", BUNDLED_SMALL, {"vetores.txt": PT_DOC, "cozinha.txt": OTHER_DOC})
    assert _keyword(any_store, "lib", "transformar") == []  # too short to detect: the default analyzer
    runner = JobRunner()
    job = start_set_language(any_store, runner, "lib", language_of("pt"))
    for thread in threading.enumerate():
        if thread.name.startswith("job-"):
            thread.join(120)
    finished = runner.get(job.key)
    assert finished.error is None, finished.error
    assert _keyword(any_store, "lib", "transformar") == ["vetores.txt"]
    assert library_language(any_store, "lib").language.code == "pt"
    assert any_store.index("lib", BUNDLED_SMALL).count() == 2  # the rows came along, vectors and all
    entry = entries(any_store, 1)[0]
    assert entry.action == AuditAction.SET_LANGUAGE and entry.library == "lib" and "Portuguese" in entry.what
    # And back: plain analysis no longer joins the forms.
    set_language(any_store, runner, "lib", language_of("none"))
    assert _keyword(any_store, "lib", "transformar") == []


def test_a_reader_may_not_change_a_librarys_language(any_store, tmp_path):
    index_texts(any_store, tmp_path / "d", "lib", BUNDLED_SMALL, {"vetores.txt": PT_DOC})
    reader = Actor("ana", Identity.OS_USER, may_write=False, why_read_only="read only here")
    with pytest.raises(ReadOnlyError):
        set_language(any_store, JobRunner(), "lib", language_of("pt"), actor=reader)
    with pytest.raises(ReadOnlyError):
        start_set_language(any_store, JobRunner(), "lib", language_of("pt"), actor=reader)
    assert library_language(any_store, "lib").language.code != "pt"


PORTUGUESE = (
    "Os pesquisadores transformam documentos em vetores para que a busca encontre os trechos mais próximos da "
    "pergunta, mesmo quando as palavras não são as mesmas. A biblioteca guarda os textos e os seus vetores."
)


def test_an_ingest_into_a_new_library_detects_its_language(any_store, tmp_path):
    assert detection([PORTUGUESE]).found.code == "pt"
    index_texts(any_store, tmp_path / "d", "novo", BUNDLED_SMALL, {"busca.txt": PORTUGUESE})
    assert any_store.catalog.language("novo") == "pt"
    assert any_store.catalog.find("novo", BUNDLED_SMALL).analyzer == "portuguese"
    assert _keyword(any_store, "novo", "transformar") == ["busca.txt"]


def test_detection_is_deterministic_and_unsure_of_too_little_text():
    assert detection(["Os pesquisadores"]) is None
    assert {detection([PORTUGUESE]).found.code for _ in range(3)} == {"pt"}


# --- the command line ------------------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_cli_creates_a_library_in_a_language_lists_it_and_changes_it(tmp_path, isolated_env):
    made = run_cli("create-library", "L", "--language", "pt", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["language"] == "pt"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "vetores.txt").write_text(PT_DOC, encoding="utf-8")
    ingest = run_cli("ingest", str(tmp_path / "docs"), "--library", "L", "--model", BUNDLED_SMALL, "--json")
    assert ingest.returncode == 0, ingest.stderr
    listed = {lib["name"]: lib for lib in json.loads(run_cli("libraries", "--json").stdout)}
    assert listed["L"]["language"] == "pt"
    assert listed["L"]["models"][0]["analyzer"] == "portuguese"
    found = run_cli("search", "transformar", "--library", "L", "--model", BUNDLED_SMALL, "--mode", "keyword", "--json")
    assert found.returncode == 0 and "vetores.txt" in found.stdout
    changed = run_cli("set-language", "L", "en", "--json")
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["language"] == "en"
    listed = {lib["name"]: lib for lib in json.loads(run_cli("libraries", "--json").stdout)}
    assert listed["L"]["language"] == "en" and listed["L"]["models"][0]["analyzer"] == "english"
    refused = run_cli("create-library", "M", "--language", "klingon")
    assert refused.returncode != 0 and "klingon" in refused.stderr
