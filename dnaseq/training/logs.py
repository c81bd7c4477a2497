"""The loggers of a ``dnaseq train`` run folder: ``metrics.csv`` (and TensorBoard events when
tensorboard is installed), named after the run folder (:mod:`dnaseq.training.runs`).

Lightning's CSV logger deletes a folder's ``metrics.csv`` when it finds one, so a run resumed
with ``--ckpt_path last`` lost the log of its earlier epochs; :class:`_RunCSVLogger` keeps it and
appends.
"""
from __future__ import annotations

import csv

from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter as CSVExperimentWriter


def default_loggers(save_dir: str, name: str, version: str) -> list:
    """The default loggers of the run folder ``save_dir/name/version``."""
    loggers = [_RunCSVLogger(save_dir=save_dir, name=name, version=version)]
    try:
        import tensorboard  # noqa: F401  (optional: TensorBoard events beside metrics.csv when installed)
        from pytorch_lightning.loggers import TensorBoardLogger
        loggers.append(TensorBoardLogger(save_dir=save_dir, name=name, version=version))
    except ImportError:
        pass
    return loggers


class _AppendingWriter(CSVExperimentWriter):
    """Lightning's metrics.csv writer, except that a run folder's existing metrics.csv is kept
    and continued: a resumed run (``--ckpt_path last``) used to delete its earlier epochs' log."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as fh:
                self.metrics_keys = list(next(csv.reader(fh), []))


class _RunCSVLogger(CSVLogger):
    """CSVLogger whose metrics.csv survives a resume (see :class:`_AppendingWriter`)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> CSVExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
