"""What ``dnaseq train`` prints: progress bars on a terminal, one line per epoch otherwise.

Lightning's progress bar redraws itself with carriage returns; in a log file (a batch job,
``dnaseq train ... > train.log``) that is hundreds of lines of bars. So unless the config sets
``trainer.enable_progress_bar``, bars are shown only when stdout and stderr are both terminals,
and otherwise :class:`EpochSummary` prints one line per epoch::

    epoch 1/6  train_loss 0.6721  valid_loss 0.5970  valid_auroc 0.7389  41.2 s

:class:`LogInterval` fits ``log_every_n_steps`` (unless the config sets it) to epochs shorter
than Lightning's 50 steps, so short epochs still log their steps and Lightning does not warn.
:func:`quiet_fit_warnings` drops the two Lightning warnings that every ordinary run would print.
"""
from __future__ import annotations

import contextlib
import sys
import time
import warnings

from pytorch_lightning.callbacks import Callback

from ..data.datamodule import ChunkShuffleSampler

LIGHTNING_LOG_EVERY = 50  # Trainer(log_every_n_steps=None) means 50


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


def bars_wanted() -> bool:
    """Progress bars only when both stdout (where Lightning draws them) and stderr are terminals."""
    return _is_terminal(sys.stdout) and _is_terminal(sys.stderr)


class EpochSummary(Callback):
    """One line per training epoch on rank 0: epoch, train and validation loss, validation mean
    ROC AUC (a language model: validation bits per base), seconds."""

    METRICS = (("train_loss", ("train_loss_epoch", "train_loss")), ("valid_loss", ("valid_loss",)),
               ("valid_auroc", ("valid_auroc",)), ("valid_bpb", ("valid_bpb",)))

    def __init__(self, stream=None) -> None:
        self.stream = stream
        self._started = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
        parts = [f"epoch {trainer.current_epoch + 1}" + (f"/{epochs}" if epochs else "")]
        for label, keys in self.METRICS:
            for key in keys:
                if key in metrics:
                    parts.append(f"{label} {float(metrics[key]):.4f}")
                    break
        if self._started is not None:
            parts.append(f"{time.perf_counter() - self._started:.1f} s")
        print("  ".join(parts), file=self.stream or sys.stdout, flush=True)


def train_batches(trainer) -> int:
    """Training batches per epoch on this rank (dnaseq's data module; 0 when unknown)."""
    dm = trainer.datamodule
    try:
        src = dm.source("train")
        sampler = ChunkShuffleSampler(len(src), dm.batch_size, getattr(src, "chunk_rows", 1), shuffle=False,
                                      num_replicas=max(1, trainer.world_size), rank=trainer.global_rank, even=True)
        batches = len(sampler)
    except Exception:  # another data module: leave Lightning's default
        return 0
    limit = trainer.limit_train_batches
    if isinstance(limit, int):
        return min(batches, limit)
    return int(batches * float(limit)) if limit is not None else batches


class LogInterval(Callback):
    """``log_every_n_steps`` = min(50, batches per epoch) when the config does not set it."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage != "fit":
            return
        batches = train_batches(trainer)
        if 0 < batches < trainer.log_every_n_steps:
            trainer.log_every_n_steps = max(1, batches)


@contextlib.contextmanager
def quiet_fit_warnings(own_checkpoint_folder: bool):
    """Drop Lightning's "number of training batches is smaller than the logging interval" and,
    when the checkpoints go to the run's own folder (which dnaseq created and wrote config.yaml
    into before Lightning looks) or the run resumes, "Checkpoint directory ... exists and is not empty"."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*is smaller than the logging interval")
        if own_checkpoint_folder:
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        yield


__all__ = ["EpochSummary", "LogInterval", "bars_wanted", "quiet_fit_warnings", "train_batches"]
