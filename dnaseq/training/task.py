"""The LightningModule that trains any registered model on multi-label chromatin features.

Loss is ``BCEWithLogits`` (the model outputs logits; sigmoid only at prediction). Everything
needed to use a trained model later — architecture and hyperparameters, feature names and
groups, sequence length, base order, dnaseq version — goes into the checkpoint, so
:func:`load_model` needs nothing else.
"""
from __future__ import annotations

import sys

from typing import Any, Dict, List, Optional, Union

import pytorch_lightning as pl
import torch

from .._version import __version__
from ..models import build_model
from ..models.state import preserved
from ..models.strand import StrandWrapper
from ..sequence.encoding import ALPHABET
from ..sequence.inputs import as_input_batch, check_one_hot_shape
from ..settings import DEFAULT_FILL, resolve_strand, strand_or_rc_average, whole_number
from .finetune import check_held_out, data_record, transfer_weights, trunk_parameters
from .lm_objective import BaseNLL, check_language_model_options, check_objective_matches_data, lm_loss
from .losses import LOSSES, auto_pos_weight, bce, focal, probability_bce
from .optim import build_optimizers, check_optimizer, choice, stretch_cosine
from .validation import MeanAUROC
from .wide_init import fit_on_split

WIDE_FITS = ("none", "start", "frozen")


class SequenceModel(pl.LightningModule):
    """Train a registered sequence model (``arch``) with BCE-with-logits on 0/1 labels.

    Predictions are :meth:`predict_proba` (in memory) or the commands' one inference path
    (:mod:`dnaseq.inference.engine`, which runs any network); this module has no ``predict_step``,
    so ``Trainer.predict`` on it directly gives Lightning's default (the logits).

    Args:
        arch: registry name: ``deepsea``, ``danq`` or ``conv_recurrent`` (see ``dnaseq.models``).
        arch_args: the architecture's hyperparameters (e.g. ``rnn_type: gru``).
        seq_len, n_features, feature_names, feature_groups: filled from the data module.
        optimizer: ``adam``, ``adamw``, ``sgd`` (with ``momentum``) or ``rmsprop``; or any
            ``torch.optim`` optimizer as Lightning writes classes, ``{class_path: NAdam,
            init_args: {...}}`` (a dotted path for other modules; ``lr`` defaults to ``lr``).
        lr, weight_decay, momentum: optimizer settings.
        lr_scheduler: ``none``, ``plateau`` (on valid loss), ``cosine`` (over max_epochs) or
            ``step`` (``step_size`` epochs, ``gamma``); or any ``torch.optim.lr_scheduler``
            class as ``{class_path: OneCycleLR, init_args: {...}}`` (stepped per epoch;
            ReduceLROnPlateau watches valid_loss).
        scheduler_args: extra keyword arguments for the scheduler.
        pos_weight: per-feature positive weight for rare features: a list, one number for all,
            ``auto`` (negatives/positives in the training split, capped at ``pos_weight_cap``)
            or ``None``.
        loss: ``bce`` (binary cross-entropy with logits, weighted by ``pos_weight``) or
            ``focal`` (the same, times (1 - p_t) ** ``focal_gamma``, Lin et al. 2017): easy
            windows, most of them negatives, count less, so rare features weigh more.
            Validation loss stays the weighted BCE, so runs with either loss compare.
        focal_gamma: the focusing exponent of the focal loss (0 is BCE).
        strand: ``forward`` validates on the given strand; ``both`` averages every validation
            window with its reverse complement. It is the checkpoint's strand mode ("as-trained")
            for every inference command. ``rc_average`` (true = ``both``) is the 0.1 spelling,
            accepted with a warning.
        fill: one-hot value of N in every channel, as the data module fed it in training
            (linked from ``data.fill`` by ``dnaseq train``); inference uses the same.
        wide_fit: for a model with a k-mer wide part (``arch_args.kmer_k``): ``start`` fits the
            wide part alone on the training windows before the first step (weighted BCE plus its
            ``kmer_l2``, :mod:`dnaseq.training.wide_init`) and trains on from there; ``frozen``
            also keeps it so (no gradient, eval mode), and the deep part learns what the counts
            leave; ``none`` (default) trains both from their random start.
        wide_fit_windows: at most this many training windows (a random subset) for that fit.
        init_from: start from another checkpoint (a path or run folder): the tensors whose names and
            shapes match are copied (the trunk), the rest start fresh (the head; a new output layer
            when the features differ); other mismatches are named (:mod:`dnaseq.training.finetune`).
            Applied when training starts, not when a trained model is loaded.
        freeze_trunk_epochs: with ``init_from``, train the head alone for this many epochs
            (-1: the trunk stays frozen for good; 0: trained from the start).
        trunk_lr_scale: with ``init_from``, the trunk's learning rate is ``lr`` times this (e.g. 0.1).
    """

    def __init__(self, arch: str = "danq", arch_args: Optional[Dict] = None, seq_len: int = 1000,
                 n_features: int = 919, feature_names: Optional[List[str]] = None,
                 feature_groups: Optional[List[str]] = None, optimizer: Union[str, Dict[str, Any]] = "adam",
                 lr: float = 1e-3, weight_decay: float = 0.0, momentum: float = 0.9,
                 lr_scheduler: Union[str, Dict[str, Any]] = "none", scheduler_args: Optional[Dict] = None,
                 pos_weight: Union[None, float, List[float], str] = None, pos_weight_cap: float = 100.0,
                 strand: str = "forward", fill: float = DEFAULT_FILL, loss: str = "bce", focal_gamma: float = 2.0,
                 wide_fit: str = "none", wide_fit_windows: int = 200_000, init_from: Optional[str] = None,
                 freeze_trunk_epochs: int = 0, trunk_lr_scale: float = 1.0, rc_average: Optional[bool] = None):
        super().__init__()
        if freeze_trunk_epochs < -1 or trunk_lr_scale <= 0:
            raise ValueError(f"freeze_trunk_epochs must be >= -1 and trunk_lr_scale > 0, got {freeze_trunk_epochs} "
                             f"and {trunk_lr_scale}")
        if init_from is None and (freeze_trunk_epochs or trunk_lr_scale != 1.0):
            raise ValueError("freeze_trunk_epochs and trunk_lr_scale apply to a model started with model.init_from")
        strand = choice(strand_or_rc_average(None, rc_average) or strand, ("forward", "both"), "strand")
        wide_fit = choice(wide_fit, WIDE_FITS, "wide_fit")
        if wide_fit_windows < 1:
            raise ValueError(f"wide_fit_windows must be >= 1, got {wide_fit_windows}")
        check_optimizer(optimizer, lr_scheduler)
        loss = choice(loss, LOSSES, "loss")
        if focal_gamma < 0:
            raise ValueError(f"focal_gamma must be >= 0, got {focal_gamma}")
        if isinstance(feature_names, str):  # one name, not its letters
            feature_names = [feature_names]
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
                                   "strand": strand, "fill": float(fill), "loss": loss,
                                   "focal_gamma": float(focal_gamma), "wide_fit": wide_fit,
                                   "wide_fit_windows": int(wide_fit_windows), "init_from": init_from,
                                   "freeze_trunk_epochs": int(freeze_trunk_epochs),
                                   "trunk_lr_scale": float(trunk_lr_scale)})
        self._trunk: List[str] = []  # names of the tensors init_from copied
        self.model = build_model(arch, seq_len, n_features, **(arch_args or {}))
        if self.language_model:
            check_language_model_options(arch, strand, wide_fit, pos_weight, loss)
        if wide_fit != "none" and getattr(self.model, "wide", None) is None:
            raise ValueError(f"wide_fit: {wide_fit} needs a model with a k-mer wide part: set "
                             f"model.arch_args.kmer_k (e.g. 6) with arch conv_recurrent, or wide_fit: none")
        self.register_buffer("pos_weight_t", torch.ones(n_features), persistent=True)
        if pos_weight is not None and pos_weight != "auto":
            pw = torch.as_tensor(pos_weight, dtype=torch.float32)
            self.pos_weight_t.copy_(pw.expand(n_features))
        if self.language_model:  # next-base cross-entropy summed over known bases (valid and test)
            self.val_nll, self.test_nll = BaseNLL(), BaseNLL()
        else:  # exact, synced across DDP ranks (dnaseq.training.validation)
            self.val_auroc = MeanAUROC(n_features)
        # one window for Lightning's model summary: its FLOPs and in / out sizes instead of "0 Total Flops"
        self.example_input_array = torch.zeros(1, 4, int(seq_len))

    # -- properties users want on a loaded model -------------------------------------------
    @property
    def language_model(self) -> bool:
        """Whether this is a DNA language model (logits (B, 4, L) of the bases, :mod:`dnaseq.models.language`)."""
        return bool(getattr(self.model, "language_model", False))

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
        return float(self.hparams.get("fill", DEFAULT_FILL))

    @property
    def trained_strand(self) -> str:
        """``both`` when the model was validated with reverse-complement averaging, else ``forward``."""
        return self.hparams.strand

    def strand_mode(self, strand: Optional[str] = None) -> str:
        """``forward`` or ``both`` for a requested mode (``None`` / ``as-trained`` = the checkpoint's)."""
        return resolve_strand(strand, self.trained_strand == "both")

    # -- forward / prediction ----------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot (B, 4, L) -> logits (B, F); a language model's: (B, 4, L), the bases."""
        if x.dim() != 3 or x.shape[1] != 4 or x.shape[2] != self.seq_len:
            check_one_hot_shape(tuple(x.shape), self.seq_len)
        return self.model(x)

    def predict_proba(self, x, strand: Optional[str] = None, rc_average: Optional[bool] = None,
                      batch_size: Optional[int] = None):
        """Probabilities (N, F) for sequences ``x``, detached and computed without gradients.

        ``x`` may be one-hot (4, L) / (N, 4, L) (numpy or tensor, channels A, C, G, T), uint8
        codes (L,) / (N, L), DNA text, a ``Genome.window(...)`` result, or a list of sequences
        or windows; text, codes and windows are one-hot encoded with the checkpoint's N fill.
        A tensor input gives a tensor on the input's device; anything else gives float32 numpy.
        A single sequence gives one row (1, F). Every length must be the model's ``seq_len``
        (a ``ValueError`` naming both lengths otherwise). A language model gives (N, 4, L): the
        probability of each base at each position given its context.

        ``strand``: ``as-trained`` (default), ``forward`` or ``both`` (mean over the window and
        its reverse complement). ``rc_average`` is the 0.1 spelling (True = ``both``, False =
        ``forward``), accepted with a warning. ``batch_size``: windows per forward pass (default: all at once).

        The model runs in eval mode on its own device and is left in the mode it was in.
        """
        strand = strand_or_rc_average(strand, rc_average)
        if self.language_model:
            if self.strand_mode(strand) != "forward":
                raise ValueError("a DNA language model predicts the bases of the given strand only (strand: forward)")
            wrapper = lambda view: torch.softmax(self.model(view).float(), dim=1)  # noqa: E731
        else:
            wrapper = StrandWrapper(self.model, self.strand_mode(strand))
        batch, out_device = as_input_batch(x, self.fill, self.seq_len)
        if len(batch) == 0:
            empty = torch.zeros(0, self.n_features, *((self.seq_len,) if self.language_model else ()))
            return empty.to(out_device) if out_device is not None else empty.numpy()
        param = next(self.model.parameters(), None)
        if param is not None:
            batch = batch.to(device=param.device,
                             dtype=param.dtype if param.is_floating_point() else batch.dtype)
        step = len(batch) if batch_size is None else whole_number(batch_size, "batch_size")
        with preserved(self.model), torch.no_grad():
            self.model.eval()
            probs = torch.cat([wrapper(batch[lo:lo + step]) for lo in range(0, len(batch), step)])
        probs = probs.detach()
        if out_device is not None:
            return probs.to(out_device)
        return probs.float().cpu().numpy()

    # -- setup -------------------------------------------------------------------------------
    @property
    def _wide_fit(self) -> str:
        return self.hparams.get("wide_fit", "none")  # checkpoints older than the option: none

    def _start_from(self, dm) -> None:
        """``init_from``: copy the trunk (not when resuming: the checkpoint has the weights), say what
        was copied, and warn when the source trained on this run's test chromosomes."""
        source = self.hparams.get("init_from")
        if not source:
            return
        resuming = bool(self.trainer.ckpt_path)
        report = transfer_weights(self.model, source, self.n_features, copy=not resuming)
        self._trunk = report.copied
        check_held_out(report, list(data_record(dm).get("chromosomes", {}).get("test") or []))
        if self.trainer.is_global_zero and not resuming:
            hp = self.hparams
            print(report.describe() + (f"; trunk frozen for {'the run' if hp.freeze_trunk_epochs < 0 else f'{hp.freeze_trunk_epochs} epoch(s)'}"
                                       if hp.freeze_trunk_epochs else "")
                  + (f"; trunk learning rate x{hp.trunk_lr_scale:g}" if hp.trunk_lr_scale != 1 else ""), flush=True)

    def on_train_epoch_start(self) -> None:
        epochs = int(self.hparams.get("freeze_trunk_epochs", 0))
        if self._trunk and epochs:
            frozen = epochs < 0 or self.current_epoch < epochs
            for p in trunk_parameters(self.model, self._trunk)[0]:
                p.requires_grad_(not frozen)

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self._start_from(getattr(self.trainer, "datamodule", None) if self._trainer is not None else None)
        if stage == "fit" and self._wide_fit == "frozen":
            # before the strategy wraps the model (DDP registers only parameters that need a gradient)
            self.model.wide.requires_grad_(False)
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if dm is None or not hasattr(dm, "n_features"):
            return
        check_objective_matches_data(self.language_model, self.hparams.arch, dm)
        check_compatible(self.n_features, self.seq_len, dm.n_features, dm.seq_len,
                         data_label=f"the dataset {getattr(dm, 'data', '')}")
        if stage == "fit" and self.hparams.pos_weight == "auto":
            pw = auto_pos_weight(dm.source("train").read_all_labels(), self.hparams.pos_weight_cap)
            self.pos_weight_t.copy_(torch.as_tensor(pw, dtype=torch.float32))

    def on_fit_start(self) -> None:
        if self._wide_fit == "none" or self.trainer.ckpt_path or self.trainer.global_step > 0:
            return  # resumed runs keep the checkpoint's wide part
        dm = self.trainer.datamodule
        if dm is None or not hasattr(dm, "source"):
            raise ValueError(f"wide_fit: {self._wide_fit} needs dnaseq's data module (it reads the training split)")
        wide = self.model.wide
        report = fit_on_split(wide, dm.source("train"), self.pos_weight_t, float(self.model.kmer_l2), self.fill,
                              int(self.hparams.wide_fit_windows), seed=0)
        if self.trainer.world_size > 1:  # every rank fitted the same windows; make them equal to the bit
            wide.load_state_dict(self.trainer.strategy.broadcast(
                {k: v.detach().cpu() for k, v in wide.state_dict().items()}))
        if self.trainer.is_global_zero:
            print(f"wide_fit: k-mer wide part fitted on {report['windows']:,} training windows (loss "
                  f"{report['loss']:.4f}, kmer_l2 {self.model.kmer_l2:g}, {report['seconds']} s)"
                  + ("; frozen for the run" if self._wide_fit == "frozen" else ""), flush=True)

    def on_train_start(self) -> None:  # after Lightning restored a resumed run's optimizer and scheduler
        if "T_max" in (self.hparams.get("scheduler_args") or {}):
            return  # a schedule of the config's own length
        said = stretch_cosine(self.lr_schedulers(), self.trainer.max_epochs)
        if said and self.trainer.is_global_zero:
            print(f"warning: {said}", file=sys.stderr, flush=True)

    def on_train_batch_start(self, batch, batch_idx) -> None:
        if self._wide_fit == "frozen":
            self.model.wide.eval()  # Lightning puts the whole model in train mode each epoch

    # -- steps -------------------------------------------------------------------------------
    def _train_loss(self, logits, y):
        if self.hparams.get("loss", "bce") == "bce":
            return bce(logits, y, self.pos_weight_t)
        return focal(logits, y, self.pos_weight_t, self.hparams.focal_gamma)

    def training_step(self, batch, batch_idx):
        x, y = batch
        if self.language_model:
            loss, _ = lm_loss(self(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(y))
            return loss
        loss = self._train_loss(self(x), y)
        penalty = getattr(self.model, "penalty", None)  # a model's own regulariser (kmer_l2)
        extra = penalty() if callable(penalty) else None
        if extra is not None:
            loss = loss + extra
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(y))
        return loss

    def _eval_step(self, batch, name: str):
        x, y = batch
        if self.trained_strand == "both":
            p = self.predict_proba(x, "both").float()
            loss = probability_bce(p, y, self.pos_weight_t)
            p = p.clamp(1e-7, 1 - 1e-7)
        else:
            logits = self(x)
            loss, p = bce(logits, y, self.pos_weight_t), torch.sigmoid(logits.float())
        self.log(f"{name}_loss", loss, on_epoch=True, prog_bar=True, batch_size=len(y), sync_dist=True)
        return p, y

    def _lm_eval_step(self, batch, metric: BaseNLL) -> None:
        x, codes = batch
        metric.update(*lm_loss(self(x), codes))

    def _lm_epoch_end(self, metric: BaseNLL, name: str) -> None:
        """``<name>_loss`` (nats per base), ``_bpb`` (bits per base), ``_ppl`` (perplexity)."""
        summary = metric.compute()
        metric.reset()
        if summary["bases"] > 0:
            for key in ("loss", "bpb", "ppl"):
                self.log(f"{name}_{key}", summary[key], prog_bar=key != "ppl")

    def validation_step(self, batch, batch_idx):
        """Logs the loss and updates the AUROC state; returns ``{"probs"}``, the batch's probabilities
        in the strand mode the model validates with, for callbacks (no second forward pass).
        A language model updates its summed cross-entropy instead and returns nothing."""
        if self.language_model:
            return self._lm_eval_step(batch, self.val_nll)
        p, y = self._eval_step(batch, "valid")
        self.val_auroc.update(p, y)
        return {"probs": p.detach()}

    def on_validation_epoch_end(self):
        if self.language_model:
            return self._lm_epoch_end(self.val_nll, "valid")
        auc = self.val_auroc.compute()
        if auc is not None:
            self.log("valid_auroc", auc, prog_bar=True)

    def test_step(self, batch, batch_idx):
        if self.language_model:
            return self._lm_eval_step(batch, self.test_nll)
        self._eval_step(batch, "test")

    def on_test_epoch_end(self):
        if self.language_model:
            self._lm_epoch_end(self.test_nll, "test")

    # -- optimisation ------------------------------------------------------------------------
    def configure_optimizers(self):
        hp = self.hparams
        params = self.parameters()
        scale = float(hp.get("trunk_lr_scale", 1.0))
        if self._trunk and scale != 1.0:  # the copied trunk learns more slowly than the new head
            trunk, rest = trunk_parameters(self.model, self._trunk)
            own = [p for n, p in self.named_parameters() if not n.startswith("model.")]
            params = [{"params": trunk, "lr": hp.lr * scale}, {"params": rest + own}]
        return build_optimizers(params, hp.optimizer, hp.lr, hp.weight_decay, hp.momentum,
                                hp.lr_scheduler, hp.scheduler_args,
                                self._trainer.max_epochs if self._trainer is not None else None)

    # -- checkpoint metadata -----------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: Dict) -> None:
        checkpoint["dnaseq"] = {"version": __version__, "base_order": ALPHABET,
                                "codes": {"A": 0, "C": 1, "G": 2, "T": 3, "N": 4},
                                "fill": self.fill, "strand": self.trained_strand,
                                "data": data_record(getattr(self._trainer, "datamodule", None))}

    def on_load_checkpoint(self, checkpoint: Dict) -> None:
        self.data_record = (checkpoint.get("dnaseq") or {}).get("data") or {}

    def held_out_chromosomes(self, split: str = "test") -> List[str]:
        """The chromosomes of ``split`` (``train``, ``valid``, ``test``) in the data this model was
        trained on, as its checkpoint records them ([] when unknown: older checkpoints)."""
        return list((getattr(self, "data_record", None) or {}).get("chromosomes", {}).get(split) or [])


def check_compatible(n_features: int, seq_len: int, data_n_features: int, data_seq_len: int,
                     model_label: str = "the model", data_label: str = "the dataset") -> None:
    """Refuse, naming both numbers, a model and a dataset of different feature count or length."""
    if n_features != data_n_features:
        raise ValueError(f"{model_label} predicts {n_features} features but {data_label} has {data_n_features}")
    if seq_len != data_seq_len:
        raise ValueError(f"{model_label} takes {seq_len} bp windows but {data_label} has {data_seq_len} bp")
