"""First-layer filters -> position frequency matrices (DanQ / Basset style).

The *first layer* of a model is the first ``nn.Conv1d`` in ``model.modules()`` order that
takes the 4 one-hot channels (:func:`first_conv`); :func:`check_first_conv` makes sure it is
applied to the model's input itself (true for every dnaseq architecture). A filter's
*activation* is that layer's output (before any batch norm or nonlinearity).

:func:`filter_pfms` makes two passes over the windows, through the inference engine (so the
checkpoint's N fill and strand mode apply, on any device):

1. the maximum of every filter's activation over the windows (positions whose receptive field
   lies inside the window), and its mean over every output position (used by
   :mod:`dnaseq.interpret.influence`);
2. every position where a filter's activation exceeds ``threshold`` x its maximum (DanQ's rule
   with the default 0.5) contributes the bases under the filter to that filter's counts.

**Both strands**: a filter scans the strand it is given. When the model runs on both strands
(strand mode ``both``) it also scans each window's reverse complement, and a site found there
is counted as the reverse-complemented bases, in the filter's own orientation; so the counts
are the bases each filter actually responded to, whichever strand of the genome they lie on.
``N`` bases add nothing to the counts (each column is normalised by its own total).
A filter whose maximum is not above 0 has no sites.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..inference import engine
from ..inference.predictor import settings
from ..models.strand import strand_views
from ..sequence.motifs import Motif, normalise
from ..sequence.onehot import one_hot
from ..settings import RunOptions


def first_conv(net: nn.Module) -> nn.Conv1d:
    """The first ``nn.Conv1d`` over 4 input channels in ``net.modules()`` order."""
    for m in net.modules():
        if isinstance(m, nn.Conv1d) and m.in_channels == 4:
            return m
    raise ValueError(f"{type(net).__name__} has no Conv1d layer over the 4 one-hot channels")


def check_first_conv(net: nn.Module, length: int) -> nn.Conv1d:
    """:func:`first_conv`, after checking with one forward pass that it receives the model's input."""
    conv = first_conv(net)
    seen = []
    handle = conv.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    p = next(net.parameters())
    x = torch.rand(1, 4, length, device=p.device, dtype=p.dtype)
    try:
        with engine.preserved(net), torch.no_grad():
            net.eval()
            net(x)
    finally:
        handle.remove()
    if not seen or seen[0].shape != x.shape or not torch.equal(seen[0], x):
        raise ValueError(f"the first Conv1d of {type(net).__name__} is not applied to the model's input; "
                         f"filter motifs need a model whose first layer is a convolution over the one-hot bases")
    return conv


@dataclass
class Geometry:
    """Where each output position of a Conv1d looks in its input."""
    width: int  # kernel size
    stride: int
    dilation: int
    left_pad: int

    @classmethod
    def of(cls, conv: nn.Conv1d) -> "Geometry":
        k, s, d = conv.kernel_size[0], conv.stride[0], conv.dilation[0]
        pad = conv.padding
        if pad == "valid":
            left = 0
        elif pad == "same":
            left = d * (k - 1) // 2
        else:
            left = pad[0] if isinstance(pad, tuple) else int(pad)
        return cls(k, s, d, left)

    def valid_positions(self, n_out: int, length: int) -> torch.Tensor:
        """Boolean (n_out,): output positions whose whole receptive field is inside the input."""
        start = torch.arange(n_out) * self.stride - self.left_pad
        return (start >= 0) & (start + (self.width - 1) * self.dilation < length)

    def windows(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The input under each valid output position: (B, 4, L) -> (B, P_valid, 4 * width)."""
        start = (torch.nonzero(valid).flatten() * self.stride - self.left_pad).to(x.device)
        idx = start[:, None] + torch.arange(self.width, device=x.device)[None, :] * self.dilation
        win = x[:, :, idx]  # (B, 4, P, width)
        return win.permute(0, 2, 1, 3).reshape(x.shape[0], idx.shape[0], 4 * self.width)


@dataclass
class FilterPFMs:
    """What :func:`filter_pfms` counted, per filter (C filters of width W)."""
    counts: np.ndarray  # (C, 4, W) base counts at the sites
    sites: np.ndarray  # (C,) sites used
    max_activation: np.ndarray  # (C,)
    mean_activation: np.ndarray  # (C,) over every output position
    threshold: np.ndarray  # (C,) absolute activation threshold used
    windows: int
    strand: str

    @property
    def n_filters(self) -> int:
        return int(self.counts.shape[0])

    def pfm(self, i: int, pseudocount: float = 0.0) -> Optional[np.ndarray]:
        """Filter ``i``'s probability matrix (4, W), or None when it has no sites."""
        return normalise(self.counts[i], pseudocount) if self.sites[i] > 0 else None

    def motifs(self, prefix: str = "filter") -> List[Motif]:
        """Motifs of the filters with sites, named ``filter<i>`` (MEME writing)."""
        return [Motif(f"{prefix}{i}", f"{prefix}{i}", self.pfm(i), int(self.sites[i]))
                for i in range(self.n_filters) if self.sites[i] > 0]


def _views(codes: torch.Tensor, fill: float, strand: str) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """(model input, same bases with N as zeros) for each strand the model runs."""
    x = one_hot(codes, fill=fill).float()
    x0 = one_hot(codes, fill=0.0).float()
    return [(v, v0) for (v, _), (v0, _) in zip(strand_views(x, strand), strand_views(x0, strand))]


def _stats_step(conv: nn.Conv1d, geometry: Geometry, fill: float, strand: str):
    def step(net, unit):
        codes = unit["codes"]
        c = conv.out_channels
        mx = torch.full((c,), -torch.inf, device=codes.device)
        total, count = torch.zeros(c, dtype=torch.float64, device=codes.device), 0
        for v, _ in _views(codes, fill, strand):
            act = conv(v.to(conv.weight.dtype)).float()  # (B, C, P)
            valid = geometry.valid_positions(act.shape[-1], v.shape[-1]).to(act.device)
            if valid.any():
                mx = torch.maximum(mx, act[:, :, valid].amax(dim=(0, 2)))
            total += act.double().sum(dim=(0, 2))
            count += act.shape[0] * act.shape[2]
        return {"max": mx, "sum": total, "count": torch.tensor([count], dtype=torch.float64)}
    return step


def _count_step(conv: nn.Conv1d, geometry: Geometry, fill: float, strand: str, thresholds: torch.Tensor):
    def step(net, unit):
        codes = unit["codes"]
        thr = thresholds.to(codes.device)
        counts = torch.zeros(conv.out_channels, 4 * geometry.width, dtype=torch.float64, device=codes.device)
        sites = torch.zeros(conv.out_channels, dtype=torch.float64, device=codes.device)
        for v, v0 in _views(codes, fill, strand):
            act = conv(v.to(conv.weight.dtype)).float()
            valid = geometry.valid_positions(act.shape[-1], v.shape[-1]).to(act.device)
            hit = (act[:, :, valid] > thr[None, :, None]).float()  # (B, C, P)
            win = geometry.windows(v0, valid.cpu()).float()  # (B, P, 4W)
            # float32 sums of 0/1 terms are exact below 2**24 per batch; totals in float64
            counts += torch.einsum("bcp,bpk->ck", hit, win).double()
            sites += hit.sum(dim=(0, 2)).double()
        return {"counts": counts.reshape(-1, 4, geometry.width), "sites": sites}
    return step


class _Accumulate:
    """Sink that sums (or maxes) each output over the units."""

    def __init__(self, reduce_max=("max",)):
        self.values, self.reduce_max = {}, set(reduce_max)

    def write(self, meta, out) -> None:
        for k, v in out.items():
            v = np.asarray(v, dtype=np.float64)
            if k not in self.values:
                self.values[k] = v.copy()
            elif k in self.reduce_max:
                self.values[k] = np.maximum(self.values[k], v)
            else:
                self.values[k] += v


def _units(codes: np.ndarray, batch_size: int):
    def produce():
        for lo in range(0, len(codes), batch_size):
            yield {"codes": torch.from_numpy(np.ascontiguousarray(codes[lo:lo + batch_size])), "meta": lo}
    return produce


def filter_pfms(model: nn.Module, codes: np.ndarray, threshold: float = 0.5, strand: Optional[str] = None,
                run: Optional[RunOptions] = None) -> Optional[FilterPFMs]:
    """Count the first-layer filters' sites in uint8 ``codes`` (N, L) (see module docstring).

    Args:
        model: a loaded dnaseq model (its fill and strand mode apply) or a logits network.
        threshold: a site is a position where the activation exceeds ``threshold`` x the
            filter's maximum over ``codes`` (0.5 is DanQ's rule).
        strand: ``as-trained`` (default), ``forward`` or ``both``.
    Returns None on ranks other than 0 of a multi-process run.
    """
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold is a fraction of each filter's maximum, in [0, 1); got {threshold}")
    s = settings(model, strand)
    codes = np.asarray(codes, dtype=np.uint8)
    if codes.ndim != 2 or not len(codes):
        raise ValueError("filter_pfms needs uint8 codes of shape (N, L) with N >= 1")
    conv = check_first_conv(s.net, codes.shape[1])
    geometry = Geometry.of(conv)
    run = RunOptions.for_command("motifs", run)
    total = -(-len(codes) // run.batch_size)
    produce = _units(codes, run.batch_size)
    info = engine.run(s.net, produce, _stats_step(conv, geometry, s.fill, s.strand), _Accumulate, run, total)
    if not info.is_main:  # the second pass needs rank 0's maxima: callers run one process
        return None
    stats = info.sink.values
    mx = stats["max"]
    thr = torch.from_numpy(np.where(mx > 0, threshold * mx, np.inf)).float()
    info = engine.run(s.net, produce, _count_step(conv, geometry, s.fill, s.strand, thr), _Accumulate, run, total)
    if not info.is_main:
        return None
    got = info.sink.values
    return FilterPFMs(got["counts"], got["sites"].astype(np.int64), mx, stats["sum"] / stats["count"][0],
                      thr.numpy().astype(np.float64), len(codes), s.strand)
