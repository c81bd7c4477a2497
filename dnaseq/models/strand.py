"""Strand handling as one wrapper module (Selene's ``NonStrandSpecific`` idea).

A model sees one strand of a window. ``forward`` uses the given strand only; ``both`` averages
the probabilities of the window and of its reverse complement. ``as-trained`` is what the
checkpoint says: ``both`` when the model was validated with reverse-complement averaging
(``model.strand: both`` in its config), else ``forward``. Every command takes ``--strand`` with
``as-trained`` as its default, so evaluation, scoring, ISM and prediction always agree.
"""
from __future__ import annotations

from typing import Callable, List, Tuple, Union

import torch
from torch import nn

from ..sequence.onehot import reverse_complement_one_hot


def strand_views(x: torch.Tensor, mode: str) -> List[Tuple[torch.Tensor, bool]]:
    """The one-hot inputs a strand mode runs: [(x, False)] or [(x, False), (rc(x), True)]."""
    views = [(x, False)]
    if mode == "both":
        views.append((reverse_complement_one_hot(x), True))
    return views


Outputs = Union[torch.Tensor, Tuple[torch.Tensor, ...]]


def strand_mean(x: torch.Tensor, mode: str, fn: Callable[[torch.Tensor, bool], Outputs]) -> Outputs:
    """The mean over the strands ``mode`` runs of ``fn(view, is_rc)``: ``fn(x, False)`` for
    ``forward``, the average with ``fn(rc(x), True)`` for ``both``. ``fn`` returns a tensor or a
    tuple of tensors (each averaged); it maps what it computes on the reverse strand back to the
    forward strand's coordinates itself where that matters (positions, bases). Every command that
    averages strands goes through here."""
    outs = [fn(view, is_rc) for view, is_rc in strand_views(x, mode)]
    if isinstance(outs[0], tuple):
        return tuple(sum(parts) / len(outs) for parts in zip(*outs))
    return sum(outs) / len(outs)


class StrandWrapper(nn.Module):
    """Probabilities (B, F) of a logits network over one-hot (B, 4, L), on one or both strands."""

    def __init__(self, net: nn.Module, mode: str = "forward"):
        super().__init__()
        if mode not in ("forward", "both"):
            raise ValueError(f"StrandWrapper mode must be 'forward' or 'both', got {mode!r}")
        self.net, self.mode = net, mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return strand_mean(x, self.mode, lambda view, _: torch.sigmoid(self.net(view).float()))
