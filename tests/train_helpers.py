"""Callbacks that tests put into `dnaseq train` configs (importable as tests.train_helpers), and
what tests read from checkpoints."""
import os
import signal
from typing import Dict

import torch
from pytorch_lightning.callbacks import Callback


class KillAtStep(Callback):
    """SIGKILL the training process right after optimizer step ``step`` (before that step's
    checkpoint callbacks run, as a pre-empted job would die)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class InterruptAtStep(Callback):
    """Ctrl-C as the training batch after optimizer step ``step`` starts: the loader has handed
    the batch out, the model has not trained on it."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


class InterruptAfterBackward(Callback):
    """Ctrl-C after the backward pass of the batch at optimizer step ``step`` (its dropout masks
    drawn), before the optimizer steps."""

    def __init__(self, step: int):
        self.step = step

    def on_after_backward(self, trainer, pl_module):
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


class InterruptBeforeProcessed(Callback):
    """Ctrl-C after the optimizer step of the batch at step ``step`` was counted, before Lightning
    counts the batch processed (the window a real SIGINT hit: the resumed run trained it twice)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        progress = trainer.fit_loop.epoch_loop.batch_progress
        if trainer.global_step == self.step:
            def interrupted():
                raise KeyboardInterrupt
            progress.increment_processed = interrupted


def checkpoint_metadata(path: str) -> Dict:
    """What a checkpoint records about itself: dnaseq's block, hyperparameters, epoch and step."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return {**ckpt.get("dnaseq", {}), "hyper_parameters": ckpt.get("hyper_parameters", {}),
            "epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step")}
