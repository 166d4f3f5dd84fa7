"""Adapt: the stages in order, timed, reported and cancellable; the model appears only once it is whole."""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from core.adapt import card as cards
from core.adapt.distil import centre_and_weight, static_tokenizer, token_vectors
from core.adapt.extra import require_extra
from core.adapt.fit import fit, repeatable, token_ids
from core.adapt.options import AdaptOptions, AdaptResult, AdaptStage
from core.adapt.reduce import project
from core.adapt.targets import build_targets
from core.adapt.teacher import embed, load_teacher, visible_texts
from core.config import Settings
from core.errors import AdaptError

SAVED_DTYPE = np.float16  # as the bundled models: half the size, and no measurable loss in ranking


def adapt(chunks: list[str], name: str, out_dir: Path, options: AdaptOptions, settings: Settings) -> AdaptResult:
    """Make the static model `name` under `out_dir` from the library's chunk texts; see core.adapt."""
    require_extra()
    from model2vec import StaticModel

    cards.check_name(name, settings.models_dir)
    final = out_dir / name
    if final.exists():
        raise AdaptError(f"A model named '{name}' already exists in {out_dir}: pick another name or delete it.")
    texts = [c for c in chunks if c and c.strip()]
    if not texts:
        raise AdaptError("The library has no text to adapt to: index some documents first.")
    timings: dict[str, float] = {}

    @contextmanager
    def stage(which: AdaptStage):
        started = time.perf_counter()
        yield
        timings[which.value] = time.perf_counter() - started

    with repeatable(options.seed, options.threads):
        with stage(AdaptStage.DISTIL):
            options.progress(AdaptStage.DISTIL, 0, 1)  # loading the teacher takes seconds: say which stage it is
            teacher = load_teacher(options.teacher, settings)
            if options.dims > teacher.dim:
                raise AdaptError(f"{options.dims} dimensions cannot be kept from a teacher of {teacher.dim}.")
            vocabulary = teacher.tokenizer.get_vocab()
            start = centre_and_weight(
                token_vectors(teacher, options.progress, options.cancelled, AdaptStage.DISTIL),
                vocabulary,
                options.sif_coefficient,
            )
        with stage(AdaptStage.TARGETS):
            options.progress(AdaptStage.TARGETS, 0, 1)
            picked = build_targets(texts, options.max_sentences, options.min_words, options.seed)
            targets = picked.sentences + visible_texts(teacher, picked.documents)
            options.progress(AdaptStage.TARGETS, 1, 1)
        with stage(AdaptStage.TEACHER):
            goal = embed(
                teacher, targets, options.teacher_batch, options.progress, options.cancelled, AdaptStage.TEACHER
            )
            goal -= goal.mean(axis=0)
        tokenizer = static_tokenizer(teacher)
    with stage(AdaptStage.FIT):
        fitted = fit(start, token_ids(tokenizer, targets, teacher.tokenizer.unk_token_id), goal, options)
    with stage(AdaptStage.REDUCE):
        options.progress(AdaptStage.REDUCE, 0, 1)
        reduced = project(fitted.vectors, options.dims)
        options.progress(AdaptStage.REDUCE, 1, 1)
    with stage(AdaptStage.SAVE):
        options.progress(AdaptStage.SAVE, 0, 1)
        # Written beside the final folder, then renamed: a stopped run never leaves half a model to load.
        out_dir.mkdir(parents=True, exist_ok=True)
        partial = out_dir / f".{name}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        model = StaticModel(
            vectors=reduced.astype(SAVED_DTYPE),
            tokenizer=tokenizer,
            config={"model_type": "model2vec", "hidden_dim": options.dims, "apply_pca": options.dims},
            normalize=True,
            base_model_name=teacher.name,
        )
        model.save_pretrained(partial)
        (partial / "README.md").write_text(
            cards.readme_text(
                name, teacher.name, options.library or "a library", len(targets), options.dims,
                cards.default_licence(teacher.name),
            ),
            encoding="utf-8",
        )  # fmt: skip
        options.progress(AdaptStage.SAVE, 1, 1)
    try:
        cards.write_card(
            partial,
            cards.make_card(
                name,
                partial,
                options,
                teacher,
                chunks=len(texts),
                sentences=len(picked.sentences),
                documents=len(picked.documents),
                fitted=fitted,
                stage_seconds=timings,
                dtype=np.dtype(SAVED_DTYPE).name,
                vocab_size=len(vocabulary),
            ),
        )
        if final.exists():
            raise AdaptError(f"A model named '{name}' appeared in {out_dir} meanwhile: pick another name.")
        partial.rename(final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return AdaptResult(
        name=name,
        path=final,
        dims=options.dims,
        seconds=sum(timings.values()),
        stage_seconds=dict(timings),
        chunks=len(texts),
        targets=fitted.texts_used,
        epochs_run=fitted.epochs_run,
        best_epoch=fitted.best_epoch,
        held_out_loss=min(fitted.held_out_losses),
        teacher=teacher.name,
        teacher_fingerprint=teacher.fingerprint,
    )
