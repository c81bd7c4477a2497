"""Strand handling as one wrapper module (Selene's ``NonStrandSpecific`` idea).

A model sees one strand of a window. ``forward`` uses the given strand only; ``both`` averages
the probabilities of the window and of its reverse complement. ``as-trained`` is what the
checkpoint says: ``both`` when the model was validated with reverse-complement averaging
(``rc_average: true`` in its config), else ``forward``. Every command takes ``--strand`` with
``as-trained`` as its default, so evaluation, scoring, ISM and prediction always agree.
"""
from __future__ import annotations

from typing import List, Tuple

import torch
from torch import nn

from ..sequence.onehot import reverse_complement_one_hot


def strand_views(x: torch.Tensor, mode: str) -> List[Tuple[torch.Tensor, bool]]:
    """The one-hot inputs a strand mode runs: [(x, False)] or [(x, False), (rc(x), True)]."""
    views = [(x, False)]
    if mode == "both":
        views.append((reverse_complement_one_hot(x), True))
    return views


class StrandWrapper(nn.Module):
    """Probabilities (B, F) of a logits network over one-hot (B, 4, L), on one or both strands."""

    def __init__(self, net: nn.Module, mode: str = "forward"):
        super().__init__()
        if mode not in ("forward", "both"):
            raise ValueError(f"StrandWrapper mode must be 'forward' or 'both', got {mode!r}")
        self.net, self.mode = net, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        views = strand_views(x, self.mode)
        probs = sum(torch.sigmoid(self.net(v).float()) for v, _ in views)
        return probs / len(views)
