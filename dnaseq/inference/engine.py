"""The one inference path: Lightning's ``Trainer.predict`` over a stream of work units, with an
ordered, streamed writer.

Every command that applies a model (``evaluate``, ``predict``, ``score-variants``, ``ism``) is
a *producer* of work units, a *step* that turns one unit into tensors on the device, and a
*sink* that receives the results in input order. This module runs them on any accelerator,
device count, node count, strategy and precision Lightning supports (the same option names
as ``dnaseq train``: ``accelerator``, ``devices``, ``num_nodes``, ``strategy``, ``precision``).

* Units are dealt round-robin: unit ``i`` goes to rank ``i % world_size`` (and, within a
  rank, to DataLoader worker ``(i // world_size) % num_workers``). A unit may be a callable
  that builds its inputs, so each rank only builds its own share (reading windows from the
  genome is done once per unit, by its owner).
* A unit is a dict of tensors (moved to the device by Lightning) and an optional ``meta``
  value that travels untouched to the sink (variant rows, labels, coordinates).
* Results reach the sink as ``sink.write(meta, outputs)`` in unit order. On one process they
  are written as they come. With several processes each rank spills its results to segment
  files (in a folder rank 0 chose and broadcast; on several nodes set ``spill_dir`` or the
  environment variable ``DNASEQ_SPILL_DIR`` to shared storage) and rank 0 merges them in unit
  order as they come, deleting what it has written (:mod:`dnaseq.inference.spill`). Output
  is therefore identical whatever the number of devices: the same units, in the same order,
  computed one unit at a time.
* The sink is created only on global rank 0 (``make_sink()``), so no other rank opens an
  output file. Other ranks get ``RunInfo.is_main = False`` back and must not write anything.
* The caller's network is left as it was found: device and train/eval mode of every
  submodule are restored after the run (Lightning moves it to the device and switches it to
  eval mode).

DDP runs through Lightning's ``ddp`` strategy, which starts the other ranks by running the
same command again; ``ddp_spawn`` (which pickles the work) is not supported.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Optional

import numpy as np
import pytorch_lightning as pl
import torch
from tqdm.auto import tqdm
from pytorch_lightning.callbacks import BasePredictionWriter
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..models.state import preserved
from ..settings import ProgressLines, RunOptions
from .spill import SpillMerger, SpillWriter, make_spill_dir

_LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning", "lightning_fabric", "lightning.pytorch",
                      "pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero")


@dataclass
class RunInfo:
    is_main: bool
    world_size: int
    sink: Any = None
    units: int = 0


class _Opaque:
    """Wraps unit metadata so neither the DataLoader nor Lightning tries to convert or move it."""
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class _HeapTrim:
    """Gives the C heap's free memory back to the system at most once a second (glibc only).

    Units allocate tensors of many sizes; glibc keeps the freed ones in its heap, so a long run's
    RSS grew without bound (whole-genome predict of a 48 Mbp chromosome: 0.6 GB to 1.6 GB, 25 MB
    per Mbp, with flat Python and numpy allocations and flat RSS under MALLOC_MMAP_THRESHOLD_).
    ``malloc_trim`` takes about 7 ms, so once a second costs under 1%. No-op where there is no glibc.
    """

    def __init__(self, every_s: float = 1.0):
        name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
        lib = ctypes.CDLL(name) if name else None
        self._trim = getattr(lib, "malloc_trim", None)
        self.every_s, self._last = every_s, time.perf_counter()

    def __call__(self) -> None:
        if self._trim is not None and time.perf_counter() - self._last >= self.every_s:
            self._trim(0)
            self._last = time.perf_counter()


def _rank_world():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class _Units(IterableDataset):
    def __init__(self, produce: Callable[[], Iterable]):
        self.produce = produce

    def __iter__(self):
        rank, world = _rank_world()
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        for i, unit in enumerate(self.produce()):
            if i % world != rank or (i // world) % nw != wid:
                continue
            unit = unit() if callable(unit) else dict(unit)
            meta = unit.pop("meta", None)
            yield {"_i": i, "_meta": _Opaque(meta), **unit}


class _Module(pl.LightningModule):
    def __init__(self, net: nn.Module, step: Callable):
        super().__init__()
        self.net = net
        self._step = step

    def forward(self, x):
        return self.net(x)

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        inputs = {k: v for k, v in batch.items() if k not in ("_i", "_meta")}
        out = self._step(self.net, inputs)
        return {"_i": batch["_i"], "_meta": batch["_meta"], "out": out}


def _to_numpy(out: Dict[str, Any]) -> Dict[str, Any]:
    res = {}
    for k, v in out.items():
        if isinstance(v, torch.Tensor):
            v = v.detach()
            v = (v.float() if v.is_floating_point() else v).cpu().numpy()
        res[k] = v
    return res


class _OrderedWriter(BasePredictionWriter):
    """Hands results to the sink in unit order (directly, or via per-rank spill files)."""

    def __init__(self, make_sink: Callable[[], Any], options: RunOptions, total: Optional[int]):
        super().__init__("batch")
        self.make_sink, self.options, self.total = make_sink, options, total
        self.sink = None
        self.units = 0
        self._dir = self._spill = self._merger = self._bar = self._lines = None
        self._world = 1
        self._trim = _HeapTrim()

    def setup(self, trainer, pl_module, stage):
        self._world = trainer.world_size
        if self._world > 1:
            base = self.options.spill_dir or os.environ.get("DNASEQ_SPILL_DIR") or tempfile.gettempdir()
            path = make_spill_dir(base) if trainer.is_global_zero else None
            self._dir = trainer.strategy.broadcast(path)
            self._spill = SpillWriter(self._dir, trainer.global_rank)
            self._merger = SpillMerger(self._dir, self._world) if trainer.is_global_zero else None
        if trainer.is_global_zero:
            self.sink = self.make_sink()
            if self.options.progress:
                self._bar = tqdm(total=self.total, unit="unit", file=sys.stderr, leave=False,
                                 desc="predict" if self._world == 1 else f"predict (rank 0 of {self._world})")
            elif self.options.progress_lines and self.total:
                self._lines = ProgressLines(self.total, self.options.label or "dnaseq")

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx=0):
        record = (prediction["_i"], prediction["_meta"].value, _to_numpy(prediction["out"]))
        if self._spill is not None:
            self._spill.add(record)
            if self._merger is not None:
                self._write_merged()
        else:
            self.sink.write(record[1], record[2])
            self.units += 1
        if self._bar is not None:
            self._bar.update(self._world)
        if self._lines is not None:
            self._lines.update(self._world)
        self._trim()
        if getattr(trainer, "received_sigterm", False):
            # Lightning's SIGTERM handler only sets this flag, and its predict loop never reads it:
            # `kill PID` or `timeout` would not stop a run. Stop as Ctrl-C does (partial output kept)
            raise KeyboardInterrupt

    def on_predict_end(self, trainer, pl_module):
        if self._bar is not None:
            self._bar.close()
        if self._spill is None:
            return
        self._spill.close()
        trainer.strategy.barrier()
        if self._merger is not None:
            try:
                self._write_merged(finished=True)
            finally:
                self.drop_spill()
        trainer.strategy.barrier()

    def drop_spill(self) -> None:
        """Rank 0: remove the spill folder (at the end, or when a run stops early: what the output
        holds so far is an in-order prefix, which ``--resume`` continues from)."""
        if self._merger is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def _write_merged(self, finished: bool = False) -> None:
        """Rank 0: hand the sink every spilled record whose turn has come."""
        for _, meta, out in self._merger.ready(finished):
            self.sink.write(meta, out)
            self.units += 1


@contextmanager
def quiet_lightning():
    """No "GPU available" / tip lines from Lightning on inference commands."""
    loggers = [logging.getLogger(n) for n in _LIGHTNING_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
            warnings.filterwarnings("ignore", message=".*IterableDataset.*")
            warnings.filterwarnings("ignore", message=".*`srun` command is available.*")
            warnings.filterwarnings("ignore", message=".*infer the batch indices.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def check_accelerator(accelerator) -> None:
    """A ValueError in words when the accelerator asked for is not on this machine (Lightning's
    "No supported gpu backend found!" names neither the option nor the fix)."""
    kind = str(accelerator or "auto").lower()
    if kind in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ValueError(f"a GPU was asked for (accelerator {accelerator!r}, or device 'cuda'), but torch "
                         f"{torch.__version__} sees none on this machine: run on the CPU (device='cpu', "
                         f"--accelerator cpu) or let it choose (auto)")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError("the Apple GPU (mps) was asked for, but torch sees none on this machine: use cpu or auto")


def run(net: nn.Module, produce: Callable[[], Iterable], step: Callable, make_sink: Callable[[], Any],
        options: Optional[RunOptions] = None, total: Optional[int] = None) -> RunInfo:
    """Run ``step(net, unit_tensors) -> {name: tensor}`` over every unit of ``produce()`` and hand
    the results to ``make_sink()``'s ``write(meta, outputs)`` in unit order (see module docstring).

    ``total`` (number of units, if known) only feeds the progress bar.
    """
    options = options or RunOptions()
    check_accelerator(options.accelerator)
    writer = _OrderedWriter(make_sink, options, total)
    loader = DataLoader(_Units(produce), batch_size=None, num_workers=options.num_workers)
    with preserved(net), quiet_lightning():
        trainer = pl.Trainer(accelerator=options.accelerator, devices=options.devices,
                             num_nodes=options.num_nodes, strategy=options.strategy,
                             precision=options.precision, logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False, callbacks=[writer],
                             use_distributed_sampler=False, default_root_dir=tempfile.gettempdir())
        before = signal.getsignal(signal.SIGINT)
        try:
            trainer.predict(_Module(net, step), dataloaders=loader, return_predictions=False)
        except BaseException as exc:
            writer.drop_spill()
            if isinstance(exc, SystemExit) and trainer.interrupted:
                # Lightning turns Ctrl-C into sys.exit(1) and ignores SIGINT from then on: give the
                # caller its KeyboardInterrupt (and its Ctrl-C) back, so it can keep partial output
                signal.signal(signal.SIGINT, before)
                raise KeyboardInterrupt from None
            raise
    is_main = trainer.is_global_zero
    if is_main and writer.sink is None:  # no unit at all: Lightning skipped the loop
        writer.sink = make_sink()
    return RunInfo(is_main, trainer.world_size, writer.sink if is_main else None, writer.units)


class ArraySink:
    """Collects one output per unit into preallocated arrays (``meta`` = the unit's row offset)."""

    def __init__(self, n: int, shapes: Dict[str, tuple], dtype=np.float32):
        self.arrays = {k: np.empty((n,) + tuple(s), dtype) for k, s in shapes.items()}

    def write(self, meta, out) -> None:
        lo = int(meta)
        for k, arr in self.arrays.items():
            v = out[k]
            arr[lo:lo + len(v)] = v
