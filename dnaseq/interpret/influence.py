"""Filter influence: how much each first-layer filter moves each feature's prediction.

Basset's (Kelley et al. 2016) and DeepSEA-era measure: replace one filter's output by its mean
(over every position of every window, :attr:`FilterPFMs.mean_activation`) and predict again;

    influence[filter, feature] = mean over windows of (p(window) - p(window | filter -> mean))

so a positive influence means the filter raises that feature's predicted probability, and a
filter whose output is constant has influence 0. Probabilities are the checkpoint's (its strand
mode: both strands averaged when it was validated that way).

The first layer is computed once per window; each filter's variant then runs only the rest of
the model, by putting the edited first-layer output in place of the first convolution for the
duration of the call (the model is restored afterwards); the windows themselves are passed
too, so a part of the model that reads the input beside the conv tower (the k-mer wide part of
``conv_recurrent``) sees the same windows in both predictions.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Optional

import numpy as np
import torch
from torch import nn

from ..inference import engine
from ..inference.predictor import settings
from ..models.strand import strand_mean
from ..sequence.onehot import one_hot
from ..settings import RunOptions
from .filters import _Accumulate, _units, check_first_conv


class _Injected(nn.Module):
    """Stands in for the first convolution: returns a prepared output, ignoring its input."""

    def __init__(self):
        super().__init__()
        self.output = None

    def forward(self, x):
        return self.output


@contextmanager
def _swapped(net: nn.Module, conv: nn.Module, injected: nn.Module):
    name = next(n for n, m in net.named_modules() if m is conv)
    parent_name, _, child = name.rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    setattr(parent, child, injected)
    try:
        yield
    finally:
        setattr(parent, child, conv)


def _influence_step(conv: nn.Conv1d, means: torch.Tensor, fill: float, strand: str, group: int):
    def step(net, unit):
        codes = unit["codes"]
        n, c = codes.shape[0], conv.out_channels
        m = means.to(codes.device)
        injected = _Injected()

        def one_strand(v, _):
            v = v.to(conv.weight.dtype)
            base = torch.sigmoid(net(v).float())  # (n, F)
            h = conv(v)  # (n, C, P)
            with _swapped(net, conv, injected):
                changed = []
                for lo in range(0, c, group):
                    fs = torch.arange(lo, min(lo + group, c), device=h.device)
                    hh = h.unsqueeze(0).repeat(len(fs), 1, 1, 1)  # (g, n, C, P)
                    hh[torch.arange(len(fs)), :, fs, :] = m[fs, None, None].to(hh.dtype)
                    injected.output = hh.reshape(len(fs) * n, c, -1)
                    # the real windows, not a placeholder: parts of a model beside the conv tower
                    # (a k-mer wide part) read the input too, and must see what base saw
                    again = v.repeat(len(fs), 1, 1)  # row f * n + j is window j, as in hh
                    changed.append(torch.sigmoid(net(again).float()).reshape(len(fs), n, -1))
            return base[None] - torch.cat(changed)  # (C, n, F)

        diff = strand_mean(one_hot(codes, fill=fill).float(), strand, one_strand)
        return {"sum": diff.double().sum(dim=1)}
    return step


def filter_influence(model: nn.Module, codes: np.ndarray, means: np.ndarray, strand: Optional[str] = None,
                     run: Optional[RunOptions] = None) -> Optional[np.ndarray]:
    """Influence (C filters, F features) of each first-layer filter on uint8 ``codes`` (N, L);
    ``means`` (C,) is each filter's mean output (see module docstring). None on ranks other
    than 0 of a multi-process run."""
    s = settings(model, strand)
    codes = np.asarray(codes, dtype=np.uint8)
    conv = check_first_conv(s.net, codes.shape[1])
    means_t = torch.as_tensor(np.asarray(means, dtype=np.float32))
    if means_t.shape != (conv.out_channels,):
        raise ValueError(f"means must have one value per filter ({conv.out_channels}), got {tuple(means_t.shape)}")
    run = RunOptions.for_command("motifs", run)
    # variants of a batch of windows run together: about batch_size windows per forward pass
    per_batch = max(1, min(32, run.batch_size))
    group = max(1, run.batch_size // per_batch)
    opts = RunOptions(**{**run.__dict__, "batch_size": per_batch})
    info = engine.run(s.net, _units(codes, per_batch), _influence_step(conv, means_t, s.fill, s.strand, group),
                      _Accumulate, opts, total=-(-len(codes) // per_batch))
    if not info.is_main:
        return None
    return info.sink.values["sum"] / len(codes)
