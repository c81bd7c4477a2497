"""Reference windows that overlap on the genome share the first layers of the conv tower.

Variant scoring runs one reference window per variant, and in a dense VCF (a thousand-genomes
call set has a variant every few dozen bases) neighbouring variants' windows overlap almost
entirely. Conv and max-pool layers without padding commute with shifts by whole strides: when
two windows' starts differ by a multiple of the stride ``G`` of a layer's output (the product of
the pool strides before it), the second window's activations there are the first's shifted by
``offset / G`` columns. So for the windows whose starts agree modulo ``G`` (one *phase class*)
and that lie closer than a window length to each other (one *cluster*), the tower's layers up
to stride ``G`` run once over the stretch of genome the cluster covers, and each window takes
its slice. Deeper layers (larger strides: more phase classes, each sparser) and the rest of the
model run per window as before.

Which ``G`` (how many layers are shared) is chosen per batch by counting multiply-adds: sharing
the layers up to ``G`` costs, per cluster, its stretch's length in windows times those layers'
cost, instead of one window each. DeepSEA's conv1 + pool1 + conv2 (about 56% of a pass) are
shared at ``G = 4``, which pays once a VCF holds more than about four variants per window
length (with 15 SNVs per kb those layers cost about 3.7x less); sparse VCFs share nothing and
take the usual path.

Nothing is assumed of the windows beyond what is checked: the stretch is assembled from the
windows themselves, and a window that does not equal its slice of it (a REF allele from the
VCF that differs from the genome, a different chromosome key) is computed on its own. So the
result is each window's own forward pass, up to float rounding.

Written by hand: no library shares convolutions between overlapping inputs this way (fastISM
and the local recompute in :mod:`dnaseq.models.fast_ism` share within one window and its edits).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

from .tower import pool_params, whole_windows

# Share only when it saves at least this share of the batch's reference multiply-adds (below it,
# measured, the copies and the shorter batches eat what the saved multiply-adds would give).
MIN_SAVING = 0.25
# What copying one activation out of a shared stretch costs, in multiply-adds.
COPY_MACS = 100
# Stretches run in batches padded to the longest, at most this many times the shortest.
PAD_RATIO = 1.25


def _geometry(tower: Sequence[nn.Module], L: int):
    """Per layer: input length, input stride (bp per column), output stride, multiply-adds per window."""
    lengths, strides, out_strides, macs = [], [], [], []
    n, s = L, 1
    for layer in tower:
        lengths.append(n), strides.append(s)
        if isinstance(layer, nn.Conv1d):
            k = layer.kernel_size[0]
            n_out = n - k + 1
            macs.append(n_out * layer.out_channels * layer.in_channels * k)
            n = n_out
        elif isinstance(layer, nn.MaxPool1d):
            k, st = pool_params(layer)
            n = (n - k) // st + 1
            s *= st
            macs.append(0)
        else:
            macs.append(0)
        out_strides.append(s)
    return lengths + [n], strides, out_strides, macs


def _channels(tower: Sequence[nn.Module]) -> List[int]:
    """Output channels of each layer (4, the bases, before the first conv)."""
    out, c = [], 4
    for layer in tower:
        c = layer.out_channels if isinstance(layer, nn.Conv1d) else c
        out.append(c)
    return out


def layer_lengths(tower: Sequence[nn.Module], L: int) -> List[int]:
    """Output length of each layer of ``tower`` for a window of ``L`` columns."""
    return _geometry(tower, L)[0][1:]


def _clusters(keys: torch.Tensor, starts: torch.Tensor, G: int, L: int) -> List[torch.Tensor]:
    """Rows (index tensors, sorted by start) of each cluster of two or more windows with one key,
    one phase (start mod G) and consecutive starts less than a window length apart."""
    order = torch.argsort(starts, stable=True)
    k, s = keys[order], starts[order]
    phase = torch.remainder(s, G)
    order2 = torch.argsort(k * G + phase, stable=True)  # group by key and phase, by start within
    order, k, s, phase = order[order2], k[order2], s[order2], phase[order2]
    new = torch.ones(len(s), dtype=torch.bool)
    new[1:] = (k[1:] != k[:-1]) | (phase[1:] != phase[:-1]) | (s[1:] - s[:-1] >= L)
    bounds = torch.nonzero(new).flatten().tolist() + [len(s)]
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b - a > 1]


def _cost(clusters: List[torch.Tensor], starts: torch.Tensor, L: int) -> Tuple[float, int]:
    """(windows' worth of the stretches the clusters cover, windows in them)."""
    span = sum(float(starts[c[-1]] - starts[c[0]] + L) / L for c in clusters)
    return span, sum(len(c) for c in clusters)


def plan(tower: Sequence[nn.Module], L: int, keys: torch.Tensor, starts: torch.Tensor):
    """(layers to share, clusters) that save the most multiply-adds, or None when nothing saves
    ``MIN_SAVING`` of the batch's reference cost."""
    lengths, _, out_strides, macs = _geometry(tower, L)
    channels = _channels(tower)
    total = sum(macs) * len(starts)
    best, best_saving = None, MIN_SAVING * total
    for d in range(1, len(tower) + 1):
        if d < len(tower) and out_strides[d] == out_strides[d - 1]:
            continue  # share as deep as this stride allows
        G, prefix = out_strides[d - 1], sum(macs[:d])
        clusters = _clusters(keys, starts, G, L)
        span, n = _cost(clusters, starts, L)
        # copying a window's share of the output out of the stretch costs about COPY_MACS
        # multiply-adds an element (measured, CPU): it rules out layers that are cheap per element
        saving = prefix * (n - span) - COPY_MACS * n * channels[d - 1] * lengths[d]
        if saving > best_saving:
            best, best_saving = (d, clusters), saving
    return best


def _stretch(x: torch.Tensor, offsets: torch.Tensor, rows: torch.Tensor):
    """The stretch (4, S) that windows ``x[rows]`` (at ``offsets`` into it) cover, and which of
    them equal their slice of it."""
    L = x.shape[-1]
    S = int(offsets[-1]) + L
    stretch = torch.zeros(x.shape[1], S, dtype=x.dtype, device=x.device)
    for j, o in zip(rows.tolist(), offsets.tolist()):
        stretch[:, o:o + L] = x[j]
    slices = stretch.unfold(1, L, 1)[:, offsets].transpose(0, 1)  # (m, 4, L)
    same = (slices == x[rows]).flatten(1).all(1)
    return stretch, same


def _batches(items):
    """Stretches in batches of similar length (the longest at most ``PAD_RATIO`` times the
    shortest), so that short ones run batched, not one by one."""
    items = sorted(items, key=lambda item: item[0].shape[-1])
    batch = []
    for item in items:
        if batch and item[0].shape[-1] > PAD_RATIO * batch[0][0].shape[-1]:
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


class Strips:
    """Activations (B, C, n) of B windows held as slices of shared tensors, not copied out: window
    j is columns ``[col[j], col[j] + n)`` of row ``row[j]`` of ``parts[part[j]]`` (k, C, S).
    ``cols(a, b)`` gathers columns [a, b) of every window, all the local recompute reads."""

    def __init__(self, B: int, C: int, n: int):
        self.shape = (B, C, n)
        self.parts: List[torch.Tensor] = []
        self.part = torch.full((B,), -1, dtype=torch.long)
        self.row = torch.zeros(B, dtype=torch.long)
        self.col = torch.zeros(B, dtype=torch.long)

    def add(self, part: torch.Tensor, windows: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> None:
        """Windows ``windows`` are rows ``rows`` of ``part`` (k, C, S) from column ``cols`` on."""
        self.part[windows] = len(self.parts)
        self.row[windows], self.col[windows] = rows, cols
        self.parts.append(part)

    def cols(self, a: int, b: int) -> torch.Tensor:
        """Columns [a, b) of every window: (B, C, b - a)."""
        B, C, _ = self.shape
        first = self.parts[0]
        out = first.new_empty(B, C, b - a)
        for p, part in enumerate(self.parts):
            sel = torch.nonzero(self.part == p).flatten()
            view = part.unfold(2, b - a, 1)  # (k, C, S - (b - a) + 1, b - a)
            out[sel.to(out.device)] = view[self.row[sel].to(out.device), :, (self.col[sel] + a).to(out.device)]
        return out


def shared_prefix(tower: Sequence[nn.Module], x: torch.Tensor, keys: torch.Tensor, starts: torch.Tensor,
                  keep: Sequence[bool]):
    """The first layers of ``tower`` (a list of layers) for windows ``x`` (B, 4, L) whose column 0
    lies at ``starts`` on sequence ``keys`` (genome coordinates, one int each), computed once per
    cluster of overlapping windows (module docstring).

    Returns None when sharing does not pay, else ``(d, acts, h)``: the number of layers run,
    ``acts[i]`` the input of layer i < d where ``keep[i]`` (``x`` itself for layer 0, a
    :class:`Strips` of the shared tensors for the others; None elsewhere), and ``h`` the output
    (B, C, n) of layer d - 1 for every window, as each window's own pass computes them.
    """
    B, _, L = x.shape
    keys, starts = keys.cpu().long(), starts.cpu().long()
    if B < 2 or len(tower) == 0:
        return None
    got = plan(tower, L, keys, starts)
    if got is None:
        return None
    d, clusters = got
    lengths, in_strides, out_strides, _ = _geometry(tower, L)
    done = torch.zeros(B, dtype=torch.bool)
    acts: List[Optional[object]] = [None] * d
    if keep[0]:
        acts[0] = x  # the windows themselves
    items = []  # (stretch (4, S), windows in it, their offsets in bp)
    for rows in clusters:
        offsets = starts[rows] - starts[rows[0]]
        stretch, same = _stretch(x, offsets.to(x.device), rows.to(x.device))
        same = same.cpu()
        rows, offsets = rows[same], offsets[same]
        if len(rows) >= 2:
            items.append((stretch, rows, offsets))
            done[rows] = True
    if not items:
        return None
    for j in torch.nonzero(~done).flatten().tolist():  # windows in no cluster: their own stretch
        items.append((x[j], torch.tensor([j]), torch.zeros(1, dtype=torch.long)))
    outs, out_rows = [], []  # output of layer d - 1, gathered per batch of stretches
    for batch in _batches(items):
        S = max(item[0].shape[-1] for item in batch)
        h = x.new_zeros(len(batch), x.shape[1], S)  # stretches padded at the end: never read
        for k, (stretch, _, _) in enumerate(batch):
            h[k, :, :stretch.shape[-1]] = stretch
        rows = torch.cat([item[1] for item in batch])
        which = torch.cat([torch.full((len(item[1]),), k, dtype=torch.long) for k, item in enumerate(batch)])
        offsets = torch.cat([item[2] for item in batch])
        for i, layer in enumerate(tower[:d]):
            if keep[i] and i:
                if acts[i] is None:
                    acts[i] = Strips(B, h.shape[1], lengths[i])
                acts[i].add(h, rows, which, offsets // in_strides[i])
            h = whole_windows(layer, h)
        cols = (offsets // out_strides[d - 1]).to(x.device)
        # (k, S, C) -> windows (m, n, C): each a contiguous block when h is channels last
        outs.append(h.transpose(1, 2).unfold(1, lengths[d], 1).transpose(2, 3)[which.to(x.device), cols])
        out_rows.append(rows)
    # (B, n, C) memory handed on as a (B, C, n) view: the channels-last layout the next layers read
    h_all = outs[0].new_empty((B,) + tuple(outs[0].shape[1:]))
    for rows, h in zip(out_rows, outs):
        h_all[rows.to(x.device)] = h
    return d, acts, h_all.transpose(1, 2)
