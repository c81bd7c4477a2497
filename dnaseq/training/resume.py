"""Exact continuation of a killed training run.

Lightning's checkpoint already holds the weights, optimizer, scheduler, loop progress and the
callbacks' state (best checkpoint, early stopping), and it saves and restores the training
loader's position (:class:`dnaseq.data.datamodule.ResumableLoader`). What it does not hold is the state
of the global random generators, which dropout draws from. :class:`ExactResume` saves them with
every checkpoint and puts them back just before the first training batch after a restart, so the
resumed run draws the same dropout masks as a run that was never stopped.

The data module draws nothing from the global generators (its loaders and reverse-complement
flips have their own), so between a checkpoint and the next training batch nothing else moves
the stream. In DDP every rank restores rank 0's states: ranks are seeded alike, so their streams
agree.

:func:`step_checkpoint` is the ``save_every_n_steps`` option: ``last.ckpt`` rewritten every N
training steps as well as at the end of each epoch. :class:`LastEveryEpoch` makes sure of the
latter: since Lightning 2.6, ``ModelCheckpoint(save_last=True)`` rewrites ``last.ckpt`` only at a
step where it also saved a top-k checkpoint, so after an epoch that did not improve the monitored
metric ``last.ckpt`` would still hold an earlier epoch, and a resume would silently redo epochs.
"""
from __future__ import annotations

import os
import random
from typing import Any, Dict, Optional

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.trainer.states import TrainerFn


def rng_states() -> Dict[str, Any]:
    """The states of every global random generator (python, numpy, torch, CUDA where present)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    # plain types and tensors only: Lightning reads checkpoints with torch.load(weights_only=True)
    states = {"python": random.getstate(), "torch": torch.get_rng_state(),
              "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss))}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: Dict[str, Any]) -> None:
    """Put back what :func:`rng_states` saved."""
    random.setstate(states["python"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class ExactResume(Callback):
    """Saves the global random states with each checkpoint; restores them before the first
    training batch of a resumed run."""

    def __init__(self) -> None:
        self._pending: Optional[Dict[str, Any]] = None
        self._batch_start: Optional[Dict[str, Any]] = None  # the states as the current batch began
        self._rewound = False

    def state_dict(self) -> Dict[str, Any]:
        # a checkpoint saved inside a batch (Ctrl-C) keeps both: the batch is trained again on
        # resume when the model had not trained on it, and must then draw what it drew the first time
        return {"rng": rng_states(), "rng_batch_start": self._batch_start}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        start = state_dict.get("rng_batch_start")
        self._pending = start if self._rewound and start is not None else state_dict.get("rng")

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: Dict) -> None:
        self._rewound = align_loader_with_progress(checkpoint)  # called before load_state_dict

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx) -> None:
        if self._pending is not None:
            set_rng_states(self._pending)
            self._pending = None
        self._batch_start = rng_states()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                           batch_idx) -> None:
        self._batch_start = None


def align_loader_with_progress(checkpoint: Dict) -> bool:
    """A checkpoint saved by Ctrl-C during a training step holds a loader that has handed out
    that batch (``consumed``) while Lightning has not completed it. Resumed as saved, the batch
    was lost and the epoch came up one batch short of what Lightning counts, so it never saw its
    last batch, skipped the epoch's validation and early stopping failed ("valid_auroc which is
    not available"). Called before the loops and the loader are restored, this puts the loader
    back to the batches Lightning processed, so the interrupted batch is trained again. Returns
    whether it did (the batch is then drawn again: :class:`ExactResume` restores the random
    states of its start)."""
    loops = (checkpoint.get("loops") or {}).get("fit_loop") or {}
    progress = loops.get("epoch_loop.batch_progress")
    loaders = (loops.get("state_dict") or {}).get("combined_loader")
    if not progress or not isinstance(loaders, list):
        return False
    # "processed", not "completed": a checkpoint written in on_train_batch_end (save_every_n_steps)
    # has processed its batch but not yet counted it completed, and Lightning completes it on restart
    processed, rewound = progress["current"]["processed"], False
    optim = loops.get("epoch_loop.automatic_optimization.optim_progress") or {}
    stepped = (((optim.get("optimizer") or {}).get("step") or {}).get("current") or {}).get("completed")
    consumed = [s["consumed"] for s in loaders if isinstance(s, dict) and isinstance(s.get("consumed"), int)]
    if stepped == processed + 1 and consumed and all(c == processed + 1 for c in consumed):
        # Ctrl-C after the optimizer stepped on the batch, before Lightning counted it processed: the
        # model has trained on it, so it counts as processed (Lightning completes it on restart, as
        # for a checkpoint written in on_train_batch_end); trained again, it was a step too many.
        # (One optimizer step per batch: with accumulation the steps never exceed the batches.)
        progress["current"]["processed"] += 1
        progress["total"]["processed"] += 1
        return False
    for state in loaders:
        if isinstance(state, dict) and isinstance(state.get("consumed"), int) and state["consumed"] > processed:
            state["consumed"], rewound = processed, True
    return rewound


def step_checkpoint(dirpath: Optional[str], every_n_steps: int) -> ModelCheckpoint:
    """A callback that rewrites ``last.ckpt`` in ``dirpath`` every ``every_n_steps`` training steps."""
    if every_n_steps < 1:
        raise ValueError(f"save_every_n_steps must be a positive number of steps, not {every_n_steps}")
    return ModelCheckpoint(dirpath=dirpath, every_n_train_steps=every_n_steps, save_top_k=0, save_last=True,
                           enable_version_counter=False)


class LastEveryEpoch(Callback):
    """Rewrites ``DIRPATH/last.ckpt`` at the end of every epoch of ``fit`` (after its validation,
    and when the user stops the run with Ctrl-C),
    or after the training epoch when validation is off), whether or not the epoch improved the
    monitored metric. Lightning runs checkpoint callbacks after this one, so when the best
    checkpoint also changes, ModelCheckpoint writes ``last.ckpt`` again with its new state."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = dirpath

    def _save(self, trainer: pl.Trainer) -> None:
        if trainer.sanity_checking or trainer.fast_dev_run or trainer.state.fn != TrainerFn.FITTING:
            return
        trainer.save_checkpoint(os.path.join(self.dirpath, "last.ckpt"), weights_only=False)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._save(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.enable_validation:
            self._save(trainer)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Ctrl-C: keep the run where it stopped (mid-epoch too: ExactResume continues from the step)."""
        if isinstance(exception, KeyboardInterrupt):
            self._save(trainer)
