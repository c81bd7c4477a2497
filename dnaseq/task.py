"""The LightningModule that trains any registered model on multi-label chromatin features.

Loss is ``BCEWithLogits`` (the model outputs logits; sigmoid only at prediction). Everything
needed to use a trained model later — architecture and hyperparameters, feature names and
groups, sequence length, base order, dnaseq version — goes into the checkpoint, so
:func:`load_model` needs nothing else.
"""
from __future__ import annotations

import difflib
import warnings
from typing import Dict, List, Optional, Union

import numpy as np
import pytorch_lightning as pl
import torch
from torch.nn import functional as F
from torchmetrics import Metric
from torchmetrics.classification import MultilabelAUROC

from . import __version__
from .encoding import ALPHABET
from .inference.strand import StrandWrapper, resolve_strand
from .models import build_model
from .training.runs import checkpoint_in

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
              "rmsprop": torch.optim.RMSprop}
SCHEDULERS = ("none", "plateau", "cosine", "step")


def _choice(value: str, options, what: str) -> str:
    key = value.lower()
    if key not in options:
        near = difflib.get_close_matches(key, list(options), n=1)
        raise ValueError(f"unknown {what} {value!r}" + (f"; did you mean {near[0]!r}?" if near else "")
                         + f" (choose from {', '.join(options)})")
    return key


class _LabelCounts(Metric):
    """Positives per feature and windows seen, summed across DDP ranks."""

    def __init__(self, n_features: int):
        super().__init__()
        self.add_state("pos", torch.zeros(n_features, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("n", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, y: torch.Tensor) -> None:
        self.pos += y.to(torch.float64).sum(dim=0)
        self.n += y.shape[0]

    def compute(self):
        return self.pos, float(self.n)


class SequenceModel(pl.LightningModule):
    """Train a registered sequence model (``arch``) with BCE-with-logits on 0/1 labels.

    Args:
        arch: registry name: ``deepsea``, ``danq`` or ``conv_recurrent`` (see ``dnaseq.models``).
        arch_args: the architecture's hyperparameters (e.g. ``rnn_type: gru``).
        seq_len, n_features, feature_names, feature_groups: filled from the data module.
        optimizer: ``adam``, ``adamw``, ``sgd`` (with ``momentum``) or ``rmsprop``.
        lr, weight_decay, momentum: optimizer settings.
        lr_scheduler: ``none``, ``plateau`` (on valid loss), ``cosine`` (over max_epochs) or
            ``step`` (``step_size`` epochs, ``gamma``).
        scheduler_args: extra keyword arguments for the scheduler.
        pos_weight: per-feature positive weight for rare features: a list, one number for all,
            ``auto`` (negatives/positives in the training split, capped at ``pos_weight_cap``)
            or ``None``.
        rc_average: average predictions over both strands at validation; the checkpoint's
            strand mode ("as trained") for every inference command.
        fill: one-hot value of N in every channel, as the data module fed it in training
            (linked from ``data.fill`` by ``dnaseq train``); inference uses the same.
    """

    def __init__(self, arch: str = "danq", arch_args: Optional[Dict] = None, seq_len: int = 1000,
                 n_features: int = 919, feature_names: Optional[List[str]] = None,
                 feature_groups: Optional[List[str]] = None, optimizer: str = "adam",
                 lr: float = 1e-3, weight_decay: float = 0.0, momentum: float = 0.9,
                 lr_scheduler: str = "none", scheduler_args: Optional[Dict] = None,
                 pos_weight: Union[None, float, List[float], str] = None, pos_weight_cap: float = 100.0,
                 rc_average: bool = False, fill: float = 0.25):
        super().__init__()
        _choice(optimizer, OPTIMIZERS, "optimizer")
        _choice(lr_scheduler, SCHEDULERS, "lr_scheduler")
        feature_names = list(feature_names) if feature_names else [f"feature_{i}" for i in range(n_features)]
        feature_groups = list(feature_groups) if feature_groups else ["unknown"] * n_features
        if len(feature_names) != n_features:
            raise ValueError(f"{len(feature_names)} feature names for {n_features} features")
        self.save_hyperparameters({"arch": arch, "arch_args": dict(arch_args or {}), "seq_len": seq_len,
                                   "n_features": n_features, "feature_names": feature_names,
                                   "feature_groups": feature_groups, "optimizer": optimizer, "lr": lr,
                                   "weight_decay": weight_decay, "momentum": momentum,
                                   "lr_scheduler": lr_scheduler, "scheduler_args": dict(scheduler_args or {}),
                                   "pos_weight": pos_weight, "pos_weight_cap": pos_weight_cap,
                                   "rc_average": rc_average, "fill": float(fill)})
        self.model = build_model(arch, seq_len, n_features, **(arch_args or {}))
        self.register_buffer("pos_weight_t", torch.ones(n_features), persistent=True)
        if pos_weight is not None and pos_weight != "auto":
            pw = torch.as_tensor(pos_weight, dtype=torch.float32)
            self.pos_weight_t.copy_(pw.expand(n_features))
        # validation AUROC per feature, exact (thresholds=None) and synced across DDP ranks, so
        # each rank validates only its share; positives/windows per feature pick the features
        # that have both classes (the others are left out of the mean, as in dnaseq.evaluate)
        self.val_auroc = MultilabelAUROC(num_labels=n_features, average=None, thresholds=None)
        self.val_counts = _LabelCounts(n_features)

    # -- properties users want on a loaded model -------------------------------------------
    @property
    def feature_names(self) -> List[str]:
        return list(self.hparams.feature_names)

    @property
    def feature_groups(self) -> List[str]:
        return list(self.hparams.feature_groups)

    @property
    def seq_len(self) -> int:
        return int(self.hparams.seq_len)

    @property
    def n_features(self) -> int:
        return int(self.hparams.n_features)

    @property
    def fill(self) -> float:
        """One-hot value of N used in training (0.25 for checkpoints older than this setting)."""
        return float(self.hparams.get("fill", 0.25))

    @property
    def trained_strand(self) -> str:
        """``both`` when the model was validated with reverse-complement averaging, else ``forward``."""
        return "both" if self.hparams.get("rc_average") else "forward"

    def strand_mode(self, strand: Optional[str] = None) -> str:
        """``forward`` or ``both`` for a requested mode (``None`` / ``as-trained`` = the checkpoint's)."""
        return resolve_strand(strand, self.trained_strand == "both")

    # -- forward / prediction ----------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot (B, 4, L) -> logits (B, F)."""
        return self.model(x)

    def predict_proba(self, x: torch.Tensor, strand: Optional[str] = None,
                      rc_average: Optional[bool] = None) -> torch.Tensor:
        """Probabilities (B, F) of one-hot ``x``; ``strand``: ``as-trained`` (default),
        ``forward`` or ``both`` (mean over the window and its reverse complement).
        ``rc_average`` is the 0.1 spelling (True = ``both``, False = ``forward``)."""
        if rc_average is not None and strand is None:
            strand = "both" if rc_average else "forward"
        return StrandWrapper(self.model, self.strand_mode(strand))(x)

    # -- setup -------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if dm is None or not hasattr(dm, "n_features"):
            return
        check_compatible(self.n_features, self.seq_len, dm.n_features, dm.seq_len,
                         data_label=f"the dataset {getattr(dm, 'data', '')}")
        if stage == "fit" and self.hparams.pos_weight == "auto":
            labels = dm.source("train").read_all_labels()
            pos = labels.sum(axis=0).astype(np.float64)
            neg = len(labels) - pos
            pw = np.clip(neg / np.maximum(pos, 1), 1.0, self.hparams.pos_weight_cap)
            self.pos_weight_t.copy_(torch.as_tensor(pw, dtype=torch.float32))

    # -- steps -------------------------------------------------------------------------------
    def _loss(self, logits, y):
        return F.binary_cross_entropy_with_logits(logits.float(), y, pos_weight=self.pos_weight_t)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self._loss(self(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(y))
        return loss

    def _eval_step(self, batch, name: str):
        x, y = batch
        if self.hparams.rc_average:
            p = self.predict_proba(x, "both").float().clamp(1e-7, 1 - 1e-7)
            w = torch.where(y > 0, self.pos_weight_t, torch.ones_like(y))
            loss = F.binary_cross_entropy(p, y, weight=w)
        else:
            logits = self(x)
            loss, p = self._loss(logits, y), torch.sigmoid(logits.float())
        self.log(f"{name}_loss", loss, on_epoch=True, prog_bar=True, batch_size=len(y), sync_dist=True)
        return p, y

    def validation_step(self, batch, batch_idx):
        p, y = self._eval_step(batch, "valid")
        self.val_auroc.update(p.float(), y.to(torch.int32))
        self.val_counts.update(y)

    def on_validation_epoch_end(self):
        pos, n = self.val_counts.compute()
        if n == 0:
            return
        with warnings.catch_warnings():  # features without positives are masked below
            warnings.simplefilter("ignore")
            aucs = self.val_auroc.compute()
        both = (pos > 0) & (pos < n)
        auc = aucs[both].float().mean() if both.any() else torch.tensor(float("nan"))
        self.log("valid_auroc", auc, prog_bar=True)
        for m in (self.val_auroc, self.val_counts):
            m.reset()

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test")

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.predict_proba(x)

    # -- optimisation ------------------------------------------------------------------------
    def configure_optimizers(self):
        hp = self.hparams
        name = hp.optimizer.lower()
        kwargs = {"lr": hp.lr, "weight_decay": hp.weight_decay}
        if name in ("sgd", "rmsprop"):
            kwargs["momentum"] = hp.momentum
        opt = OPTIMIZERS[name](self.parameters(), **kwargs)
        sched = hp.lr_scheduler.lower()
        extra = dict(hp.scheduler_args or {})
        if sched == "none":
            return opt
        if sched == "plateau":
            s = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", **{"factor": 0.5, "patience": 2, **extra})
            return {"optimizer": opt, "lr_scheduler": {"scheduler": s, "monitor": "valid_loss"}}
        if sched == "cosine":
            t_max = extra.pop("T_max", max(1, int(self.trainer.max_epochs or 1)))
            return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, **extra)}
        return {"optimizer": opt,
                "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, **{"step_size": 10, "gamma": 0.5, **extra})}

    # -- checkpoint metadata -----------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: Dict) -> None:
        checkpoint["dnaseq"] = {"version": __version__, "base_order": ALPHABET,
                                "codes": {"A": 0, "C": 1, "G": 2, "T": 3, "N": 4},
                                "fill": self.fill, "strand": self.trained_strand}


def check_compatible(n_features: int, seq_len: int, data_n_features: int, data_seq_len: int,
                     model_label: str = "the model", data_label: str = "the dataset") -> None:
    """Refuse, naming both numbers, a model and a dataset of different feature count or length."""
    if n_features != data_n_features:
        raise ValueError(f"{model_label} predicts {n_features} features but {data_label} has {data_n_features}")
    if seq_len != data_seq_len:
        raise ValueError(f"{model_label} takes {seq_len} bp windows but {data_label} has {data_seq_len} bp")


def as_model(checkpoint) -> "tuple[SequenceModel, str]":
    """(model, label) from a checkpoint path or an already loaded model."""
    import os
    if isinstance(checkpoint, (str, os.PathLike)):
        return load_model(str(checkpoint)), str(checkpoint)
    return checkpoint, "in-memory model"


def _check_checkpoint_file(path: str) -> None:
    """One clear line for a file that is not a PyTorch checkpoint (a dataset, a text file ...)."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\x89HDF"):
        raise ValueError(f"{path} is an HDF5 file (a dataset or predictions?), not a dnaseq checkpoint: "
                         "pass the .ckpt (or the run folder) that dnaseq train wrote")
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
        raise ValueError(f"{path} is not a PyTorch checkpoint: pass the .ckpt (or the run folder) "
                         "that dnaseq train wrote")


def load_model(path: str, map_location: str = "cpu") -> SequenceModel:
    """A trained model, ready for prediction (eval mode), from a dnaseq checkpoint alone.

    ``path`` is a ``.ckpt`` file or a run folder of ``dnaseq train`` (its ``best.ckpt``)."""
    import os
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    path = checkpoint_in(str(path))
    _check_checkpoint_file(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = SequenceModel.load_from_checkpoint(path, map_location=map_location)
        except (KeyError, RuntimeError, TypeError) as exc:
            raise ValueError(f"{path} is not a dnaseq checkpoint ({exc})") from exc
    model.eval()
    return model


def checkpoint_metadata(path: str) -> Dict:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return {**ckpt.get("dnaseq", {}), "hyper_parameters": ckpt.get("hyper_parameters", {}),
            "epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step")}
