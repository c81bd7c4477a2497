"""Callbacks that tests put into `dnaseq train` configs (importable as tests.train_helpers)."""
import os
import signal

from pytorch_lightning.callbacks import Callback


class KillAtStep(Callback):
    """SIGKILL the training process right after optimizer step ``step`` (before that step's
    checkpoint callbacks run, as a pre-empted job would die)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)
