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


__all__ = ["BaseNLL", "lm_loss", "lm_summary"]
