"""What a DNA language model is trained and judged on: next-base cross-entropy over the known
bases of each window (N positions left out), in nats (the loss), bits per base (nats / ln 2) and
perplexity (2 ** bits per base). Summed over bases, not averaged per batch, so an epoch's value is
exact however its batches were cut and across DDP ranks."""
from __future__ import annotations

import math
from typing import Dict

import torch
from torchmetrics import Metric

from ..models.language import token_nll


def lm_loss(logits: torch.Tensor, codes: torch.Tensor) -> "tuple[torch.Tensor, torch.Tensor]":
    """(mean nats per known base, number of known bases) of ``codes`` (B, L) under ``logits`` (B, 4, L)."""
    count = (codes < 4).sum()
    return token_nll(logits, codes).sum() / count.clamp(min=1), count


class BaseNLL(Metric):
    """Negative log-likelihood (nats) summed over known bases, and their count, synced across ranks."""

    full_state_update = False

    def __init__(self):
        super().__init__()
        self.add_state("nll", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("bases", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, mean_nll: torch.Tensor, count: torch.Tensor) -> None:
        self.nll += mean_nll.detach().to(torch.float64) * count
        self.bases += count.to(torch.float64)

    def compute(self) -> Dict[str, float]:
        return lm_summary(float(self.nll), float(self.bases))


def lm_summary(nll_nats: float, bases: float) -> Dict[str, float]:
    """``{loss (nats per base), bpb (bits per base), ppl (perplexity), bases}`` from a summed NLL."""
    if bases <= 0:
        return {"loss": float("nan"), "bpb": float("nan"), "ppl": float("nan"), "bases": 0.0}
    nats = nll_nats / bases
    bits = nats / math.log(2)
    return {"loss": nats, "bpb": bits, "ppl": 2.0 ** bits, "bases": bases}


def check_language_model_options(arch: str, strand: str, wide_fit: str, pos_weight, loss: str) -> None:
    """Refuse, naming the option, chromatin-only settings given to a language model."""
    bad = [(strand != "forward", "strand: both (a language model validates on the given strand; "
                                 "data.rc_augment: true trains it on both)"),
           (wide_fit != "none", f"wide_fit: {wide_fit}"), (pos_weight is not None, "pos_weight"),
           (loss != "bce", f"loss: {loss}")]
    for is_set, what in bad:
        if is_set:
            raise ValueError(f"model.arch {arch} is a DNA language model (next-base cross-entropy): "
                             f"{what} is for chromatin models; remove it from the config")


def check_objective_matches_data(language_model: bool, arch: str, dm) -> None:
    """A language model trains on a reference FASTA, a chromatin model on a labelled dataset."""
    data_lm = bool(getattr(dm, "language_model", False))
    if language_model and not data_lm:
        raise ValueError(f"model.arch {arch} is a DNA language model: give data.data a reference FASTA "
                         f"(and data.windows.valid_chroms), not the dataset {getattr(dm, 'data', '')}")
    if data_lm and not language_model:
        raise ValueError(f"data.data {getattr(dm, 'data', '')} is a reference FASTA (windows for a DNA language "
                         f"model), but model.arch {arch} is a chromatin model: give data.data a dataset from "
                         f"`dnaseq build-dataset`, or set model.arch lm")


__all__ = ["BaseNLL", "lm_loss", "lm_summary", "check_language_model_options", "check_objective_matches_data"]
