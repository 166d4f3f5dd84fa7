"""What an adaptation is asked to do (options), how it reports (stages, progress) and what it made (result)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class AdaptStage(StrEnum):
    """The stages in the order they run; progress reports (stage, done, total) for each."""

    DISTIL = "distil"  # one forward pass of the teacher per vocabulary token
    TARGETS = "targets"  # sentences picked and chunks cut to what the teacher sees
    TEACHER = "teacher"  # the teacher embeds every target text (the slow part)
    FIT = "fit"  # token vectors fitted to the teacher's vectors, batch by batch
    REDUCE = "reduce"  # projection onto the top eigenvectors
    SAVE = "save"


ProgressFn = Callable[[str, int, int], None]
CancelFn = Callable[[], bool]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def _never() -> bool:
    return False


@dataclass(frozen=True)
class AdaptOptions:
    """Defaults are the issue's recipe (256 dims, batch 256, Adam 1e-3, 5% held out, patience 2), on chunks only."""

    teacher: str | None = None  # a sentence-transformers folder or hub id; None: the packaged all-MiniLM-L6-v2
    dims: int = 256
    # The most. The best held-out epoch is kept and fitting stops after `patience` worse ones, so a large library
    # stops early (SciFact's best: 24); a small one needs many epochs of few steps (Cranfield's best: 86).
    epochs: int = 100
    seed: int = 0
    # Sentences sampled besides the chunks. 0 by default: on SciFact the chunks alone gave the same dense nDCG@10
    # (0.629 against 0.626 with 40k sentences) for under a third of the teacher's time (376 s against 1221 s).
    max_sentences: int = 0
    min_words: int = 4
    batch_size: int = 256
    learning_rate: float = 1e-3
    held_out: float = 0.05
    patience: int = 2
    sif_coefficient: float = 1e-4
    threads: int | None = None  # torch threads; None: every core. Results are repeatable for one thread count
    teacher_batch: int = 32
    library: str = ""  # only recorded in the card
    progress: ProgressFn = field(default=_no_progress, compare=False, repr=False)
    cancelled: CancelFn = field(default=_never, compare=False, repr=False)


@dataclass(frozen=True)
class AdaptResult:
    name: str
    path: Path
    dims: int
    seconds: float
    stage_seconds: dict[str, float]
    chunks: int
    targets: int
    epochs_run: int
    best_epoch: int
    held_out_loss: float
    teacher: str
    teacher_fingerprint: str

    def as_dict(self) -> dict:
        return {
            "model": self.name,
            "path": str(self.path),
            "dims": self.dims,
            "seconds": round(self.seconds, 2),
            "stage_seconds": {k: round(v, 2) for k, v in self.stage_seconds.items()},
            "chunks": self.chunks,
            "targets": self.targets,
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "held_out_loss": round(self.held_out_loss, 6),
            "teacher": self.teacher,
            "teacher_fingerprint": self.teacher_fingerprint,
        }
