"""What a chromatin model is trained and validated on: binary cross-entropy per feature with a
positive-class weight, or the focal loss (Lin et al. 2017) built on it, and the ``auto``
positive weights from the training labels. (A language model's loss: :mod:`.lm_objective`.)"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

LOSSES = ("bce", "focal")


def bce(logits: torch.Tensor, y: torch.Tensor, pos_weight: torch.Tensor) -> torch.Tensor:
    """Mean BCE-with-logits, positives weighted by ``pos_weight`` (one per feature)."""
    return F.binary_cross_entropy_with_logits(logits.float(), y, pos_weight=pos_weight)


def focal(logits: torch.Tensor, y: torch.Tensor, pos_weight: torch.Tensor, gamma: float) -> torch.Tensor:
    """The weighted BCE of each entry times ``(1 - p_t) ** gamma`` (0 is BCE), averaged."""
    logits = logits.float()
    per = F.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight, reduction="none")
    p = torch.sigmoid(logits)
    p_t = torch.where(y > 0, p, 1 - p)
    return ((1 - p_t) ** gamma * per).mean()


def probability_bce(p: torch.Tensor, y: torch.Tensor, pos_weight: torch.Tensor) -> torch.Tensor:
    """The weighted BCE of probabilities (a mean over both strands has no single logit)."""
    p = p.float().clamp(1e-7, 1 - 1e-7)
    return F.binary_cross_entropy(p, y, weight=torch.where(y > 0, pos_weight, torch.ones_like(y)))


def auto_pos_weight(labels: np.ndarray, cap: float) -> np.ndarray:
    """Negatives / positives per feature of 0/1 ``labels`` (windows, features), between 1 and ``cap``."""
    pos = labels.sum(axis=0).astype(np.float64)
    return np.clip((len(labels) - pos) / np.maximum(pos, 1), 1.0, cap)
