"""The validation ROC AUC a chromatin model logs while it trains (``valid_auroc``, what the
checkpoint and early-stopping callbacks monitor by default).

Exact per feature (``thresholds=None``) and synced across DDP ranks by torchmetrics, so each
rank validates only its share; features without both classes in the validation windows are left
out of the mean, as :mod:`dnaseq.apply.evaluate` leaves them out.
"""
from __future__ import annotations

import warnings
from typing import Optional

import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.classification import BinaryAUROC, MultilabelAUROC


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


class MeanAUROC(nn.Module):
    """Mean over features of the exact ROC AUC of an epoch's validation batches.

    torchmetrics' multilabel AUROC refuses a single label, so a one-feature model (one ChIP-seq
    experiment) uses the binary one.
    """

    def __init__(self, n_features: int):
        super().__init__()
        self.single = n_features == 1
        self.auroc = BinaryAUROC(thresholds=None) if self.single else \
            MultilabelAUROC(num_labels=n_features, average=None, thresholds=None)
        self.counts = _LabelCounts(n_features)

    def update(self, p: torch.Tensor, y: torch.Tensor) -> None:
        """Add a batch: probabilities ``p`` and 0/1 labels ``y``, both (B, F)."""
        p, target = p.float(), y.to(torch.int32)
        self.auroc.update(*((p[:, 0], target[:, 0]) if self.single else (p, target)))
        self.counts.update(y)

    def compute(self) -> Optional[torch.Tensor]:
        """The epoch's mean (NaN when no feature has both classes; None when no window was seen),
        and a fresh start for the next epoch."""
        pos, n = self.counts.compute()
        if n == 0:
            return None
        with warnings.catch_warnings():  # features without positives are masked below
            warnings.simplefilter("ignore")
            aucs = self.auroc.compute().reshape(-1)  # (F,), one feature included
        both = (pos > 0) & (pos < n)
        auc = aucs[both].float().mean() if both.any() else torch.tensor(float("nan"))
        self.auroc.reset()
        self.counts.reset()
        return auc
